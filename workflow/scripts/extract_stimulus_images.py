from lrrsa.logs import configure_logging

configure_logging(snakemake.log[0])

from pathlib import Path

from lrrsa.data.archives import extract_stimulus_images

extract_stimulus_images(
    Path(snakemake.input.archive), Path(snakemake.input.stimuli), Path(snakemake.output[0]),
    password=snakemake.params.password,
)
