from lrrsa.logs import configure_logging

configure_logging(snakemake.log[0])

from pathlib import Path

from lrrsa.rdms import write_pixel_rdm

p = snakemake.params
write_pixel_rdm(
    Path(snakemake.input.stimuli), Path(p.images_dir), Path(snakemake.output[0]),
    image_size=p.image_size, metric=p.metric,
)
