from lrrsa.logs import configure_logging

configure_logging(snakemake.log[0])

from lrrsa.stats.study_tables import write_pixel_baseline

p = snakemake.params
write_pixel_baseline(snakemake.input.tests, snakemake.output[0], rois=p.rois, conditions=p.conditions,
                     fdr_config=p.fdr)
