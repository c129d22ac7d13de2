from lrrsa.logs import configure_logging

configure_logging(snakemake.log[0])

from pathlib import Path

from lrrsa.data.demo import write_things_dataset

demo = snakemake.params.demo
write_things_dataset(
    Path(snakemake.output[0]),
    n_concepts=demo["n_concepts"],
    n_categories=demo["n_categories"],
    n_exemplars=demo["n_exemplars"],
    n_test_images=demo["n_test_images"],
    n_test_repeats=demo["n_test_repeats"],
    subjects=snakemake.params.subjects,
    noise_sd=demo["noise_sd"],
    image_size=demo["image_size"],
    seed=demo["seed"],
)
