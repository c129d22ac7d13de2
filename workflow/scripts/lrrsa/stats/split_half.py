"""Each subject's RDMs of the repeated stimuli from odd and from even sessions, for
split-half reliability (:mod:`lrrsa.stats.noise_ceiling_table`)."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


def write_split_half_rdms(
    betas_dir: Path, subjects: Sequence[str], roi_columns: Sequence[str], out: Path, *, zscore: bool,
    min_nc_testset: float | None, metric: str,
) -> None:
    """Each subject's RDMs of the repeated (test) stimuli from odd and from even sessions.

    The stimuli are the distinct test-trial images that every subject saw in both
    halves; the patterns are z-scored as the main RDMs (over all trials), then
    averaged within each half (:func:`lrrsa.data.things_fmri.split_half_patterns`).
    Writes ``odd``, ``even`` (s, n, n), ``stimuli`` and ``subjects`` to an ``.npz``.
    A subject without voxels in the ROI gets NaN RDMs (its reliability is undefined;
    the other subjects' are computed).
    """
    from lrrsa.data.things_fmri import EmptyRoiError, read_stimulus_metadata, split_half_patterns, subject_files
    from lrrsa.rsa.rdm import rdm

    stimuli: list[str] | None = None
    for subject in subjects:
        meta = read_stimulus_metadata(subject_files(betas_dir, subject).stimulus_metadata)
        test = meta[meta["trial_type"] == "test"]
        seen = {s for s, g in test.groupby("stimulus")["session"] if (g % 2 == 1).any() and (g % 2 == 0).any()}
        stimuli = sorted(seen) if stimuli is None else [s for s in stimuli if s in seen]
    stimuli = stimuli or []
    odd, even = [], []
    for subject in subjects:
        if len(stimuli) < 3:
            break
        try:
            halves = split_half_patterns(Path(betas_dir), subject, roi_columns, stimuli, zscore=zscore,
                                         min_nc_testset=min_nc_testset)
        except EmptyRoiError as error:
            log.warning("%s: no voxels in ROI %s (%s): its split-half RDMs are NaN", subject, "|".join(roi_columns),
                        error)
            odd.append(np.full((len(stimuli), len(stimuli)), np.nan))
            even.append(np.full((len(stimuli), len(stimuli)), np.nan))
            continue
        odd.append(rdm(halves.odd, metric))
        even.append(rdm(halves.even, metric))
        log.info("%s %s: %d voxels, %d repeated stimuli", subject, "|".join(roi_columns), halves.odd.shape[1],
                 len(stimuli))
    if len(stimuli) < 3:
        log.warning("fewer than 3 stimuli with trials in odd and even sessions: no split-half reliability")
        odd = even = np.zeros((len(subjects), 0, 0))
    out = Path(out)
    tmp = out.with_name(out.name + ".tmp.npz")
    np.savez(tmp, odd=np.asarray(odd, dtype=np.float64), even=np.asarray(even, dtype=np.float64),
             stimuli=np.asarray(stimuli, dtype=str), subjects=np.asarray(list(subjects), dtype=str))
    os.replace(tmp, out)
