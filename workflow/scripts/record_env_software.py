from lrrsa.logs import configure_logging

configure_logging(snakemake.log[0])

from lrrsa.provenance import write_env_software

write_env_software(snakemake.params.env, snakemake.params.packages, snakemake.output[0])
