from lrrsa.logs import configure_logging

configure_logging(snakemake.log[0])

from lrrsa.figures.statistics import plot_partial
from lrrsa.figures.style import save_figure
from lrrsa.tsv import read_table

table = read_table(snakemake.input[0])
params = snakemake.params
figure = plot_partial(table, params.conditions, method=params.method, fdr=params.fdr, source=snakemake.input[0])
save_figure(figure, snakemake.output)
