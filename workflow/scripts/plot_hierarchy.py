from lrrsa.logs import configure_logging

configure_logging(snakemake.log[0])

from lrrsa.figures.results import SCORE_COLUMNS, plot_hierarchy, read_table
from lrrsa.figures.style import save_figure

p = snakemake.params
figure = plot_hierarchy(read_table(snakemake.input.scores, SCORE_COLUMNS), p.layer_map, p.conditions, method=p.method)
save_figure(figure, snakemake.output)
