"""Readers of the two metadata tables: ``sub-XX_StimulusMetadata.csv`` (one row per trial)
and ``sub-XX_VoxelMetadata.csv`` (one row per voxel, in ResponseData row order), read and
validated with errors that name the file and the column.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from lrrsa.data.things_fmri._common import _NAME_PREVIEW, _VOXEL_ID, _preview
from lrrsa.data.things_fmri.rois import VOXEL_COORDINATES, expand_roi_columns, is_nifti

#: Columns of ``sub-XX_StimulusMetadata.csv``. ``concept`` may be absent (figshare
#: version 1); it is then derived as ``stimulus.rsplit('_', 1)[0]``.
STIMULUS_COLUMNS = ("trial_type", "session", "run", "subject_id", "trial_id", "stimulus", "concept")
_INT_STIMULUS_COLUMNS = ("session", "run", "subject_id", "trial_id")
_TRIAL_TYPES = ("train", "test")


def read_stimulus_metadata(path: Path | str) -> pd.DataFrame:
    """Read and validate ``sub-XX_StimulusMetadata.csv``; one row per trial, in file order.

    Text columns are read verbatim (a concept called ``"nan"`` or ``"null"`` stays a
    string); ``session``, ``run``, ``subject_id`` and ``trial_id`` must be integers,
    ``trial_type`` ``train`` or ``test``, ``stimulus`` non-empty, ``trial_id`` unique.
    A missing ``concept`` column (or an empty cell) is filled with
    ``stimulus.rsplit('_', 1)[0]``. Errors name the file and the column(s).
    """
    path = Path(path)
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False)
    except Exception as exc:  # pragma: no cover - pandas' own message is kept
        raise ValueError(f"{path}: cannot be read as CSV: {exc}") from exc
    raw.columns = [str(c).strip() for c in raw.columns]
    required = [c for c in STIMULUS_COLUMNS if c != "concept"]
    missing = [c for c in required if c not in raw.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(missing)} (StimulusMetadata needs {', '.join(STIMULUS_COLUMNS)})")
    if raw.empty:
        raise ValueError(f"{path}: no trials (empty StimulusMetadata)")

    df = pd.DataFrame(index=raw.index)
    for col in STIMULUS_COLUMNS:
        if col in _INT_STIMULUS_COLUMNS:
            values = pd.to_numeric(raw[col].str.strip(), errors="coerce")
            bad = values.isna() | (values != np.round(values))
            if bad.any():
                rows = list(raw.index[bad][:_NAME_PREVIEW] + 2)  # +2: header, 1-based
                raise ValueError(f"{path}: column {col} must hold integers; bad values on line(s) {rows}: {_preview(raw[col][bad])}")
            df[col] = values.astype(np.int64)
        elif col == "concept":
            continue
        else:
            df[col] = raw[col].str.strip()
    if (df["stimulus"] == "").any():
        raise ValueError(f"{path}: column stimulus has {(df['stimulus'] == '').sum()} empty value(s)")
    bad_type = ~df["trial_type"].isin(_TRIAL_TYPES)
    if bad_type.any():
        raise ValueError(f"{path}: column trial_type must be 'train' or 'test'; found {_preview(sorted(set(df['trial_type'][bad_type])))}")
    dup = df["trial_id"].duplicated()
    if dup.any():
        raise ValueError(f"{path}: column trial_id is not unique: {_preview(sorted(set(df['trial_id'][dup])))}")
    derived = df["stimulus"].map(lambda s: s.rsplit("_", 1)[0])
    if "concept" in raw.columns:
        concept = raw["concept"].str.strip()
        df["concept"] = concept.where(concept != "", derived)
    else:
        df["concept"] = derived
    return df[list(STIMULUS_COLUMNS)].reset_index(drop=True)


def read_voxel_metadata(path: Path | str, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Read and validate ``sub-XX_VoxelMetadata.csv`` (rows in ResponseData row order).

    ``columns``: read only ``voxel_id`` and these columns (ROI names are expanded as in
    :func:`expand_roi_columns`, so ``"LOC"`` reads ``lLOC`` and ``rLOC``); ``None``
    reads every column (the real file has ~250 columns x 211,339 rows, ~0.4 GB in
    memory). ``voxel_id`` must be unique integers. Errors name the file and column(s).
    """
    path = Path(path)
    header = [str(c) for c in pd.read_csv(path, nrows=0).columns]
    if _VOXEL_ID not in header:
        raise ValueError(f"{path}: missing column {_VOXEL_ID}")
    usecols = None
    if columns is not None:
        columns = list(columns)
        if any(is_nifti(c) for c in columns):  # a NIfTI mask is matched through the coordinates
            missing = [c for c in VOXEL_COORDINATES if c not in header]
            if missing:
                raise ValueError(f"{path}: missing column(s) {', '.join(missing)} (needed to match voxels to a NIfTI ROI mask)")
            columns = [c for c in columns if not is_nifti(c)] + list(VOXEL_COORDINATES)
        wanted = [c for c in columns if c != _VOXEL_ID]
        plain = [c for c in wanted if c in header]
        other = [c for c in wanted if c not in header]
        expanded = expand_roi_columns(other, header, source=path) if other else []
        usecols = [_VOXEL_ID] + list(dict.fromkeys(plain + expanded))
    df = pd.read_csv(path, usecols=usecols)
    if usecols is not None:
        df = df[usecols]
    if df.empty:
        raise ValueError(f"{path}: no voxels (empty VoxelMetadata)")
    ids = pd.to_numeric(df[_VOXEL_ID], errors="coerce")
    if ids.isna().any() or (ids != np.round(ids)).any():
        raise ValueError(f"{path}: column {_VOXEL_ID} must hold integers")
    df[_VOXEL_ID] = ids.astype(np.int64)
    if df[_VOXEL_ID].duplicated().any():
        raise ValueError(f"{path}: column {_VOXEL_ID} is not unique")
    return df
