from lrrsa.logs import configure_logging

configure_logging(snakemake.log[0])

from pathlib import Path

from lrrsa.rdms import write_subject_rdms

p = snakemake.params
write_subject_rdms(
    Path(p.betas_dir), snakemake.wildcards.subject, p.rois, Path(snakemake.input.stimuli),
    [Path(out) for out in snakemake.output], zscore=p.zscore, min_nc_testset=p.min_nc_testset, metric=p.metric,
)
