from lrrsa.logs import configure_logging

configure_logging(snakemake.log[0])

from lrrsa.figures.encoding import RSA_SUMMARY_COLUMNS, SUMMARY_COLUMNS, plot_rsa_vs_encoding
from lrrsa.figures.results import read_table
from lrrsa.figures.style import save_figure

p = snakemake.params
figure = plot_rsa_vs_encoding(
    read_table(snakemake.input.rsa, RSA_SUMMARY_COLUMNS), read_table(snakemake.input.encoding, SUMMARY_COLUMNS),
    p.layer_map, p.conditions, method=p.method, rsa_interval=p.rsa_interval, encoding_interval=p.encoding_interval,
)
save_figure(figure, snakemake.output)
