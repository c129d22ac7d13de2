from lrrsa.logs import configure_logging

configure_logging(snakemake.log[0])

from lrrsa.figures.encoding import SCORE_COLUMNS, SUMMARY_COLUMNS, plot_encoding_by_roi
from lrrsa.figures.results import read_table
from lrrsa.figures.style import save_figure

p = snakemake.params
figure = plot_encoding_by_roi(
    read_table(snakemake.input.scores, SCORE_COLUMNS), read_table(snakemake.input.summary, SUMMARY_COLUMNS),
    p.layer_map, p.conditions, interval=p.interval, corrected=p.fdr["family"] != "none",
)
save_figure(figure, snakemake.output)
