from lrrsa.logs import configure_logging

configure_logging(snakemake.log[0])

from pathlib import Path

from lrrsa.data.training_images import prepare_training_set

p = snakemake.params
prepare_training_set(
    Path(snakemake.input[0]), Path(snakemake.output[0]),
    source=p.source, md5=p.md5, n_train=p.n_train, n_test=p.n_test, seed=p.seed,
)
