"""``sub-XX_ResponseData.h5``: where a pandas 'fixed' frame keeps its voxel ids, trial labels
and values (found from the ``blockN_items`` names), the checks against the metadata, and
the bounded-memory reading of selected voxel rows, one chunk at a time.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from lrrsa.data.things_fmri._common import _VOXEL_ID, _preview, _where

_RESPONSE_KEY = "ResponseData"


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
