"""Voxels per ROI and subject (the workflow's ``roi_voxels.tsv``): the ROI's voxels and
those left by ``min_nc_testset``, read from the VoxelMetadata files only.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from lrrsa.data.things_fmri.files import subject_label
from lrrsa.data.things_fmri.metadata import read_voxel_metadata
from lrrsa.data.things_fmri.rois import EmptyRoiError, roi_items, roi_mask, voxel_selection

log = logging.getLogger(__name__)


def _count(mask) -> int:
    """Voxels in ``mask()``, 0 for an empty ROI."""
    try:
        return int(mask().sum())
    except EmptyRoiError:
        return 0


def roi_voxel_counts(
    betas_dir: Path | str,
    subjects: Sequence[str],
    rois: Mapping[str, Sequence[str]],
    *,
    min_nc_testset: float | None = None,
) -> pd.DataFrame:
    """Voxels per ROI and subject: ``roi, subject, items, n_voxels, n_selected``.

    ``n_voxels`` counts the ROI (the union of its items), ``n_selected`` what is left
    after ``min_nc_testset`` (equal when it is None). Reads only the needed columns of
    each VoxelMetadata file. An ROI without voxels for a subject counts 0 (its RDM is
    NaN, see :class:`EmptyRoiError`); any other error of :func:`voxel_selection`
    (unknown column, bad mask) names the file.
    """
    rows = []
    for subject in subjects:
        sub = subject_label(subject)
        path = Path(betas_dir) / f"{sub}_VoxelMetadata.csv"
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found (betas_dir must be the unzipped 'betas_csv' folder)")
        wanted = [i for items in rois.values() for i in roi_items(items, sub)]
        vox = read_voxel_metadata(path, wanted + (["nc_testset"] if min_nc_testset is not None else []))
        for roi, items in rois.items():
            n_voxels = _count(lambda: roi_mask(vox, items, source=path, subject=sub))
            n_selected = n_voxels
            if min_nc_testset is not None and n_voxels:
                n_selected = _count(lambda: voxel_selection(vox, items, min_nc_testset=min_nc_testset, source=path,
                                                            subject=sub))
            rows.append((roi, sub, " | ".join(roi_items(items)), n_voxels, n_selected))
    return pd.DataFrame(rows, columns=["roi", "subject", "items", "n_voxels", "n_selected"])


def write_roi_voxel_counts(
    betas_dir: Path | str,
    subjects: Sequence[str],
    rois: Mapping[str, Sequence[str]],
    out: Path | str,
    *,
    min_nc_testset: float | None = None,
) -> pd.DataFrame:
    """:func:`roi_voxel_counts` written atomically as TSV (and logged)."""
    table = roi_voxel_counts(betas_dir, subjects, rois, min_nc_testset=min_nc_testset)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        table.to_csv(tmp, sep="\t", index=False, lineterminator="\n")
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    for row in table.itertuples():
        log.info("%s %s: %d voxels (%d selected)", row.subject, row.roi, row.n_voxels, row.n_selected)
    return table
