from lrrsa.logs import configure_logging

configure_logging(snakemake.log[0])

from lrrsa.figures.results import (
    CEILING_COLUMNS, PIXEL_COLUMNS, SCORE_COLUMNS, SUMMARY_COLUMNS, plot_rsa_by_roi, read_table,
)
from lrrsa.figures.style import save_figure

p = snakemake.params
figure = plot_rsa_by_roi(
    read_table(snakemake.input.scores, SCORE_COLUMNS), p.layer_map, p.conditions,
    summary=read_table(snakemake.input.summary, SUMMARY_COLUMNS),
    ceiling=read_table(snakemake.input.noise_ceiling, CEILING_COLUMNS),
    pixel=read_table(snakemake.input.pixel_baseline, PIXEL_COLUMNS), method=p.method, interval=p.interval,
    corrected=p.fdr["family"] != "none",
)
save_figure(figure, snakemake.output)
