from lrrsa.logs import configure_logging

configure_logging(snakemake.log[0])

from lrrsa.data.brainio_rdms import write_brainio_neuroid_counts

p = snakemake.params
write_brainio_neuroid_counts(
    snakemake.input.assembly, list(p.subject_animals.values()), p.rois, snakemake.output[0],
    subjects=list(p.subject_animals), **p.responses,
)
