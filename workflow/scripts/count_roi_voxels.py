from lrrsa.logs import configure_logging

configure_logging(snakemake.log[0])

from pathlib import Path

from lrrsa.data.things_fmri import write_roi_voxel_counts

p = snakemake.params
write_roi_voxel_counts(
    Path(p.betas_dir), p.subjects, p.rois, Path(snakemake.output[0]), min_nc_testset=p.min_nc_testset,
)
