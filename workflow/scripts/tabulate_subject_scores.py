from lrrsa.logs import configure_logging

configure_logging(snakemake.log[0])

from lrrsa.stats.study_tables import write_subjects

p = snakemake.params
write_subjects(
    snakemake.input.tests, snakemake.input.noise_ceiling, snakemake.output[0],
    rois=p.rois, conditions=p.conditions, fdr_config=p.fdr,
)
