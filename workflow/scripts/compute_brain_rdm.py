from lrrsa.logs import configure_logging

configure_logging(snakemake.log[0])

from pathlib import Path

from lrrsa.rdms import write_roi_rdm

p = snakemake.params
write_roi_rdm(
    Path(p.betas_dir), snakemake.wildcards.subject, p.roi_columns, Path(snakemake.input.stimuli),
    Path(snakemake.output[0]), zscore=p.zscore, min_nc_testset=p.min_nc_testset, metric=p.metric,
)
