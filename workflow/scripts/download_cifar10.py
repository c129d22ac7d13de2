from lrrsa.logs import configure_logging

configure_logging(snakemake.log[0])

from pathlib import Path

from lrrsa.data.download import download

download(snakemake.params.url, Path(snakemake.output[0]), md5=snakemake.params.md5)
