from lrrsa.logs import configure_logging

configure_logging(snakemake.log[0])

from pathlib import Path

from lrrsa.pretrained import extract_pretrained_seed_files

p = snakemake.params
extract_pretrained_seed_files(
    p.reference, Path(snakemake.input.weights), Path(snakemake.input.stimuli), Path(p.images_dir),
    [Path(path) for path in snakemake.output], condition=snakemake.wildcards.condition,
    image_size=p.image_size, activations=p.activations, device=p.device, threads=snakemake.threads,
)
