from lrrsa.logs import configure_logging

configure_logging(snakemake.log[0])

from pathlib import Path

from lrrsa.rdms import write_model_rdms

write_model_rdms(
    Path(snakemake.input[0]), snakemake.params.layers, [Path(p) for p in snakemake.output],
    metric=snakemake.params.metric,
)
