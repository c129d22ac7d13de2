from lrrsa.logs import configure_logging

configure_logging(snakemake.log[0])

from lrrsa.stats.noise_ceiling_table import write_noise_ceiling

p = snakemake.params
write_noise_ceiling(
    p.rois, p.subjects, snakemake.input.subjects, snakemake.input.get("split_half", []), snakemake.output[0],
    method=p.method,
)
