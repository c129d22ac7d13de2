from lrrsa.logs import configure_logging

configure_logging(snakemake.log[0])

import numpy as np
import pandas as pd

from lrrsa.figures.models import plot_filters
from lrrsa.figures.style import save_figure

p = snakemake.params
scores = pd.read_csv(snakemake.input.table, sep="\t")
with np.load(snakemake.input.weights) as data:
    missing = [c for c in p.conditions if f"conv1_{c}" not in data.files]
    if missing:
        raise ValueError(f"{snakemake.input.weights}: expected arrays conv1_<condition>; none for {missing}")
    weights = {c: data[f"conv1_{c}"] for c in p.conditions}
    seed = int(data["seed"])
figure = plot_filters(weights, scores, p.conditions, seed, p.gabor_r2)
save_figure(figure, snakemake.output)
