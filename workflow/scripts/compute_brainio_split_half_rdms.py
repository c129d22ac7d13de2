from lrrsa.logs import configure_logging

configure_logging(snakemake.log[0])

from lrrsa.data.brainio_rdms import write_brainio_split_half_rdms

p = snakemake.params
write_brainio_split_half_rdms(
    snakemake.input.assembly, snakemake.input.stimulus_csv, list(p.subject_animals.values()), p.regions,
    snakemake.input.stimuli, snakemake.output[0], subjects=list(p.subject_animals), roi=snakemake.wildcards.roi,
    metric=p.metric, **p.responses,
)
