from lrrsa.logs import configure_logging

configure_logging(snakemake.log[0])

from pathlib import Path

from lrrsa.data.demo_macaque import write_macaque_dataset

write_macaque_dataset(Path(snakemake.output.assembly).parent, image_size=snakemake.params.image_size,
                      seed=snakemake.params.seed)
