from lrrsa.logs import configure_logging

configure_logging(snakemake.log[0])

from lrrsa.figures.results import LAYER_COLUMNS, plot_layer_heatmap, read_table
from lrrsa.figures.style import save_figure

p = snakemake.params
figure = plot_layer_heatmap(read_table(snakemake.input.layers, LAYER_COLUMNS), p.conditions, method=p.method)
save_figure(figure, snakemake.output)
