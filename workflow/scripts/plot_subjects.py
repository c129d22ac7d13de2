from lrrsa.logs import configure_logging

configure_logging(snakemake.log[0])

import pandas as pd

from lrrsa.figures.statistics import plot_subjects
from lrrsa.figures.style import save_figure

table = pd.read_csv(snakemake.input[0], sep="\t", keep_default_na=False, na_values=[""])
params = snakemake.params
figure = plot_subjects(table, params.conditions, method=params.method, fdr=params.fdr, source=snakemake.input[0])
save_figure(figure, snakemake.output)
