from lrrsa.logs import configure_logging

configure_logging(snakemake.log[0])

from pathlib import Path

from lrrsa.stats.split_half import write_split_half_rdms

p = snakemake.params
write_split_half_rdms(
    Path(p.betas_dir), p.subjects, p.roi_columns, Path(snakemake.output[0]),
    zscore=p.zscore, min_nc_testset=p.min_nc_testset, metric=p.metric,
)
