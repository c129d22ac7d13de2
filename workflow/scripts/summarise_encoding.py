from lrrsa.logs import configure_logging

configure_logging(snakemake.log[0])

from lrrsa.encoding.tables import write_study_tables

p = snakemake.params
write_study_tables(
    snakemake.input[0], snakemake.output.summary, snakemake.output.pairwise, rois=p.rois, conditions=p.conditions,
    reference=p.reference, fdr=p.fdr,
)
