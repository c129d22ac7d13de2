from lrrsa.logs import configure_logging

configure_logging(snakemake.log[0])

from lrrsa.provenance import write_software

write_software(snakemake.input, snakemake.output[0], snakemake_version=snakemake.params.snakemake_version,
               workflow_dir=snakemake.params.workflow_dir)
