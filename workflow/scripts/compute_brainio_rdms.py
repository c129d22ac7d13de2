from lrrsa.logs import configure_logging

configure_logging(snakemake.log[0])

from lrrsa.data.brainio_rdms import write_brainio_rdms

p = snakemake.params
write_brainio_rdms(
    snakemake.input.assembly, snakemake.input.stimulus_csv, p.animal, p.rois, snakemake.input.stimuli,
    list(snakemake.output), metric=p.metric, **p.responses,
)
