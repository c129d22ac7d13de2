from lrrsa.logs import configure_logging

configure_logging(snakemake.log[0])

from pathlib import Path

from lrrsa.rdms import write_group_rdm

# Inputs are ROI-major: each ROI's subject RDMs, in the order of the outputs.
n_subjects = len(snakemake.params.subjects)
for i, out in enumerate(snakemake.output):
    subject_rdms = [Path(p) for p in snakemake.input.rdms[i * n_subjects:(i + 1) * n_subjects]]
    write_group_rdm(subject_rdms, Path(snakemake.input.stimuli), Path(out))
