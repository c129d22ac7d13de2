"""ROIs as unions of items: 0/1 VoxelMetadata columns (bilateral names expanded, ``LOC`` =
``lLOC | rLOC``) and binary NIfTI masks matched through the voxel coordinates; the
boolean voxel masks they give, the ``nc_testset`` voxel selection, and the error for an
ROI without voxels.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from lrrsa.data.things_fmri._common import _VOXEL_ID, _preview, _where
from lrrsa.data.things_fmri.files import subject_label

log = logging.getLogger(__name__)

#: VoxelMetadata columns holding each voxel's (0-based) index in the subject's functional volume.
VOXEL_COORDINATES = ("voxel_x", "voxel_y", "voxel_z")
_NIFTI_SUFFIXES = (".nii", ".nii.gz")


class EmptyRoiError(ValueError):
    """An ROI with no voxels for a subject (none in its columns or masks, or none left
    by ``min_nc_testset``). Its RDM is undefined; the workflow records it (NaN RDM,
    ``n_voxels`` 0) and computes the other subjects and ROIs."""


def is_nifti(item: object) -> bool:
    """Whether an ROI item names a NIfTI mask (``.nii`` or ``.nii.gz``) rather than a column."""
    return str(item).lower().endswith(_NIFTI_SUFFIXES)


def roi_items(items: Sequence[str] | str, subject: str | int | None = None) -> list[str]:
    """The ROI items as a list, ``{subject}`` in NIfTI paths replaced by the subject label."""
    items = [items] if isinstance(items, str) else [str(i) for i in items]
    if subject is None:
        return items
    sub = subject_label(subject)
    return [i.replace("{subject}", sub) if is_nifti(i) else i for i in items]


def expand_roi_columns(columns: Sequence[str] | str, available: Sequence[str], *, source: str | Path = "") -> list[str]:
    """The VoxelMetadata columns whose union forms the ROI ``columns``.

    A name that is a column is kept. A bilateral name that is not a column but whose
    ``l``/``r`` halves are (``LOC`` -> ``lLOC``, ``rLOC``; likewise ``FFA``, ``PPA``,
    ``EBA``, ...) becomes both halves. Any other name is an error naming the file.
    """
    if isinstance(columns, str):
        columns = [columns]
    columns = list(columns)
    if not columns:
        raise ValueError(f"{_where(source)}no ROI column given")
    have = set(available)
    out: list[str] = []
    missing = []
    for name in columns:
        if name in have:
            parts = [name]
        elif f"l{name}" in have and f"r{name}" in have:
            parts = [f"l{name}", f"r{name}"]
        else:
            missing.append(name)
            continue
        out.extend(p for p in parts if p not in out)
    if missing:
        roi_like = [c for c in available if not str(c).startswith("glasser-") and c not in (_VOXEL_ID,)]
        raise ValueError(
            f"{_where(source)}column(s) {', '.join(repr(m) for m in missing)} not in the voxel metadata "
            f"(a bilateral ROI X may also be given when lX and rX exist; columns include {_preview(roi_like, 40)})"
        )
    return out


def nifti_roi_mask(voxel_metadata: pd.DataFrame, nifti_path: Path | str, *, source: str | Path = "") -> np.ndarray:
    """Boolean mask over the voxel rows: the voxels whose ``voxel_x/y/z`` index is 1 in a NIfTI mask.

    The mask must be a 3-D (or 3-D x 1) binary 0/1 image on the subject's functional
    grid, the grid the VoxelMetadata coordinates index (0-based). Errors name the
    mask and ``source``: unreadable file, values other than 0/1 (a probabilistic or
    label map must be thresholded first), voxels outside the mask's grid (the mask is
    in another space), no voxel of the metadata inside the mask.
    """
    import nibabel as nib

    nifti_path = Path(nifti_path)
    if not nifti_path.is_file():
        raise FileNotFoundError(f"{nifti_path}: NIfTI ROI mask not found")
    try:
        data = np.asanyarray(nib.load(str(nifti_path)).dataobj)
    except Exception as exc:  # nibabel raises several types for a bad file
        raise ValueError(f"{nifti_path}: cannot be read as a NIfTI image ({exc})") from None
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise ValueError(f"{nifti_path}: an ROI mask must be a 3-D image; this one has shape {data.shape}")
    values = np.unique(data)
    if data.dtype != bool and not np.isin(values, (0, 1)).all():
        other = [v for v in values.tolist() if v not in (0, 1)]
        raise ValueError(
            f"{nifti_path}: an ROI mask must hold only 0 and 1; found {len(other)} other value(s), e.g. {_preview(other, 3)} "
            f"(threshold a probabilistic or label map first)"
        )
    missing = [c for c in VOXEL_COORDINATES if c not in voxel_metadata.columns]
    if missing:
        raise ValueError(f"{_where(source)}missing column(s) {', '.join(missing)} (needed to match voxels to {nifti_path})")
    coords = voxel_metadata[list(VOXEL_COORDINATES)].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
    if not np.isfinite(coords).all() or (coords != np.round(coords)).any() or (coords < 0).any():
        raise ValueError(f"{_where(source)}columns {', '.join(VOXEL_COORDINATES)} must hold non-negative integer voxel indices")
    coords = coords.astype(np.int64)
    outside = (coords >= np.array(data.shape)).any(axis=1)
    if outside.any():
        raise ValueError(
            f"{nifti_path}: {int(outside.sum())} voxel(s) of {source or 'the voxel metadata'} lie outside the mask's grid "
            f"{data.shape} (largest index {tuple(int(v) for v in coords.max(axis=0))}): the mask is not in this subject's "
            f"functional space"
        )
    mask = data[coords[:, 0], coords[:, 1], coords[:, 2]].astype(bool)
    n_mask = int(np.count_nonzero(data))
    if not mask.any():
        raise ValueError(
            f"{nifti_path}: none of the {len(mask)} voxels of {source or 'the voxel metadata'} lies inside the mask "
            f"({n_mask} voxel(s) set): an empty ROI (is the mask in this subject's functional space?)"
        )
    log.info("%s: %d of its %d voxels are voxels of %s", nifti_path, int(mask.sum()), n_mask, source or "the metadata")
    return mask


def roi_mask(
    voxel_metadata: pd.DataFrame, columns: Sequence[str] | str, *, source: str | Path = "", subject: str | int | None = None
) -> np.ndarray:
    """Boolean mask over the voxel rows: the union of the ROI's items.

    An item is a 0/1 column (bilateral names are expanded: ``"LOC"`` = ``lLOC | rLOC``,
    see :func:`expand_roi_columns`) or a NIfTI mask (:func:`nifti_roi_mask`; with
    ``{subject}`` in its path replaced by ``subject``). Errors, naming ``source`` (the
    file): a missing column, a column with values other than 0/1 (NaN included), a
    bad mask, an ROI without voxels.
    """
    items = roi_items(columns, subject)
    if not items:
        raise ValueError(f"{_where(source)}no ROI column given")
    niftis = [i for i in items if is_nifti(i)]
    unresolved = [i for i in niftis if "{subject}" in i]
    if unresolved:
        raise ValueError(f"ROI mask path(s) {_preview(unresolved)} contain {{subject}}, but no subject was given")
    plain = [i for i in items if not is_nifti(i)]
    names = expand_roi_columns(plain, list(voxel_metadata.columns), source=source) if plain else []
    mask = np.zeros(len(voxel_metadata), dtype=bool)
    for name in names:
        values = pd.to_numeric(voxel_metadata[name], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        bad = ~np.isin(values, (0.0, 1.0))
        if bad.any():
            raise ValueError(f"{_where(source)}ROI column {name!r} must hold 0/1; {int(bad.sum())} other value(s), e.g. {_preview(voxel_metadata[name][bad], 3)}")
        mask |= values == 1.0
    for path in niftis:
        mask |= nifti_roi_mask(voxel_metadata, path, source=source)
    if not mask.any():
        raise EmptyRoiError(f"{_where(source)}ROI {' | '.join(names + niftis)} has no voxels")
    return mask


def voxel_selection(
    voxel_metadata: pd.DataFrame,
    roi_columns: Sequence[str] | str,
    *,
    min_nc_testset: float | None = None,
    source: str | Path = "",
    subject: str | int | None = None,
) -> np.ndarray:
    """ROI mask (:func:`roi_mask`), optionally restricted to ``nc_testset >= min_nc_testset``.

    ``nc_testset`` is the file's noise ceiling of the test set (in percent in THINGS-fMRI);
    voxels where it is NaN are dropped when the threshold is on. ``None`` = no threshold.
    Error (naming ``source``) when no voxel is left.
    """
    mask = roi_mask(voxel_metadata, roi_columns, source=source, subject=subject)
    if min_nc_testset is None:
        return mask
    if "nc_testset" not in voxel_metadata.columns:
        raise ValueError(f"{_where(source)}missing column nc_testset (needed for min_nc_testset)")
    nc = pd.to_numeric(voxel_metadata["nc_testset"], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    with np.errstate(invalid="ignore"):
        keep = mask & (nc >= float(min_nc_testset))
    if not keep.any():
        raise EmptyRoiError(
            f"{_where(source)}no voxel of ROI {roi_columns!r} has nc_testset >= {min_nc_testset} "
            f"(ROI has {int(mask.sum())} voxels, max nc_testset {np.nanmax(nc[mask]) if np.isfinite(nc[mask]).any() else 'NaN'})"
        )
    return keep
