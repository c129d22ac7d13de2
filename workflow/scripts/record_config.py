from lrrsa.logs import configure_logging

configure_logging(snakemake.log[0])

from lrrsa.provenance import write_config

write_config(snakemake.params.config, snakemake.output[0])
