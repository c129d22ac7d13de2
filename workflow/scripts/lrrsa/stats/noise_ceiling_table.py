"""``noise_ceiling.tsv``: per ROI the noise ceilings of the subject-level scores and of
the group RDM's scores, inter-subject agreement and split-half reliability
(:mod:`lrrsa.rsa.noise_ceiling`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from lrrsa.rdm_io import load_rdm
from lrrsa.rsa.comparators import upper_triangle
from lrrsa.rsa.noise_ceiling import (group_noise_ceiling, inter_subject_consistency, noise_ceiling,
                                     split_half_noise_ceiling, split_half_reliability)
from lrrsa.tsv import write_table

COLUMNS = ["roi", "subject", "lower", "upper", "inter_subject_rho", "split_half_r", "split_half_r_corrected",
           "n_stimuli", "n_split_half_stimuli", "n_subjects"]


def _nanmean(values: np.ndarray) -> float:
    return float(np.nanmean(values)) if np.isfinite(values).any() else np.nan


def _split_halves(path: Path, subjects: Sequence[str], used: Sequence[str], method: str):
    """Per subject the split-half r and its Spearman-Brown correction, the group's
    (mean odd vs mean even RDM of the subjects with data), and the stimuli count."""
    halves = {"r": np.full(len(subjects), np.nan), "sb": np.full(len(subjects), np.nan)}
    group_half = (np.nan, np.nan)
    with np.load(path) as data:
        split_subjects = data["subjects"].tolist()
        n_split = int(data["odd"].shape[1]) if data["odd"].ndim == 3 else 0
        if n_split < 3:
            return halves, group_half, n_split
        for i, s in enumerate(subjects):
            if s in split_subjects:
                j = split_subjects.index(s)
                half = split_half_reliability(data["odd"][j], data["even"][j], method)
                halves["r"][i], halves["sb"][i] = half.r, half.r_corrected
        found = [split_subjects.index(s) for s in used if s in split_subjects]
        if found:
            half = split_half_reliability(data["odd"][found].mean(axis=0), data["even"][found].mean(axis=0), method)
            group_half = (half.r, half.r_corrected)
    return halves, group_half, n_split


def noise_ceiling_table(
    subject_rdms: Mapping[str, Mapping[str, Path]], split_half: Mapping[str, Path] | None, method: str,
) -> pd.DataFrame:
    """noise_ceiling.tsv: per ROI, each subject and their ``mean``: the lower bound
    (subject vs the pooled RDM of the others) and upper bound (vs the pooled RDM of
    all), the mean agreement with the other subjects, and the split-half reliability
    of the subject's RDM (odd vs even sessions on the repeated stimuli), raw and
    Spearman-Brown corrected (0 where the raw r is at or below 0). Row ``group`` bounds
    the scores against the group RDM (:func:`lrrsa.rsa.noise_ceiling.group_noise_ceiling`
    of the mean inter-subject agreement, or with one subject
    :func:`lrrsa.rsa.noise_ceiling.split_half_noise_ceiling` of its split halves); its
    split-half columns compare the subjects' mean odd-session RDM with their mean even one.

    ``n_subjects``: the subjects with data in the ROI, whom the bounds pool. A subject
    whose RDM has no dissimilarity (no voxels in the ROI) has a row of NaN with
    ``n_subjects`` 0 and is left out of the others' bounds and of the group row."""
    rows = []
    for roi, paths in subject_rdms.items():
        subjects = list(paths)
        loaded = [load_rdm(paths[s]) for s in subjects]
        stimuli = loaded[0][1]
        for (_, ids), s in zip(loaded, subjects):
            if list(ids) != list(stimuli):
                raise ValueError(f"{paths[s]}: its stimuli differ from {paths[subjects[0]]}")
        rdms = np.stack([r for r, _ in loaded])
        has_data = np.array([(~np.isnan(upper_triangle(r))).any() for r in rdms])
        used = [s for s, h in zip(subjects, has_data) if h]
        n_used = len(used)
        lower, upper, others = (np.full(len(subjects), np.nan) for _ in range(3))
        mean_agreement = np.nan
        if n_used:
            ceiling = noise_ceiling(rdms[has_data], method)
            lower[has_data], upper[has_data] = ceiling.lower_subjects, ceiling.upper_subjects
            if n_used > 1:
                consistency = inter_subject_consistency(rdms[has_data], method)
                others[has_data] = (consistency.sum(axis=1) - 1) / (n_used - 1)
                mean_agreement = float(np.mean(consistency[np.triu_indices(n_used, k=1)]))
        halves = {"r": np.full(len(subjects), np.nan), "sb": np.full(len(subjects), np.nan)}
        group_half, n_split = (np.nan, np.nan), 0
        if split_half is not None and roi in split_half:
            halves, group_half, n_split = _split_halves(split_half[roi], subjects, used, method)
        for i, s in enumerate(subjects):
            rows.append([roi, s, lower[i], upper[i], others[i], halves["r"][i], halves["sb"][i], len(stimuli), n_split,
                         n_used if has_data[i] else 0])
        mean_lower = float(np.mean(lower[has_data])) if n_used > 1 else np.nan
        mean_upper = float(np.mean(upper[has_data])) if n_used else np.nan
        rows.append([roi, "mean", mean_lower, mean_upper, _nanmean(others), _nanmean(halves["r"]),
                     _nanmean(halves["sb"]), len(stimuli), n_split, n_used])
        group_lower, group_upper = group_noise_ceiling(mean_agreement, n_used, method)
        if n_used == 1:  # the group RDM is the one subject's: its reliability from its halves
            group_lower, group_upper = split_half_noise_ceiling(group_half[0], method)
        rows.append([roi, "group", group_lower, group_upper, mean_agreement, *group_half, len(stimuli), n_split, n_used])
    return pd.DataFrame(rows, columns=COLUMNS)


def write_noise_ceiling(rois: Sequence[str], subjects: Sequence[str], subject_paths: Sequence[Path],
                        split_half_paths: Sequence[Path], out: Path, *, method: str) -> None:
    """``subject_paths`` ROI-major (every subject of the first ROI, then the next);
    ``split_half_paths`` one per ROI, or empty where there are none (an rdm_set)."""
    paths = iter(subject_paths)
    by_roi = {roi: {s: Path(next(paths)) for s in subjects} for roi in rois}
    split = dict(zip(rois, map(Path, split_half_paths))) if split_half_paths else None
    write_table(noise_ceiling_table(by_roi, split, method), out)
