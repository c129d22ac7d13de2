from lrrsa.logs import configure_logging

configure_logging(snakemake.log[0])

from pathlib import Path

from lrrsa.rdms import write_group_rdm

write_group_rdm([Path(p) for p in snakemake.input.rdms], Path(snakemake.input.stimuli), Path(snakemake.output[0]))
