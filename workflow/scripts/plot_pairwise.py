from lrrsa.logs import configure_logging

configure_logging(snakemake.log[0])

from lrrsa.figures.statistics import plot_pairwise
from lrrsa.figures.style import save_figure
from lrrsa.tsv import read_table

table = read_table(snakemake.input[0])
params = snakemake.params
figure = plot_pairwise(table, params.conditions, method=params.method, fdr=params.fdr, interval=params.interval,
                       source=snakemake.input[0])
save_figure(figure, snakemake.output)
