from lrrsa.logs import configure_logging

configure_logging(snakemake.log[0])

import pandas as pd

from lrrsa.figures.results import plot_rsa_by_roi

scores = pd.read_csv(snakemake.input[0], sep="\t")
figure = plot_rsa_by_roi(scores, snakemake.params.layer_map, snakemake.params.conditions)
figure.savefig(snakemake.output[0], dpi=200)
