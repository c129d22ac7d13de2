from lrrsa.logs import configure_logging

configure_logging(snakemake.log[0])

from pathlib import Path

from lrrsa.data.archives import extract_things_betas

extract_things_betas(
    Path(snakemake.input.archive), Path(snakemake.output[0]).parent, snakemake.wildcards.subject,
    kinds=snakemake.params.kinds,
)
