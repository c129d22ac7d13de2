from lrrsa.logs import configure_logging

configure_logging(snakemake.log[0])

from pathlib import Path

from lrrsa.data.brainio_catalog import fetch_brainio_dataset

# Transport settings are read from the config, not params: they are no rerun triggers.
settings = snakemake.config["brain_data"]["download"]
local = snakemake.input.local[0] if snakemake.input.local else None
fetch_brainio_dataset(
    snakemake.params.dataset, Path(snakemake.output.assembly).parent, local=local, local_mode="symlink",
    roles=snakemake.params.roles, retries=settings["retries"], timeout=settings["timeout"],
)
