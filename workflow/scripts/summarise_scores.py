from lrrsa.logs import configure_logging

configure_logging(snakemake.log[0])

from lrrsa.stats.study_tables import write_summary

p = snakemake.params
write_summary(
    snakemake.input.scores, snakemake.input.tests, snakemake.output[0],
    layer_map=p.layer_map, conditions=p.conditions, reference=p.reference, fdr_config=p.fdr,
)
