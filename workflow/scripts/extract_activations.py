from lrrsa.logs import configure_logging

configure_logging(snakemake.log[0])

from pathlib import Path

from lrrsa.activations import extract_file

p = snakemake.params
extract_file(
    Path(snakemake.input.model), Path(snakemake.input.stimuli), Path(p.images_dir), Path(snakemake.output[0]),
    layers=p.activations["layers"], image_size=p.image_size, reduce=p.activations["reduce"],
    pool_size=p.activations["pool_size"], batch_size=p.activations["batch_size"],
    device=p.device, threads=snakemake.threads,
)
