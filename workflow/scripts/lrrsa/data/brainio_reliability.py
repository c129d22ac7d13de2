"""Split-half reliability of recorded neuroids, as Brain-Score's "internal consistency".

Source: Brain-Score vision, ``brainscore_vision/metrics/internal_consistency/ceiling.py``
(``InternalConsistency``: ``_SplitHalvesConsistency`` with ``CrossValidationSingle(
train_size=0.5, split_coord='repetition', unique_split_values=True)``, 10 splits;
``PearsonCorrelation`` across stimuli per neuroid; ``SpearmanBrownCorrection`` with
n = 2; aggregate: median over neuroids; the score: mean over splits). The protocol
here, exactly (a test re-implements it):

1. Repetition labels: the ``repetition`` coordinate of each presentation, or (when
   there is none) its occurrence number within its stimulus, 0, 1, ... in file order.
2. For each of ``n_splits`` splits, with ``rng = np.random.default_rng(seed)``:
   ``perm = rng.permutation(n)`` over the n sorted distinct labels; half A = the labels
   at ``perm[: n // 2]``, half B = the rest (as scikit-learn's ShuffleSplit with
   train_size 0.5: the same split of repetition labels for every stimulus).
3. Per half, the mean response of each stimulus over its presentations with a label in
   the half; stimuli without a presentation in both halves are left out of that split.
4. Per neuroid, Pearson r across stimuli between the two half means; Spearman-Brown
   for n = 2: ``2 r / (1 + r)`` (not clipped at 0, as in Brain-Score; contrast
   :func:`lrrsa.rsa.noise_ceiling.spearman_brown`, which maps r <= 0 to 0).
5. Per split, the median over neuroids (NaN, from a constant half, skipped); the
   reliability is the mean over splits. Per neuroid, the mean over splits is returned
   too, to select neuroids (e.g. reliability > 0.3, as Papale2025/TVSD).

Random draws differ from Brain-Score's (numpy Generator vs. scikit-learn's
RandomState), so values agree in distribution, not digit for digit.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lrrsa.data.brainio_responses import StimulusResponses, group_means

__all__ = ["Reliability", "internal_consistency", "repetition_labels", "split_half_reliability", "split_labels"]

_MIN_STIMULI = 3


@dataclass(frozen=True, eq=False)
class Reliability:
    """Split-half reliability (Spearman-Brown corrected, n = 2).

    ``value``: mean over splits of the median over neuroids. ``per_split`` (n_splits,);
    ``per_neuroid`` (n_neuroids,): mean over splits; ``per_split_neuroid``
    (n_splits x n_neuroids); ``n_stimuli`` (n_splits,): stimuli in both halves.
    """

    value: float
    per_split: np.ndarray
    per_neuroid: np.ndarray
    per_split_neuroid: np.ndarray
    n_stimuli: np.ndarray
    n_splits: int
    seed: int


def repetition_labels(stimulus_ids: Sequence[str] | np.ndarray, repetitions: Sequence | np.ndarray | None = None) -> np.ndarray:
    """Each presentation's repetition label: ``repetitions`` as given, else its
    occurrence number (0, 1, ...) among its stimulus's presentations in input order."""
    if repetitions is not None:
        return np.asarray(repetitions)
    return pd.Series(np.asarray(stimulus_ids)).groupby(np.asarray(stimulus_ids), sort=False).cumcount().to_numpy()


def split_labels(labels: np.ndarray, n_splits: int = 10, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """``n_splits`` random halves (A, B) of the distinct ``labels`` (A: floor(n / 2) of them).
    Error: fewer than 2 distinct labels."""
    unique = np.unique(labels)
    if unique.size < 2:
        raise ValueError(f"split-half reliability needs at least 2 repetitions; found {unique.size} distinct repetition label(s)")
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_splits):
        perm = rng.permutation(unique.size)
        out.append((unique[perm[: unique.size // 2]], unique[perm[unique.size // 2:]]))
    return out


def _pearson_columns(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson r of each column of ``a`` with the same column of ``b`` (rows: stimuli)."""
    a = a - a.mean(axis=0)
    b = b - b.mean(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (a * b).sum(axis=0) / np.sqrt((a * a).sum(axis=0) * (b * b).sum(axis=0))


def split_half_reliability(
    values: np.ndarray,
    stimulus_ids: Sequence[str] | np.ndarray,
    repetitions: Sequence | np.ndarray | None = None,
    *,
    n_splits: int = 10,
    seed: int = 0,
) -> Reliability:
    """Brain-Score's internal consistency of ``values`` (n_presentations x n_neuroids,
    e.g. time-averaged responses), protocol in the module docstring.

    Errors: shapes that disagree, fewer than 2 repetition labels, a split leaving
    fewer than 3 stimuli with presentations in both halves.
    """
    values = np.asarray(values, dtype=np.float64)
    ids = np.asarray(stimulus_ids)
    if values.ndim != 2 or ids.shape != (values.shape[0],):
        raise ValueError(f"values must be (n_presentations x n_neuroids) with one stimulus id per row; got {values.shape} and {ids.shape}")
    labels = repetition_labels(ids, repetitions)
    if labels.shape != ids.shape:
        raise ValueError(f"repetitions has shape {labels.shape}; expected {ids.shape}")
    codes, uniques = pd.factorize(ids)
    per_split_neuroid = np.empty((n_splits, values.shape[1]))
    n_stimuli = np.empty(n_splits, dtype=np.int64)
    for s, (half_a, half_b) in enumerate(split_labels(labels, n_splits, seed)):
        means, counts = [], []
        for half in (half_a, half_b):
            rows = np.isin(labels, half)
            m, c = group_means(values[rows], codes[rows], len(uniques))
            means.append(m)
            counts.append(c)
        both = (counts[0] > 0) & (counts[1] > 0)
        n_stimuli[s] = int(both.sum())
        if n_stimuli[s] < _MIN_STIMULI:
            raise ValueError(f"split {s}: only {n_stimuli[s]} stimuli have presentations in both halves (need {_MIN_STIMULI})")
        r = _pearson_columns(means[0][both], means[1][both])
        with np.errstate(invalid="ignore", divide="ignore"):
            per_split_neuroid[s] = 2 * r / (1 + r)
    with warnings.catch_warnings():  # an all-NaN neuroid (constant responses) stays NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        per_split = np.nanmedian(per_split_neuroid, axis=1)
        per_neuroid = np.nanmean(per_split_neuroid, axis=0)
    return Reliability(float(np.mean(per_split)), per_split, per_neuroid, per_split_neuroid, n_stimuli, n_splits, seed)


def internal_consistency(responses: StimulusResponses, *, n_splits: int = 10, seed: int = 0) -> Reliability:
    """:func:`split_half_reliability` of a :func:`~lrrsa.data.brainio_responses.stimulus_responses`
    result (its per-presentation responses, ``stimulus_id`` and ``repetition``).
    Error, naming the file: the per-presentation responses were not kept."""
    if responses.presentation_responses is None:
        raise ValueError(f"{responses.source}: per-presentation responses were not kept (stimulus_responses(keep_presentations=True))")
    table = responses.presentations
    reps = table["repetition"].to_numpy() if "repetition" in table.columns else None
    try:
        return split_half_reliability(responses.presentation_responses, table["stimulus_id"].to_numpy(), reps,
                                      n_splits=n_splits, seed=seed)
    except ValueError as exc:
        raise ValueError(f"{responses.source}: {exc}") from None
