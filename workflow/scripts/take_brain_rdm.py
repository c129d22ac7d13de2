from lrrsa.logs import configure_logging

configure_logging(snakemake.log[0])

from pathlib import Path

from lrrsa.data.rdm_set import write_rdm_from_set

write_rdm_from_set(
    Path(snakemake.input.rdm_set), snakemake.params.array, snakemake.wildcards.subject,
    Path(snakemake.input.stimuli), Path(snakemake.output[0]),
)
