from lrrsa.logs import configure_logging

configure_logging(snakemake.log[0])

from pathlib import Path

from lrrsa.training import train_to_files

p = snakemake.params
train_to_files(
    Path(snakemake.input[0]), Path(snakemake.output.model), Path(snakemake.output.history),
    condition=snakemake.wildcards.condition, seed=int(snakemake.wildcards.seed),
    hyper=p.hyper, model_config=p.model, training_config=p.training,
    device=p.device, threads=snakemake.threads,
)
