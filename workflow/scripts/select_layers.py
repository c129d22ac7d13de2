from lrrsa.logs import configure_logging

configure_logging(snakemake.log[0])

from lrrsa.stats.layer_selection import write_layers

p = snakemake.params
write_layers(
    snakemake.input.scores, [tuple(m) for m in p.models], snakemake.input.models, p.rois, snakemake.input.groups,
    snakemake.output[0], layer_map=p.layer_map, conditions=p.conditions, method=p.method, seed=p.seed,
)
