from lrrsa.logs import configure_logging

configure_logging(snakemake.log[0])

from pathlib import Path

from lrrsa.data.demo import write_training_zip

demo = snakemake.params.demo
write_training_zip(
    Path(snakemake.output[0]),
    n_train_per_class=demo["train_per_class"],
    n_test_per_class=demo["test_per_class"],
    seed=demo["seed"],
)
