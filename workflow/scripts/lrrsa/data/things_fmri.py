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
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

__all__ = [
    "STIMULUS_COLUMNS",
    "ZSCORE_TRIALS",
    "RoiPatterns",
    "SplitHalfPatterns",
    "SubjectFiles",
    "VOXEL_COORDINATES",
    "EmptyRoiError",
    "expand_roi_columns",
    "is_nifti",
    "nifti_roi_mask",
    "roi_items",
    "roi_voxel_counts",
    "read_rows",
    "read_stimulus_metadata",
    "read_voxel_metadata",
    "response_layout",
    "ResponseLayout",
    "roi_mask",
    "split_half_patterns",
    "stimulus_patterns",
    "subject_files",
    "subject_label",
    "voxel_selection",
    "write_roi_voxel_counts",
]

log = logging.getLogger(__name__)

#: Columns of ``sub-XX_StimulusMetadata.csv``. ``concept`` may be absent (figshare
#: version 1); it is then derived as ``stimulus.rsplit('_', 1)[0]``.
STIMULUS_COLUMNS = ("trial_type", "session", "run", "subject_id", "trial_id", "stimulus", "concept")
_INT_STIMULUS_COLUMNS = ("session", "run", "subject_id", "trial_id")
_TRIAL_TYPES = ("train", "test")

#: Values of ``trials`` in :func:`stimulus_patterns`: the trials whose mean and standard
#: deviation z-score each voxel. ``"all"`` (the paper): all trials of the subject;
#: ``"train"`` / ``"test"``: the statistics of those trials only, applied to every
#: trial; ``"session"``: each session z-scored by its own statistics.
ZSCORE_TRIALS = ("all", "train", "test", "session")

_RESPONSE_KEY = "ResponseData"
_VOXEL_ID = "voxel_id"
#: VoxelMetadata columns holding each voxel's (0-based) index in the subject's functional volume.
VOXEL_COORDINATES = ("voxel_x", "voxel_y", "voxel_z")
_NIFTI_SUFFIXES = (".nii", ".nii.gz")
_NAME_PREVIEW = 5


class EmptyRoiError(ValueError):
    """An ROI with no voxels for a subject (none in its columns or masks, or none left
    by ``min_nc_testset``). Its RDM is undefined; the workflow records it (NaN RDM,
    ``n_voxels`` 0) and computes the other subjects and ROIs."""


def _preview(items: Sequence[object], n: int = _NAME_PREVIEW) -> str:
    items = list(items)
    shown = ", ".join(repr(x) for x in items[:n])
    more = f", ... ({len(items)} in all)" if len(items) > n else ""
    return shown + more


def _where(source: str | Path | None) -> str:
    return f"{source}: " if source else ""


# --------------------------------------------------------------------------- files


@dataclass(frozen=True)
class SubjectFiles:
    """The three files of one subject in a ``betas_csv/`` folder."""

    response: Path
    voxel_metadata: Path
    stimulus_metadata: Path


def subject_label(subject: str | int) -> str:
    """``"sub-01"`` from ``"sub-01"``, ``"01"``, ``"1"`` or ``1``."""
    text = str(subject).strip()
    if text.startswith("sub-"):
        text = text[4:]
    if not text:
        raise ValueError(f"empty subject label: {subject!r}")
    if text.isdigit():
        return f"sub-{int(text):02d}"
    if not re.fullmatch(r"[A-Za-z0-9]+", text):
        raise ValueError(f"subject label must be alphanumeric (like 'sub-01'): {subject!r}")
    return f"sub-{text}"


def subject_files(betas_dir: Path | str, subject: str | int) -> SubjectFiles:
    """Paths of a subject's files in ``betas_dir``; error naming every missing one."""
    betas_dir = Path(betas_dir)
    sub = subject_label(subject)
    files = SubjectFiles(
        response=betas_dir / f"{sub}_ResponseData.h5",
        voxel_metadata=betas_dir / f"{sub}_VoxelMetadata.csv",
        stimulus_metadata=betas_dir / f"{sub}_StimulusMetadata.csv",
    )
    missing = [str(p) for p in (files.response, files.voxel_metadata, files.stimulus_metadata) if not p.is_file()]
    if missing:
        raise FileNotFoundError(
            f"THINGS-fMRI files of {sub} not found: {', '.join(missing)} "
            f"(betas_dir must be the unzipped 'betas_csv' folder)"
        )
    return files


# ------------------------------------------------------------------------ metadata


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


# ----------------------------------------------------------------------- HDF5 rows


@dataclass(frozen=True)
class ResponseLayout:
    """Where the pieces of a pandas-fixed ``ResponseData`` frame lie in the HDF5 file."""

    values: str  # dataset of the trial columns, voxels x trials
    voxel_ids: str  # dataset holding the voxel ids
    voxel_id_column: int  # column of voxel_id in that dataset
    n_voxels: int
    n_trials: int
    trial_labels: tuple[str, ...] | None  # None when pandas pickled them (mixed-type labels)


def _items(ds: h5py.Dataset) -> list[str] | None:
    """Labels of a pandas block; None for pickled (object) labels, which are not unpickled."""
    kind = ds.attrs.get("kind", b"")
    kind = kind.decode() if isinstance(kind, bytes) else str(kind)
    if kind == "object" or ds.dtype.kind == "O":
        return None
    values = ds[()]
    return [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in np.asarray(values).ravel()]


def response_layout(f: h5py.File, *, source: str | Path = "") -> ResponseLayout:
    """Find the trial block and the voxel-id column of an open ResponseData file."""
    if _RESPONSE_KEY not in f:
        raise ValueError(f"{_where(source)}no key {_RESPONSE_KEY!r} (keys: {_preview(list(f.keys()))})")
    group = f[_RESPONSE_KEY]
    if not isinstance(group, h5py.Group) or "block0_values" not in group:
        raise ValueError(
            f"{_where(source)}{_RESPONSE_KEY} is not a pandas 'fixed' frame (no block0_values; "
            f"members: {_preview(list(group.keys()) if isinstance(group, h5py.Group) else [])})"
        )
    nblocks = 0
    while f"block{nblocks}_values" in group:
        nblocks += 1
    voxel: tuple[str, int] | None = None
    trial_blocks: list[tuple[str, list[str] | None]] = []
    for b in range(nblocks):
        ds = group[f"block{b}_values"]
        items = _items(group[f"block{b}_items"]) if f"block{b}_items" in group else None
        if ds.ndim != 2:
            raise ValueError(f"{_where(source)}{ds.name} has {ds.ndim} dimensions, expected 2")
        if items is not None and _VOXEL_ID in items:
            if len(items) != 1:
                raise ValueError(
                    f"{_where(source)}voxel_id is stored in one block with {len(items) - 1} other column(s) "
                    f"({ds.name}); expected voxel_id as its own integer block"
                )
            voxel = (ds.name, 0)
        elif items is None and ds.dtype.kind in "iu" and ds.shape[1] == 1 and voxel is None:
            voxel = (ds.name, 0)  # unreadable labels: the lone integer column is voxel_id
        else:
            trial_blocks.append((ds.name, items))
    if voxel is None:
        raise ValueError(f"{_where(source)}no voxel_id column found in {_RESPONSE_KEY}")
    if len(trial_blocks) != 1:
        raise ValueError(
            f"{_where(source)}expected one block of trial columns besides voxel_id, found {len(trial_blocks)} "
            f"({', '.join(name for name, _ in trial_blocks)})"
        )
    values_name, labels = trial_blocks[0]
    values = f[values_name]
    if values.dtype.kind != "f":
        raise ValueError(f"{_where(source)}trial values {values_name} are {values.dtype}, expected float")
    n_voxels, n_trials = values.shape
    vds = f[voxel[0]]
    if vds.shape[0] != n_voxels:
        raise ValueError(f"{_where(source)}{vds.name} has {vds.shape[0]} rows but {values_name} has {n_voxels}")
    if labels is not None and len(labels) != n_trials:
        raise ValueError(f"{_where(source)}{len(labels)} trial labels for {n_trials} trial columns")
    return ResponseLayout(
        values=values_name,
        voxel_ids=voxel[0],
        voxel_id_column=voxel[1],
        n_voxels=int(n_voxels),
        n_trials=int(n_trials),
        trial_labels=tuple(labels) if labels is not None else None,
    )


def _check_layout(
    f: h5py.File,
    layout: ResponseLayout,
    *,
    source: str | Path,
    voxel_ids: np.ndarray | None,
    n_trials: int | None,
    trial_ids: Sequence[int] | None,
) -> None:
    if voxel_ids is not None:
        voxel_ids = np.asarray(voxel_ids)
        stored = f[layout.voxel_ids][:, layout.voxel_id_column]
        if stored.shape[0] != voxel_ids.shape[0]:
            raise ValueError(
                f"{_where(source)}{stored.shape[0]} voxel rows, but the voxel metadata has {voxel_ids.shape[0]} "
                f"(files of different subjects or versions?)"
            )
        diff = np.flatnonzero(stored != voxel_ids)
        if diff.size:
            i = int(diff[0])
            raise ValueError(
                f"{_where(source)}voxel_id order differs from the voxel metadata in {diff.size} row(s); "
                f"first at row {i}: {int(stored[i])} in the HDF5 file vs {int(voxel_ids[i])} in the metadata"
            )
    if n_trials is not None and layout.n_trials != n_trials:
        raise ValueError(
            f"{_where(source)}{layout.n_trials} trial columns, but the stimulus metadata has {n_trials} trials "
            f"(files of different subjects or versions?)"
        )
    if trial_ids is not None and layout.trial_labels is not None:
        expected = [str(int(t)) for t in trial_ids]
        got = [lab.strip() for lab in layout.trial_labels]
        if len(got) != len(expected):
            raise ValueError(f"{_where(source)}{len(got)} trial columns, but {len(expected)} trial ids in the stimulus metadata")
        bad = [i for i, (a, b) in enumerate(zip(got, expected)) if a != b]
        if bad:
            i = bad[0]
            raise ValueError(
                f"{_where(source)}trial column labels differ from the stimulus metadata trial_id in {len(bad)} "
                f"column(s); first at column {i}: {got[i]!r} vs trial_id {expected[i]}"
            )


def read_rows(
    h5_path: Path | str,
    rows: np.ndarray | Sequence[int],
    *,
    chunk_rows: int = 2048,
    voxel_ids: np.ndarray | None = None,
    n_trials: int | None = None,
    trial_ids: Sequence[int] | None = None,
    dtype: np.dtype | type | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(row_indices, block)`` for the given rows of ``ResponseData``, chunk by chunk.

    ``rows`` (0-based row positions, unique, any order) are sorted; each chunk holds up
    to ``chunk_rows`` of them, read in one HDF5 selection straight into one
    preallocated ``(n, n_trials)`` array, so at most one chunk is in memory. ``block`` has the stored float dtype (float32 in the real files) unless
    ``dtype`` asks for another (HDF5 converts while reading, e.g. into float64).

    Validation before any row is read (errors name the file): ``voxel_ids`` (the
    VoxelMetadata ``voxel_id`` column) must equal the file's voxel ids row by row;
    ``n_trials`` (StimulusMetadata rows) must equal the number of trial columns;
    ``trial_ids`` (StimulusMetadata ``trial_id``) must equal the trial column labels
    when these are stored as text or integers (mixed-type labels that pandas pickled
    are not unpickled and not compared).
    """
    h5_path = Path(h5_path)
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be >= 1, got {chunk_rows}")
    rows = np.asarray(rows)
    if rows.ndim != 1 or (rows.size and rows.dtype.kind not in "iu"):
        raise ValueError(f"{h5_path}: rows must be a 1-D array of integer row indices")
    rows = np.sort(rows.astype(np.int64, copy=False))
    if rows.size and np.any(np.diff(rows) == 0):
        raise ValueError(f"{h5_path}: duplicate row indices requested: {_preview(np.unique(rows[1:][np.diff(rows) == 0]).tolist())}")
    with h5py.File(h5_path, "r") as f:
        layout = response_layout(f, source=h5_path)
        _check_layout(f, layout, source=h5_path, voxel_ids=voxel_ids, n_trials=n_trials, trial_ids=trial_ids)
        if rows.size and (rows[0] < 0 or rows[-1] >= layout.n_voxels):
            raise ValueError(f"{h5_path}: row indices must lie in [0, {layout.n_voxels}); got {rows[0]}..{rows[-1]}")
        ds = f[layout.values]
        out_dtype = np.dtype(dtype) if dtype is not None else ds.dtype
        for start in range(0, rows.size, chunk_rows):
            chunk = rows[start : start + chunk_rows]
            block = np.empty((chunk.size, layout.n_trials), dtype=out_dtype)
            # one HDF5 read per chunk: a union of row hyperslabs, straight into `block`
            # (about 7x faster than one read per run of consecutive rows when rows are scattered)
            ds.read_direct(block, np.s_[chunk, :], np.s_[0 : chunk.size, :])
            yield chunk, block
            del block  # one chunk alive at a time (if the caller drops its reference too)


# ------------------------------------------------------------------------ patterns


@dataclass(frozen=True)
class RoiPatterns:
    """Trial-averaged ROI patterns of one subject.

    ``patterns[i]`` is the response to ``stimuli[i]`` over the ROI voxels ``voxel_ids``
    (in VoxelMetadata order); ``n_trials_per_stimulus[i]`` trials were averaged.
    """

    patterns: np.ndarray  # (n_stimuli, n_voxels) float64
    voxel_ids: np.ndarray  # (n_voxels,) int64
    n_trials_per_stimulus: np.ndarray  # (n_stimuli,) int64
    stimuli: tuple[str, ...]
    subject: str
    roi: tuple[str, ...]


@dataclass(frozen=True)
class SplitHalfPatterns:
    """Trial-averaged ROI patterns from the odd and from the even sessions.

    A stimulus without trials in a half (every THINGS train image is shown once) has
    a NaN row in that half and ``n_trials_* == 0``; choose stimuli with repeats (the
    ``test`` rule) or drop those rows for reliability estimates.
    """

    odd: np.ndarray  # (n_stimuli, n_voxels) float64, sessions 1, 3, 5, ...
    even: np.ndarray  # (n_stimuli, n_voxels) float64, sessions 2, 4, 6, ...
    voxel_ids: np.ndarray
    n_trials_odd: np.ndarray
    n_trials_even: np.ndarray
    stimuli: tuple[str, ...]
    subject: str
    roi: tuple[str, ...]


class _TrialAverager:
    """Averages the trial columns of each stimulus; NaN for a stimulus without trials.

    Gathers the trial columns of a batch of stimuli (at most ``max_columns`` columns,
    or one stimulus's trials if more), sums them per stimulus with
    ``np.add.reduceat``, divides by the counts and writes into the output columns.
    The temporaries are at most ``n_rows x max_columns``, so averaging adds little to
    the chunk in memory (a scipy sparse product would copy the whole chunk).
    """

    def __init__(self, trial_groups: list[np.ndarray], max_columns: int = 256) -> None:
        self.counts = np.array([g.size for g in trial_groups], dtype=np.int64)
        self.batches: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (stimulus rows, columns, starts)
        batch: list[int] = []
        n_cols = 0
        for i, g in enumerate(trial_groups):
            if g.size == 0:
                continue
            if batch and n_cols + g.size > max_columns:
                self._close(batch, trial_groups)
                batch, n_cols = [], 0
            batch.append(i)
            n_cols += g.size
        if batch:
            self._close(batch, trial_groups)

    def _close(self, batch: list[int], groups: list[np.ndarray]) -> None:
        sizes = np.array([groups[i].size for i in batch])
        starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
        self.batches.append((np.array(batch), np.concatenate([groups[i] for i in batch]), starts))

    def into(self, x: np.ndarray, out: np.ndarray, columns: np.ndarray) -> None:
        """``out[s, columns]`` = mean of the trials of stimulus s in the rows of ``x``.

        ``x`` is (n_rows, n_trials), ``columns`` the n_rows output columns; rows of
        stimuli without trials are left untouched.
        """
        for stim_rows, cols, starts in self.batches:
            sums = np.add.reduceat(x[:, cols], starts, axis=1)
            sums /= self.counts[stim_rows]
            out[np.ix_(stim_rows, columns)] = sums.T


def _stimulus_trials(metadata: pd.DataFrame, stimuli: Sequence[str], *, source: Path) -> list[np.ndarray]:
    if isinstance(stimuli, str):
        raise TypeError("stimuli must be a sequence of stimulus names, not one string")
    stimuli = [str(s) for s in stimuli]
    if not stimuli:
        raise ValueError("no stimuli requested")
    counts = pd.Series(stimuli).value_counts()
    if (counts > 1).any():
        raise ValueError(f"stimuli requested more than once: {_preview(sorted(counts.index[counts > 1]))}")
    groups = metadata.groupby("stimulus", sort=False).indices  # stimulus -> row positions
    unknown = [s for s in stimuli if s not in groups]
    if unknown:
        raise ValueError(f"{source}: {len(unknown)} requested stimulus/stimuli not in the stimulus metadata: {_preview(unknown)}")
    return [np.sort(np.asarray(groups[s], dtype=np.int64)) for s in stimuli]


def _zscore_groups(metadata: pd.DataFrame, trials: str) -> list[tuple[np.ndarray | slice, np.ndarray | slice]]:
    """(columns giving mean/std, columns they standardise) for a ``trials`` choice."""
    n = len(metadata)
    if trials == "all":
        return [(slice(None), slice(None))]
    if trials in ("train", "test"):
        cols = np.flatnonzero(metadata["trial_type"].to_numpy() == trials)
        if cols.size < 2:
            raise ValueError(f"z-scoring over {trials} trials needs at least 2 of them, found {cols.size}")
        return [(cols, slice(None))]
    if trials == "session":
        out = []
        for _, idx in sorted(metadata.groupby("session").indices.items()):
            if idx.size < 2:
                raise ValueError("z-scoring per session needs at least 2 trials in every session")
            out.append((np.sort(idx), np.sort(idx)))
        assert sum(c.size for c, _ in out) == n
        return out
    raise ValueError(f"trials must be one of {', '.join(ZSCORE_TRIALS)}; got {trials!r}")


def _zscore_inplace(
    x: np.ndarray, groups: list[tuple[np.ndarray | slice, np.ndarray | slice]], *, source: Path, voxel_ids: np.ndarray
) -> None:
    """Standardise each row of ``x`` (float64) in place; population std (ddof=0).

    For the "all" case no temporary of the size of ``x`` is made: centre in place, then
    the sum of squares by ``einsum``.
    """

    def check(std: np.ndarray) -> None:
        flat = ~(std > 0)
        if flat.any():
            raise ValueError(
                f"{source}: {int(flat.sum())} ROI voxel(s) have zero variance over the z-scoring trials "
                f"(voxel_id {_preview(voxel_ids[flat].tolist())}); drop them or set zscore=False"
            )

    for stat_cols, apply_cols in groups:
        if isinstance(stat_cols, slice) and isinstance(apply_cols, slice):
            x -= x.mean(axis=1)[:, None]
            std = np.sqrt(np.einsum("ij,ij->i", x, x) / x.shape[1])
            check(std)
            x /= std[:, None]
            continue
        ref = x[:, stat_cols]
        mean = ref.mean(axis=1)
        std = ref.std(axis=1)
        del ref
        check(std)
        if isinstance(apply_cols, slice):
            x -= mean[:, None]
            x /= std[:, None]
        else:
            x[:, apply_cols] = (x[:, apply_cols] - mean[:, None]) / std[:, None]


def _roi_averages(
    betas_dir: Path | str,
    subject: str | int,
    roi_columns: Sequence[str] | str,
    stimuli: Sequence[str],
    *,
    zscore: bool,
    trials: str,
    min_nc_testset: float | None,
    chunk_rows: int,
    split: bool,
):
    files = subject_files(betas_dir, subject)
    sub = subject_label(subject)
    if trials not in ZSCORE_TRIALS:
        raise ValueError(f"trials must be one of {', '.join(ZSCORE_TRIALS)}; got {trials!r}")
    roi = [roi_columns] if isinstance(roi_columns, str) else list(roi_columns)
    meta = read_stimulus_metadata(files.stimulus_metadata)
    sub_number = sub[4:]
    if sub_number.isdigit() and not (meta["subject_id"] == int(sub_number)).all():
        raise ValueError(
            f"{files.stimulus_metadata}: subject_id {_preview(sorted(set(meta['subject_id'].tolist())))} does not match {sub}"
        )
    wanted_cols = roi + (["nc_testset"] if min_nc_testset is not None else [])
    vox = read_voxel_metadata(files.voxel_metadata, wanted_cols)
    mask = voxel_selection(vox, roi, min_nc_testset=min_nc_testset, source=files.voxel_metadata, subject=sub)
    rows = np.flatnonzero(mask)
    all_ids = vox[_VOXEL_ID].to_numpy()
    roi_ids = all_ids[rows]
    del vox

    stim_trials = _stimulus_trials(meta, stimuli, source=files.stimulus_metadata)
    n_trials = len(meta)
    if split:
        session = meta["session"].to_numpy()
        halves = [[t[session[t] % 2 == 1] for t in stim_trials], [t[session[t] % 2 == 0] for t in stim_trials]]
    else:
        halves = [stim_trials]
    averagers = [_TrialAverager(h) for h in halves]
    counts = [a.counts for a in averagers]
    zgroups = _zscore_groups(meta, trials) if zscore else []

    outs = [np.empty((len(stim_trials), rows.size), dtype=np.float64) for _ in halves]
    position = np.empty(len(all_ids), dtype=np.int64)
    position[rows] = np.arange(rows.size)
    bad_total = 0
    bad_voxels: list[int] = []
    for chunk, block in read_rows(
        files.response,
        rows,
        chunk_rows=chunk_rows,
        voxel_ids=all_ids,
        n_trials=n_trials,
        trial_ids=meta["trial_id"].to_numpy(),
        dtype=np.float64,
    ):
        for r in np.flatnonzero(~np.isfinite(block.sum(axis=1))):  # cheap test, no chunk-size temporary
            n_bad = int(np.count_nonzero(~np.isfinite(block[r])))
            if n_bad:
                bad_total += n_bad
                bad_voxels.append(int(all_ids[chunk[r]]))
        if bad_total:
            del block
            continue  # keep counting over the remaining chunks; nothing is computed
        if zscore:
            _zscore_inplace(block, zgroups, source=files.response, voxel_ids=all_ids[chunk])
        pos = position[chunk]
        for avg, out in zip(averagers, outs):
            avg.into(block, out, pos)
        del block
    for count, out in zip(counts, outs):
        out[count == 0, :] = np.nan
    if bad_total:
        raise ValueError(
            f"{files.response}: {bad_total} NaN (or infinite) beta(s) in {len(bad_voxels)} of the {rows.size} "
            f"selected voxels (voxel_id {_preview(bad_voxels)})"
        )
    return sub, tuple(roi), tuple(str(s) for s in stimuli), roi_ids.astype(np.int64), outs, counts


def stimulus_patterns(
    betas_dir: Path | str,
    subject: str | int,
    roi_columns: Sequence[str] | str,
    stimuli: Sequence[str],
    *,
    zscore: bool = True,
    trials: str = "all",
    min_nc_testset: float | None = None,
    chunk_rows: int = 2048,
) -> RoiPatterns:
    """Trial-averaged patterns of ``stimuli`` in an ROI: the paper's preprocessing by default.

    For each chunk of ``chunk_rows`` ROI voxels: read the voxels' betas (all trials),
    z-score every voxel (population std, ``ddof=0``) over the trials chosen by
    ``trials`` (see :data:`ZSCORE_TRIALS`; the paper: ``"all"``, all 9,840 trials of the
    subject), average the trials of each requested stimulus (a batched column
    gather) and place the result into the output columns. Peak memory is
    ``chunk_rows x n_trials x 8`` bytes (plus a temporary of that size for
    ``trials != "all"``), a gather of at most ``chunk_rows x 256`` trial columns, plus the
    output; never the file.

    ``roi_columns``: the ROI's items, VoxelMetadata 0/1 columns and/or NIfTI masks, whose
    union is the ROI (``"LOC"`` = ``lLOC | rLOC``; see :func:`roi_mask`); ``min_nc_testset`` keeps only voxels with ``nc_testset`` at least
    this (None: all ROI voxels). Output rows follow the order of ``stimuli``; columns
    the VoxelMetadata order. Errors: files missing, unknown stimulus (named), NaN betas
    (file and count), zero-variance voxels, and the checks of :func:`read_rows`.
    """
    sub, roi, names, ids, outs, counts = _roi_averages(
        betas_dir, subject, roi_columns, stimuli,
        zscore=zscore, trials=trials, min_nc_testset=min_nc_testset, chunk_rows=chunk_rows, split=False,
    )  # fmt: skip
    return RoiPatterns(patterns=outs[0], voxel_ids=ids, n_trials_per_stimulus=counts[0], stimuli=names, subject=sub, roi=roi)


def split_half_patterns(
    betas_dir: Path | str,
    subject: str | int,
    roi_columns: Sequence[str] | str,
    stimuli: Sequence[str],
    *,
    zscore: bool = True,
    trials: str = "all",
    min_nc_testset: float | None = None,
    chunk_rows: int = 2048,
) -> SplitHalfPatterns:
    """As :func:`stimulus_patterns`, but averaging odd-session and even-session trials apart.

    The z-scoring is the same as in :func:`stimulus_patterns` (statistics over the
    ``trials`` set, not per half), so the halves differ only in which trials are
    averaged. Stimuli seen only in odd (or only in even) sessions get a NaN row in the
    other half (``n_trials_* == 0``): every THINGS train image, shown once, is such a
    stimulus; the 100 test images (12 sessions) have 6 trials in each half.
    """
    sub, roi, names, ids, outs, counts = _roi_averages(
        betas_dir, subject, roi_columns, stimuli,
        zscore=zscore, trials=trials, min_nc_testset=min_nc_testset, chunk_rows=chunk_rows, split=True,
    )  # fmt: skip
    return SplitHalfPatterns(
        odd=outs[0], even=outs[1], voxel_ids=ids, n_trials_odd=counts[0], n_trials_even=counts[1],
        stimuli=names, subject=sub, roi=roi,
    )  # fmt: skip
