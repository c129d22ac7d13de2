from lrrsa.logs import configure_logging

configure_logging(snakemake.log[0])

from pathlib import Path

from lrrsa.data.archives import download_archive
from lrrsa.data.shared_downloads import things_download_settings

p = snakemake.params
# The URL and the transport settings are read from the config, not passed as params:
# params are rerun triggers, and pointing at a mirror after the download must not make
# Snakemake delete and fetch ~43 GB again. What the file must be (size, md5) is in params.
settings = things_download_settings(snakemake.config, p.dataset)
download_archive(
    settings[f"{p.dataset}_url"], Path(snakemake.output[0]), md5=p.md5, size=p.size, what=p.what,
    retries=settings["retries"], timeout=settings["timeout"],
)
