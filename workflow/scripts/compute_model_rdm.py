from lrrsa.logs import configure_logging

configure_logging(snakemake.log[0])

from pathlib import Path

from lrrsa.rdms import write_model_rdm

write_model_rdm(
    Path(snakemake.input[0]), snakemake.wildcards.layer, Path(snakemake.output[0]),
    metric=snakemake.params.metric,
)
