from lrrsa.logs import configure_logging

configure_logging(snakemake.log[0])

import numpy as np

from lrrsa.figures.models import plot_training_dynamics, read_histories
from lrrsa.figures.style import save_figure

p = snakemake.params
keys = [(condition, seed) for condition in p.conditions for seed in p.seeds]
histories = read_histories((c, s, path) for (c, s), path in zip(keys, snakemake.input.histories, strict=True))
with np.load(snakemake.input.training_set) as data:
    n_classes = len(data["classes"])
figure = plot_training_dynamics(histories, p.conditions, n_classes)
save_figure(figure, snakemake.output)
