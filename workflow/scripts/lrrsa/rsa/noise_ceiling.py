"""How well any model could do: noise ceilings, split-half reliability, the
Spearman-Brown prophecy and inter-subject consistency.

- :func:`noise_ceiling`: rsatoolbox's leave-one-subject-out bounds of the
  subject-level scores.
- :func:`split_half_noise_ceiling`: the same bounds for one subject, its reliability
  from its two halves' RDMs.
- :func:`group_noise_ceiling`: the ceiling of scores against the group RDM (the mean
  of the subjects' RDMs), from the subjects' mean pairwise agreement.
- :func:`split_half_reliability`, :func:`spearman_brown`, :func:`inter_subject_consistency`.

Reliabilities at or below zero: a reliability is the share of an RDM's variance that
is shared with a replication, a number in [0, 1]; an estimate at or below 0 says that
nothing is shared, and the Spearman-Brown prophecy of it is 0 (its formula would give
a negative number or divide by zero, e.g. 2r / (1 + r) = -2 at r = -0.5). The raw
correlations (split-half r, inter-subject agreement, the leave-one-subject-out bounds,
which are scores rather than reliabilities) are reported as they are, negative
included.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from lrrsa.rsa.comparators import _check_method, compare_vectors, rsa_score
from lrrsa.rsa.condensed import condensed


def _ranks_nan(v: np.ndarray) -> np.ndarray:
    out = np.full(v.shape, np.nan)
    keep = ~np.isnan(v)
    out[keep] = stats.rankdata(v[keep])
    return out


def pool_rdms(vectors: np.ndarray, method: str) -> np.ndarray:
    """The mean RDM that maximises the average comparison under ``method`` (rsatoolbox's
    ``pool_rdm``): mean ranks for rank methods, mean z-scores for pearson."""
    vectors = np.atleast_2d(vectors)
    if method in ("spearman", "kendall", "kendall_tau_a"):
        vectors = np.array([_ranks_nan(v) for v in vectors])
    else:
        vectors = vectors - np.nanmean(vectors, axis=1, keepdims=True)
        vectors = vectors / np.nanstd(vectors, axis=1, keepdims=True)
    return vectors.mean(axis=0)


@dataclass(frozen=True)
class NoiseCeiling:
    """``lower``: mean over subjects of each subject's RDM against the pooled RDM of
    the others; ``upper``: against the pooled RDM of all subjects. Per-subject values
    in ``lower_subjects`` and ``upper_subjects``."""

    lower: float
    upper: float
    lower_subjects: np.ndarray
    upper_subjects: np.ndarray


def noise_ceiling(subject_rdms, method: str = "spearman") -> NoiseCeiling:
    """Leave-one-subject-out noise ceiling as rsatoolbox's ``boot_noise_ceiling``
    defines it, with the comparator the scores use. With one subject the lower bound is
    NaN. The bounds are scores (correlations), reported as computed: the lower bound
    is negative where the subjects disagree. A constant subject RDM has NaN scores,
    which make the means NaN; leave subjects without data out before calling."""
    _check_method(method)
    vectors, _ = condensed(subject_rdms)
    s = vectors.shape[0]
    pooled_all = pool_rdms(vectors, method)
    upper = np.array([compare_vectors(pooled_all, v, method).rho for v in vectors])
    lower = np.full(s, np.nan)
    if s > 1:
        for i in range(s):
            others = pool_rdms(np.delete(vectors, i, axis=0), method)
            lower[i] = compare_vectors(others, vectors[i], method).rho
    return NoiseCeiling(float(np.mean(lower)) if s > 1 else np.nan, float(np.mean(upper)), lower, upper)


def spearman_brown(r, factor: float = 2.0):
    """Reliability of data ``factor`` times as long: f r / (1 + (f - 1) r), for a
    reliability r in [-1, 1]. r at or below 0 (nothing reliable) gives 0; NaN stays
    NaN. Errors: factor not positive, |r| > 1."""
    if not factor > 0:
        raise ValueError(f"spearman_brown: factor must be positive, got {factor}")
    r = np.asarray(r, dtype=np.float64)
    if np.any(np.abs(r) > 1):
        raise ValueError(f"spearman_brown: a reliability is a correlation in [-1, 1]; got {r[np.abs(r) > 1].ravel()[:3]}")
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(r > 0, factor * r / (1 + (factor - 1) * r), 0.0)
    return np.where(np.isnan(r), np.nan, out)


@dataclass(frozen=True)
class SplitHalf:
    r: float  # the two halves' RDMs compared
    r_corrected: float  # Spearman-Brown: the reliability of the whole data
    n_pairs: int


def split_half_reliability(rdm_a: np.ndarray, rdm_b: np.ndarray, method: str = "spearman") -> SplitHalf:
    """Reliability of an RDM from two independent halves of its trials (odd and even
    sessions): their RDMs compared, Spearman-Brown corrected to the full data (0 where
    the halves' agreement is at or below 0)."""
    score = rsa_score(rdm_a, rdm_b, method)
    return SplitHalf(score.rho, float(spearman_brown(score.rho)), score.n_pairs)


def inter_subject_consistency(subject_rdms, method: str = "spearman") -> np.ndarray:
    """(s, s) matrix of every pair of subjects' RDMs compared (diagonal 1)."""
    vectors, _ = condensed(subject_rdms)
    s = vectors.shape[0]
    out = np.eye(s)
    for a in range(s):
        for b in range(a + 1, s):
            out[a, b] = out[b, a] = compare_vectors(vectors[a], vectors[b], method).rho
    return out


def _to_pearson(r, method: str):
    """A comparator's value as the Pearson r it implies for bivariate normal data:
    Spearman rho_s = (6 / pi) asin(r / 2), Kendall tau = (2 / pi) asin(r) (Greiner)."""
    r = np.asarray(r, dtype=np.float64)
    if method == "pearson":
        return r
    if method == "spearman":
        return 2 * np.sin(np.pi * r / 6)
    return np.sin(np.pi * r / 2)  # kendall (tau-b) and kendall_tau_a


def _from_pearson(r, method: str):
    """Inverse of :func:`_to_pearson`."""
    r = np.asarray(r, dtype=np.float64)
    if method == "pearson":
        return r
    if method == "spearman":
        return 6 / np.pi * np.arcsin(r / 2)
    return 2 / np.pi * np.arcsin(r)


def group_noise_ceiling(mean_inter_subject: float, n_subjects: int, method: str = "spearman") -> tuple[float, float]:
    """Noise ceiling of scores against the group RDM (the mean of ``n_subjects``
    subjects' RDMs), from the subjects' mean pairwise agreement ``mean_inter_subject``.

    Model: subject RDM = true RDM + independent noise of equal variance. The mean
    inter-subject correlation r estimates the reliability of one subject's RDM; the
    group RDM's reliability is its Spearman-Brown prophecy R = n r / (1 + (n - 1) r).
    ``lower`` = R: the expected agreement of the group RDM with the group RDM of n
    other subjects (a replication); ``upper`` = sqrt(R): the expected agreement of the
    true RDM (a perfect model) with the group RDM, which no model independent of the
    subjects' noise exceeds in expectation. For rank comparators r is converted to
    Pearson's scale and the bounds back to the comparator's (bivariate-normal
    relations). With r <= 0 (no shared structure) both are 0; with one subject, NaN.
    """
    if n_subjects < 2 or not np.isfinite(mean_inter_subject):
        return np.nan, np.nan
    r = float(np.clip(_to_pearson(mean_inter_subject, method), -1.0, 1.0))
    return _reliability_bounds(float(spearman_brown(r, n_subjects)), method)


def _reliability_bounds(reliability: float, method: str) -> tuple[float, float]:
    """(R, sqrt(R)) on the comparator's scale, for a reliability R on Pearson's."""
    return float(_from_pearson(reliability, method)), float(_from_pearson(np.sqrt(reliability), method))


def split_half_noise_ceiling(split_half_r: float, method: str = "spearman") -> tuple[float, float]:
    """Noise ceiling of scores against one subject's RDM from the agreement ``split_half_r``
    of its two halves' RDMs (odd vs even sessions or repetitions): the bounds of
    :func:`group_noise_ceiling` with the data's reliability R taken from the split
    halves, R = Spearman-Brown(r, 2), instead of from other subjects. ``upper`` = sqrt(R),
    the expected score of the true RDM (Spearman's correction for attenuation);
    ``lower`` = R, the expected score of a replication. What a run with one subject (a
    recording without an animal coordinate, its neuroids pooled) has instead of an
    inter-subject ceiling. Rank comparators go through Pearson's scale as there; r <= 0
    gives 0, NaN gives NaN.
    """
    if not np.isfinite(split_half_r):
        return np.nan, np.nan
    r = float(np.clip(_to_pearson(split_half_r, method), -1.0, 1.0))
    return _reliability_bounds(float(spearman_brown(r, 2.0)), method)
