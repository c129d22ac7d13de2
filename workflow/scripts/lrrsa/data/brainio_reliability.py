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

:func:`reliable_neuroids` selects the neuroids whose reliability is above a threshold,
per animal, as Brain-Score's Papale2025 benchmark does (> 0.3): from this split-half
reliability (``method="split_half"``) or from a reliability stored in the file
(``method="coordinate"``: Papale2025's ``reliability`` neuroid coordinate, which is
what Brain-Score itself compares; see :mod:`lrrsa.data.brainio_catalog`).

Random draws differ from Brain-Score's (numpy Generator vs. scikit-learn's
RandomState), so values agree in distribution, not digit for digit.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from lrrsa.data.brainio_responses import StimulusResponses, group_means

__all__ = [
    "Reliability",
    "ReliableNeuroids",
    "internal_consistency",
    "reliable_neuroids",
    "repetition_labels",
    "split_half_reliability",
    "split_labels",
]

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


# ------------------------------------------------------------ reliable neuroids


@dataclass(frozen=True, eq=False)
class ReliableNeuroids:
    """Per-neuroid reliability and the neuroids above a threshold (:func:`reliable_neuroids`).

    ``reliability`` (n_neuroids,) float64, in the column order of the responses:
    split-half, Spearman-Brown corrected r averaged over splits (``method
    "split_half"``, unitless, at most 1, may be negative; NaN for a neuroid constant
    in a half) or the stored coordinate (``"coordinate"``). ``mask`` (n_neuroids,)
    bool: ``reliability > threshold`` (strictly, as Brain-Score; NaN is never above).
    ``neuroids``: the responses' neuroid table plus columns ``reliability`` and
    ``reliable``. ``summary``: one row per (animal, region) (columns as present)
    with ``n_neuroids``, ``n_reliable`` and ``median_reliability``.
    ``per_animal``: animal -> its :class:`Reliability` (split-half only; key None
    without an animal coordinate), whose ``value`` is that animal's internal
    consistency (mean over splits of the median over its neuroids).
    """

    reliability: np.ndarray
    mask: np.ndarray
    threshold: float
    method: str
    neuroids: pd.DataFrame
    neuroid_key_columns: tuple[str, ...]
    animal_coord: str | None
    summary: pd.DataFrame
    per_animal: dict
    source: object

    @property
    def keys(self) -> pd.MultiIndex:
        """Keys (animal, neuroid_id) of the reliable neuroids (neuroid_id alone without animal)."""
        cols = list(self.neuroid_key_columns)
        return pd.MultiIndex.from_frame(self.neuroids.loc[self.mask, cols])

    def mask_for(self, neuroids: pd.DataFrame, *, unevaluated: str = "error") -> np.ndarray:
        """Boolean mask over the rows of another neuroid table (e.g. ``assembly_info(train).neuroids``,
        to pass as ``stimulus_responses(..., neuroid_mask=...)``), matched by key columns.

        Papale2025's reliability comes from the test assembly (repetitions) and is
        applied to the train assembly (one presentation each) by this. ``unevaluated``:
        a row whose key was not evaluated here is an error (``"error"``, naming up to 5
        keys) or not selected (``"exclude"``). Errors: a key column missing.
        """
        cols = list(self.neuroid_key_columns)
        missing = [c for c in cols if c not in neuroids.columns]
        if missing:
            raise ValueError(f"neuroid table has no {', '.join(missing)} column(s) to match the reliability keys {cols}")
        if unevaluated not in ("error", "exclude"):
            raise ValueError(f"unevaluated must be 'error' or 'exclude'; got {unevaluated!r}")
        def as_keys(table):
            return pd.MultiIndex.from_frame(table[cols].astype(str))
        evaluated = as_keys(self.neuroids)
        other = as_keys(neuroids)
        unknown = ~other.isin(evaluated)
        if unknown.any() and unevaluated == "error":
            names = [tuple(k) for k in other[unknown][:5]]
            raise ValueError(
                f"{int(unknown.sum())} neuroid(s) of the table were not evaluated for reliability "
                f"(keys {', '.join(cols)}: {names}{', ...' if unknown.sum() > 5 else ''}); pass unevaluated='exclude' to leave them out"
            )
        return other.isin(evaluated[self.mask])


def _summary(table: pd.DataFrame, animal_coord: str | None) -> pd.DataFrame:
    groups = [c for c in (animal_coord, "region") if c is not None and c in table.columns]
    agg = {"n_neuroids": ("reliable", "size"), "n_reliable": ("reliable", "sum"), "median_reliability": ("reliability", "median")}
    if not groups:
        return table.assign(_all=0).groupby("_all").agg(**agg).reset_index(drop=True)
    out = table.groupby(groups, sort=True, dropna=False).agg(**agg).reset_index()
    out["n_reliable"] = out["n_reliable"].astype(np.int64)
    return out


def reliable_neuroids(
    responses: StimulusResponses,
    threshold: float = 0.3,
    *,
    method: str = "split_half",
    coordinate: str = "reliability",
    n_splits: int = 10,
    seed: int = 0,
) -> ReliableNeuroids:
    """Reliability of each neuroid of ``responses`` and the mask of those strictly above ``threshold``, per animal.

    Source: Brain-Score vision's Papale2025 benchmark (``benchmarks/papale2025/benchmark.py``:
    ``filter_reliable_neuroids(assembly, 0.3, 'reliability')`` keeps ``reliability > 0.3``,
    the same threshold for both monkeys). ``method``:

    - ``"split_half"``: Brain-Score's internal consistency per neuroid
      (:func:`internal_consistency`: ``n_splits`` random halves of the repetition
      labels, Pearson r across stimuli, Spearman-Brown n = 2, mean over splits),
      computed separately for each animal (the animal coordinate of the responses;
      all neuroids together without one) with the same ``seed``. Needs the
      per-presentation responses (``stimulus_responses(keep_presentations=True)``)
      of an assembly with at least 2 repetitions of at least 3 stimuli (Papale2025:
      the test assembly).
    - ``"coordinate"``: the neuroid coordinate ``coordinate`` stored in the file, as
      Brain-Score compares it (Papale2025: ``reliability``, the TVSD authors' value).

    ``threshold``: unitless correlation (Papale2025: 0.3). Returns a
    :class:`ReliableNeuroids` (arrays of shape (n_neuroids,), columns of ``responses``).

    Errors (``ValueError``, naming the file): an unknown method, a non-finite
    threshold, a missing or non-numeric coordinate (the available ones listed), and
    those of :func:`internal_consistency` (per-presentation responses not kept, fewer
    than 2 repetitions, fewer than 3 stimuli in both halves of a split).
    """
    source = responses.source
    if method not in ("split_half", "coordinate"):
        raise ValueError(f"{source}: method must be 'split_half' or 'coordinate'; got {method!r}")
    threshold = float(threshold)
    if not math.isfinite(threshold):
        raise ValueError(f"{source}: reliability threshold must be finite; got {threshold}")
    table = responses.neuroids.reset_index(drop=True)
    key = tuple(responses.neuroid_key_columns)
    animal_coord = key[0] if len(key) > 1 else None
    per_animal: dict = {}
    if method == "coordinate":
        if coordinate not in table.columns:
            raise ValueError(f"{source}: no neuroid coordinate {coordinate!r} holding a reliability; neuroid coordinates: {', '.join(map(str, table.columns))}")
        try:
            reliability = table[coordinate].to_numpy(dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"{source}: neuroid coordinate {coordinate!r} is not numeric (dtype {table[coordinate].dtype})") from None
    else:
        reliability = np.full(len(table), np.nan)
        animals = [None] if animal_coord is None else list(pd.unique(table[animal_coord]))
        for animal in animals:
            cols = np.arange(len(table)) if animal is None else np.flatnonzero((table[animal_coord] == animal).to_numpy())
            subset = responses if animal is None else replace(
                responses, responses=responses.responses[:, cols], neuroids=table.iloc[cols].reset_index(drop=True),
                presentation_responses=None if responses.presentation_responses is None else responses.presentation_responses[:, cols])
            result = internal_consistency(subset, n_splits=n_splits, seed=seed)
            reliability[cols] = result.per_neuroid
            per_animal[animal] = result
    with np.errstate(invalid="ignore"):
        mask = reliability > threshold
    table = table.assign(reliability=reliability, reliable=mask)
    return ReliableNeuroids(
        reliability=reliability, mask=mask, threshold=threshold, method=method, neuroids=table,
        neuroid_key_columns=key, animal_coord=animal_coord, summary=_summary(table, animal_coord),
        per_animal=per_animal, source=source,
    )  # fmt: skip
