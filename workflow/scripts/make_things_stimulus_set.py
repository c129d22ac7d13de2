from lrrsa.logs import configure_logging

configure_logging(snakemake.log[0])

from lrrsa.data.brainio_things import write_things_stimulus_set

write_things_stimulus_set(snakemake.input.assembly, snakemake.output[0])
