"""Trial-averaged ROI patterns of a subject: the paper's preprocessing (z-score every voxel,
then average the trials of each stimulus), chunk by chunk over the ROI's voxel rows, for
all sessions (:func:`stimulus_patterns`) or odd and even sessions apart
(:func:`split_half_patterns`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from lrrsa.data.things_fmri._common import _VOXEL_ID, _preview
from lrrsa.data.things_fmri.files import subject_files, subject_label
from lrrsa.data.things_fmri.metadata import read_stimulus_metadata, read_voxel_metadata
from lrrsa.data.things_fmri.responses import read_rows
from lrrsa.data.things_fmri.rois import voxel_selection
from lrrsa.data.things_fmri.zscore import ZSCORE_TRIALS, _zscore_groups, _zscore_inplace


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
