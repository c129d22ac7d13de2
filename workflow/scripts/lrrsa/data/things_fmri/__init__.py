"""THINGS-fMRI single-trial responses (Hebart et al. 2023), read with bounded memory.

Files per subject in the ``betas_csv/`` folder of figshare+ article 20492835 (v2):

``sub-XX_ResponseData.h5``
    A pandas "fixed" HDF5 table under the key ``ResponseData``: one row per voxel,
    columns ``voxel_id`` then one float column per trial, in StimulusMetadata row
    order. Through h5py: ``ResponseData/block0_values`` (voxels x trials, float32),
    ``block0_items`` (trial labels), ``block1_values[:, 0]`` (voxel ids). The real
    files hold 211,339 voxels x 9,840 trials (8-16 GB), so only the ROI rows are
    read, sorted, a chunk at a time (:func:`read_rows`). The layout is found from the
    ``blockN_items`` names, not assumed from the block numbers.
``sub-XX_VoxelMetadata.csv``
    ``voxel_id``, ``voxel_x/y/z``, ``nc_testset``, ... and 0/1 ROI columns (``V1``,
    ``V2``, ``hV4``, ``lLOC``, ``rLOC``, ``IT``, ...). Its rows are in the same order
    as the ResponseData rows (checked through the voxel ids).
``sub-XX_StimulusMetadata.csv``
    ``trial_type, session, run, subject_id, trial_id, stimulus, concept``; one row per
    trial (9,840: 8,640 train trials, one per image, and 1,200 test trials, 100 images
    x 12 sessions).

The paper's preprocessing (the default of :func:`stimulus_patterns`): z-score every
voxel over all trials of the subject, then average the trials of each stimulus.

ROIs are unions of *items*: a 0/1 VoxelMetadata column (``V1``; ``LOC`` = ``lLOC |
rLOC``) or a binary NIfTI mask in the subject's functional space (a path ending in
``.nii`` or ``.nii.gz``; ``{subject}`` in it becomes the subject label), matched to
the voxels through their ``voxel_x/y/z`` indices (:func:`nifti_roi_mask`).

Modules, one concept each: :mod:`~lrrsa.data.things_fmri.files` (a subject's files and
label), :mod:`~lrrsa.data.things_fmri.metadata` (the StimulusMetadata and VoxelMetadata
readers), :mod:`~lrrsa.data.things_fmri.rois` (ROI items, column expansion, NIfTI masks,
voxel selection), :mod:`~lrrsa.data.things_fmri.counts` (voxels per ROI and subject),
:mod:`~lrrsa.data.things_fmri.responses` (the ResponseData.h5 layout and bounded-memory
row reading), :mod:`~lrrsa.data.things_fmri.zscore` (z-scoring voxels over trials) and
:mod:`~lrrsa.data.things_fmri.patterns` (trial-averaged and split-half ROI patterns).
Everything public is importable from this package.
"""

from lrrsa.data.things_fmri.counts import roi_voxel_counts, write_roi_voxel_counts
from lrrsa.data.things_fmri.files import SubjectFiles, subject_files, subject_label
from lrrsa.data.things_fmri.metadata import STIMULUS_COLUMNS, read_stimulus_metadata, read_voxel_metadata
from lrrsa.data.things_fmri.patterns import RoiPatterns, SplitHalfPatterns, split_half_patterns, stimulus_patterns
from lrrsa.data.things_fmri.responses import ResponseLayout, read_rows, response_layout
from lrrsa.data.things_fmri.rois import (
    VOXEL_COORDINATES,
    EmptyRoiError,
    expand_roi_columns,
    is_nifti,
    nifti_roi_mask,
    roi_items,
    roi_mask,
    voxel_selection,
)
from lrrsa.data.things_fmri.zscore import ZSCORE_TRIALS

__all__ = [
    "STIMULUS_COLUMNS",
    "VOXEL_COORDINATES",
    "ZSCORE_TRIALS",
    "EmptyRoiError",
    "ResponseLayout",
    "RoiPatterns",
    "SplitHalfPatterns",
    "SubjectFiles",
    "expand_roi_columns",
    "is_nifti",
    "nifti_roi_mask",
    "read_rows",
    "read_stimulus_metadata",
    "read_voxel_metadata",
    "response_layout",
    "roi_items",
    "roi_mask",
    "roi_voxel_counts",
    "split_half_patterns",
    "stimulus_patterns",
    "subject_files",
    "subject_label",
    "voxel_selection",
    "write_roi_voxel_counts",
]
