from lrrsa.logs import configure_logging

configure_logging(snakemake.log[0])

from pathlib import Path

from lrrsa.data.rdm_set import write_rdms_from_set

write_rdms_from_set(
    Path(snakemake.input.rdm_set), snakemake.params.arrays, snakemake.wildcards.subject,
    Path(snakemake.input.stimuli), [Path(out) for out in snakemake.output],
)
