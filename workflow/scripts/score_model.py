from lrrsa.logs import configure_logging

configure_logging(snakemake.log[0])

from pathlib import Path

from lrrsa.scoring import score_model

p = snakemake.params
scores = score_model(
    snakemake.wildcards.condition, int(snakemake.wildcards.seed),
    model_rdms=dict(zip(p.layers, map(Path, snakemake.input.model))),
    brain_rdms=dict(zip(map(tuple, p.brain_keys), map(Path, snakemake.input.brain))),
    method=p.method,
)
scores.to_csv(snakemake.output[0], sep="\t", index=False)
