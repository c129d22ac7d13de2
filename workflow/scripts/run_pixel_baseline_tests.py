from lrrsa.logs import configure_logging

configure_logging(snakemake.log[0])

from lrrsa.stats.pixel_baseline import write_pixel_tests

p = snakemake.params
write_pixel_tests(
    p.rois, p.layer_map, p.subjects, snakemake.input.groups, snakemake.input.subjects, snakemake.input.pixel,
    [tuple(m) for m in p.models], snakemake.input.models, snakemake.output[0], conditions=p.conditions,
    method=p.method, stats=p.stats, device=p.device, threads=snakemake.threads,
)
