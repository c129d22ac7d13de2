"""Per-stimulus responses of a brainio assembly, read with bounded memory.

:func:`stimulus_responses` averages each presentation's response over the bins of a
time window (:func:`lrrsa.data.brainio.window_bins`), then the presentations of each
stimulus, for the neuroids of a region and/or animal. The response variable is read
in slabs along the file's outermost dimension (contiguous on disk), whichever of
presentation, neuroid and time_bin that is, and summed in float64 slab by slab; only
the (presentations x neuroids) time averages are held, never the full
(presentation x neuroid x time_bin) array. FreemanZiemba2013 (205 neuroids x 300
bins x 2,700 presentations, 1.3 GB as float64) is read in well under 1 GB
(``benchmarks/brainio_memory.py``).

Neuroids are keyed by (animal, neuroid_id): Papale2025's neuroid_id restarts per
monkey.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from lrrsa.data.brainio import (
    ANIMAL_COORDS,
    NEUROID,
    PRESENTATION,
    TIME_BIN,
    AssemblyInfo,
    assembly_info,
    open_assembly,
    window_bins,
)

__all__ = ["StimulusResponses", "group_means", "stimulus_responses"]

log = logging.getLogger(__name__)
_PREVIEW = 5


def _preview(items: Sequence[object], n: int = _PREVIEW) -> str:
    items = list(items)
    shown = ", ".join(repr(x) for x in items[:n])
    return shown + (f", ... ({len(items)} in all)" if len(items) > n else "")


@dataclass(frozen=True, eq=False)
class StimulusResponses:
    """Responses of the selected neuroids per stimulus, time- and repetition-averaged.

    ``responses`` (n_stimuli x n_neuroids, float64): mean over the window's bins, then
    over the stimulus's presentations. ``n_repetitions`` (n_stimuli,): presentations
    averaged. ``presentation_responses`` (n_presentations x n_neuroids, float64): the
    time-averaged response of each presentation kept, rows as ``presentations`` (what
    split-half reliability needs); None when not kept. ``neuroids``: metadata of the
    columns (file order); ``time_bins``: the bins averaged.
    """

    responses: np.ndarray
    n_repetitions: np.ndarray
    stimulus_ids: tuple[str, ...]
    neuroids: pd.DataFrame
    presentations: pd.DataFrame
    presentation_responses: np.ndarray | None
    time_bins: pd.DataFrame
    time_window: tuple[float, float] | None
    neuroid_key_columns: tuple[str, ...]
    source: Path

    @property
    def neuroid_keys(self) -> pd.MultiIndex:
        """(animal, neuroid_id) of every column (neuroid_id alone without an animal coordinate)."""
        return pd.MultiIndex.from_frame(self.neuroids[list(self.neuroid_key_columns)])


def _as_list(value: str | Sequence[str] | None) -> list[str] | None:
    return None if value is None else [value] if isinstance(value, str) else [str(v) for v in value]


def _select(table: pd.DataFrame, column: str, wanted: list[str], what: str, path: Path) -> np.ndarray:
    """Boolean mask of rows whose ``column`` is in ``wanted``; errors list what is available."""
    if column not in table.columns:
        raise ValueError(f"{path}: no {column} coordinate on neuroid to select {what} {_preview(wanted)} (found {_preview(list(table.columns))})")
    values = table[column].astype(str)
    available = sorted(set(values))
    missing = [w for w in wanted if w not in available]
    if missing:
        raise ValueError(f"{path}: {what} {_preview(missing)} not present; {what}s available: {_preview(available, 20)}")
    return values.isin(wanted).to_numpy()


def _neuroid_positions(info: AssemblyInfo, region, animal, neuroid_mask) -> np.ndarray:
    keep = np.ones(len(info.neuroids), dtype=bool)
    if (regions := _as_list(region)) is not None:
        keep &= _select(info.neuroids, "region", regions, "region", info.path)
    if (animals := _as_list(animal)) is not None:
        keep &= _select(info.neuroids, info.animal_coord or ANIMAL_COORDS[0], animals, "animal", info.path)
    if neuroid_mask is not None:
        mask = np.asarray(neuroid_mask, dtype=bool)
        if mask.shape != keep.shape:
            raise ValueError(f"{info.path}: neuroid_mask has shape {mask.shape}; the file has {keep.size} neuroids")
        keep &= mask
    if not keep.any():
        raise ValueError(f"{info.path}: no neuroid left after selecting region={region!r}, animal={animal!r} and the neuroid mask")
    return np.flatnonzero(keep)


def _groups(wanted: np.ndarray, span: int) -> list[tuple[int, int]]:
    """Index ranges [i0, i1) of sorted ``wanted`` whose positions lie within ``span`` of each other."""
    out, i0 = [], 0
    while i0 < wanted.size:
        i1 = max(i0 + 1, int(np.searchsorted(wanted, wanted[i0] + span)))
        out.append((i0, i1))
        i0 = i1
    return out


def _take(block: np.ndarray, axis: int, local: np.ndarray) -> np.ndarray:
    """Positions ``local`` along ``axis``; no copy when they are the whole axis."""
    if local.size == block.shape[axis] and (local == np.arange(local.size)).all():
        return block
    return np.take(block, local, axis=axis)


def _time_averaged(info: AssemblyInfo, neuroid_pos: np.ndarray, bin_pos: np.ndarray, *, chunk_bytes: int, engine) -> np.ndarray:
    """(n_presentations x len(neuroid_pos)) float64: each presentation's mean over ``bin_pos``.

    Reads slabs along the file's outermost dimension (contiguous on disk): at most
    ``chunk_bytes`` of float64-equivalent per slab, inner dimensions cut to the span of
    the wanted positions. The full array is never in memory.
    """
    wanted = {PRESENTATION: np.arange(info.size(PRESENTATION)), NEUROID: neuroid_pos, TIME_BIN: bin_pos}
    outer, inner = info.dims[0], info.dims[1:]
    spans = {d: slice(int(wanted[d][0]), int(wanted[d][-1]) + 1) for d in inner}
    inner_size = int(np.prod([spans[d].stop - spans[d].start for d in inner]))
    per_slab = max(1, chunk_bytes // (8 * inner_size))
    out = np.zeros((wanted[PRESENTATION].size, neuroid_pos.size), dtype=np.float64)
    with open_assembly(info.path, engine) as ds:
        var = ds[info.variable].variable
        for i0, i1 in _groups(wanted[outer], per_slab):
            positions = wanted[outer][i0:i1]
            block = var.isel({outer: slice(int(positions[0]), int(positions[-1]) + 1), **spans}).values
            block = _take(block, 0, positions - positions[0])
            for axis, d in enumerate(inner, start=1):
                block = _take(block, axis, wanted[d] - spans[d].start)
            order = [info.dims.index(d) for d in (PRESENTATION, NEUROID, TIME_BIN) if d in info.dims]  # -> presentation, neuroid[, time_bin]
            block = block.transpose(order)
            summed = block.sum(axis=2, dtype=np.float64) if block.ndim == 3 else block.astype(np.float64)
            if outer == PRESENTATION:
                out[i0:i1] += summed
            elif outer == NEUROID:
                out[:, i0:i1] += summed
            else:
                out += summed
            del block, summed
    out /= bin_pos.size
    return out


def _check_finite(values: np.ndarray, info: AssemblyInfo, neuroids: pd.DataFrame, key: Sequence[str]) -> None:
    bad = ~np.isfinite(values)
    if bad.any():
        cols = np.flatnonzero(bad.any(axis=0))
        names = [tuple(r) for r in neuroids.iloc[cols][list(key)].itertuples(index=False)]
        raise ValueError(
            f"{info.path}: {int(bad.sum())} NaN (or infinite) time-averaged response(s) in {int(bad.any(axis=1).sum())} "
            f"presentation(s) and {cols.size} neuroid(s) ({', '.join(key)}: {_preview(names)})"
        )


def _check_keys(neuroids: pd.DataFrame, key: Sequence[str], path: Path) -> None:
    dup = neuroids.duplicated(list(key), keep=False)
    if dup.any():
        names = sorted({tuple(r) for r in neuroids[dup][list(key)].itertuples(index=False)})
        raise ValueError(f"{path}: neuroid key ({', '.join(key)}) is not unique: {_preview(names)}")


def group_means(values: np.ndarray, codes: np.ndarray, n_groups: int, *, block: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Mean of the rows of ``values`` (n_rows x n_cols) per group ``codes`` (n_rows, in
    0..n_groups-1): (n_groups x n_cols) float64, NaN for a group without rows, and the
    row counts (n_groups,). Column blocks of ``block`` bound the sorted copy."""
    codes = np.asarray(codes, dtype=np.int64)
    counts = np.bincount(codes, minlength=n_groups)
    means = np.full((n_groups, values.shape[1]), np.nan)
    present = np.flatnonzero(counts)
    if present.size == 0:
        return means, counts
    sort = np.argsort(codes, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts[present])[:-1]])
    for lo in range(0, values.shape[1], block):
        sums = np.add.reduceat(values[sort, lo:lo + block], starts, axis=0, dtype=np.float64)
        means[present, lo:lo + block] = sums / counts[present, None]
    return means, counts


def stimulus_responses(
    path: Path | str,
    *,
    time_window: tuple[float, float] | None = None,
    region: str | Sequence[str] | None = None,
    animal: str | Sequence[str] | None = None,
    neuroid_mask: np.ndarray | None = None,
    stimuli: Sequence[str] | None = None,
    keep_presentations: bool = True,
    chunk_mb: float = 64.0,
    engine: str | None = None,
) -> StimulusResponses:
    """Per-stimulus responses of an assembly: mean over ``time_window`` then over repetitions.

    ``time_window`` (ms, see :func:`window_bins` for which bins count; None: all bins):
    Brain-Score uses (50, 200) for FreemanZiemba2013 (1-ms bins) and (70, 170), its
    single bin, for MajajHong2015. ``region``/``animal``: keep the neuroids whose
    ``region``/animal coordinate (:data:`ANIMAL_COORDS`) is one of these;
    ``neuroid_mask``: boolean over the file's neuroids (e.g. reliability > 0.3).
    ``stimuli``: output rows in this order (default: order of first presentation).
    Memory: slabs of ``chunk_mb`` plus the (n_presentations x n_neuroids) float64
    result; FreemanZiemba2013 (1.3 GB as float64) stays well under 1 GB.

    Errors, naming the file: those of :func:`assembly_info` and :func:`window_bins`; a
    region/animal not present (the available ones listed); requested stimuli without
    presentations (named); NaN responses (counted); non-unique neuroid keys.
    """
    info = assembly_info(path, engine=engine)
    bins = window_bins(info, time_window)
    neuroid_pos = _neuroid_positions(info, region, animal, neuroid_mask)
    neuroids = info.neuroids.iloc[neuroid_pos].reset_index(drop=True)
    key = info.neuroid_key_columns
    _check_keys(neuroids, key, info.path)

    ids = info.presentations["stimulus_id"].to_numpy()
    if stimuli is None:
        order = list(pd.unique(ids))
    else:
        order = [str(s) for s in stimuli]
        if len(set(order)) != len(order):
            raise ValueError(f"{info.path}: stimuli requested more than once: {_preview(sorted({s for s in order if order.count(s) > 1}))}")
        missing = sorted(set(order) - set(ids))
        if missing:
            raise ValueError(f"{info.path}: {len(missing)} requested stimulus id(s) have no presentation: {_preview(missing)}")

    values = _time_averaged(info, neuroid_pos, bins, chunk_bytes=int(chunk_mb * 2**20), engine=engine)
    rows = np.flatnonzero(pd.Index(ids).isin(order))
    if rows.size < len(ids):
        values = values[rows]
    _check_finite(values, info, neuroids, key)
    presentations = info.presentations.iloc[rows].reset_index(drop=True)
    means, counts = group_means(values, pd.Index(order).get_indexer(ids[rows]), len(order))
    log.info("%s: %d stimuli x %d neuroids from %d presentations, %d time bin(s)", info.path, len(order), neuroid_pos.size, rows.size, bins.size)
    return StimulusResponses(
        responses=means, n_repetitions=counts.astype(np.int64), stimulus_ids=tuple(order), neuroids=neuroids,
        presentations=presentations, presentation_responses=values if keep_presentations else None,
        time_bins=info.time_bins.iloc[bins].reset_index(drop=True) if len(info.time_bins) else info.time_bins,
        time_window=None if time_window is None else (float(time_window[0]), float(time_window[1])),
        neuroid_key_columns=key, source=info.path,
    )  # fmt: skip
