from lrrsa.logs import configure_logging

configure_logging(snakemake.log[0])

from lrrsa.stats.roi_tests import write_roi_tests

p = snakemake.params
write_roi_tests(
    snakemake.wildcards.roi, p.layer, [tuple(m) for m in p.models], snakemake.input.models, snakemake.input.group,
    p.subjects, snakemake.input.subjects, snakemake.input.pixel, snakemake.output[0],
    conditions=p.conditions, method=p.method, stats=p.stats, device=p.device, threads=snakemake.threads,
)
