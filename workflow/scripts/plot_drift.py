from lrrsa.logs import configure_logging

configure_logging(snakemake.log[0])

from lrrsa.figures.models import plot_drift, read_histories
from lrrsa.figures.style import save_figure

p = snakemake.params
keys = [(condition, seed) for condition in p.conditions for seed in p.seeds]
histories = read_histories((c, s, path) for (c, s), path in zip(keys, snakemake.input.histories, strict=True))
save_figure(plot_drift(histories, p.conditions), snakemake.output)
