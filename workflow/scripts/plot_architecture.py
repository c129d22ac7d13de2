from lrrsa.logs import configure_logging

configure_logging(snakemake.log[0])

import pandas as pd

from lrrsa.figures.models import plot_architecture
from lrrsa.figures.style import save_figure

table = pd.read_csv(snakemake.input[0], sep="\t", keep_default_na=False)
figure = plot_architecture(table, snakemake.params.layer_map)
save_figure(figure, snakemake.output)
