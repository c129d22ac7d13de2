"""Bootstrap intervals of RSA scores and of contrasts of them.

:func:`bootstrap_ci` resamples stimuli (optionally subjects too) and gives percentile
or BCa intervals (Efron & Tibshirani 1993) of any linear contrast of the models'
scores. The paper's pair bootstrap (``scheme="pairs"``) is available for comparison
only: pairs that share a stimulus are not independent, so resampling them makes the
intervals too narrow.

Each factor that is resampled draws from its own random stream, spawned from the one
seed (:func:`resample_streams`), so that the subjects drawn are independent of the
stimuli drawn.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from lrrsa.rsa import _kernels
from lrrsa.rsa.comparators import _check_method, compare_vectors
from lrrsa.rsa.condensed import condensed, require_stimuli
from lrrsa.rsa.permutation import SCHEMES

CI_METHODS = ("percentile", "bca")
#: Samples within this many ulp (relative) of the estimate count as ties in BCa's bias
#: correction: the samples and the estimate are computed along different paths.
_TIE = 100 * np.finfo(np.float64).eps


@dataclass(frozen=True)
class BootstrapResult:
    """Bootstrap of linear contrasts of the models' scores.

    ``estimate`` (q): the contrasts of the observed scores; ``low``/``high`` (q): the
    interval; ``samples`` (B, q): the bootstrap distribution (NaN where a sample's
    statistic is undefined); ``n_undefined`` (q): how many samples were undefined and
    left out of the interval; ``jackknife`` (n, q): leave-one-stimulus-out values (BCa
    only, else None).
    """

    estimate: np.ndarray
    low: np.ndarray
    high: np.ndarray
    samples: np.ndarray
    jackknife: np.ndarray | None
    ci: str
    level: float
    scheme: str
    n_undefined: np.ndarray


def resample_streams(seed: int) -> tuple[np.random.Generator, np.random.Generator]:
    """Independent generators for the two factors a bootstrap resamples: stimuli (or
    pairs) and subjects, spawned from ``seed`` (``numpy.random.SeedSequence.spawn``)."""
    stimuli, subjects = np.random.SeedSequence(seed).spawn(2)
    return np.random.default_rng(stimuli), np.random.default_rng(subjects)


def bootstrap_indices(n: int, n_bootstrap: int, seed: int = 0) -> np.ndarray:
    """(n_bootstrap, n) stimulus indices drawn with replacement: a function of (n, B, seed)."""
    return resample_streams(seed)[0].integers(0, n, size=(n_bootstrap, n))


def subject_indices(n_subjects: int, n_bootstrap: int, seed: int = 0) -> np.ndarray:
    """(n_bootstrap, n_subjects) subject indices drawn with replacement, from the
    subjects' own stream (independent of :func:`bootstrap_indices` with the same seed)."""
    return resample_streams(seed)[1].integers(0, n_subjects, size=(n_bootstrap, n_subjects))


def contrast(scores: np.ndarray, contrasts: np.ndarray) -> np.ndarray:
    """``scores @ contrasts.T``, each contrast evaluated as (its positive terms) minus
    (its negative terms), every part summed in column order: a difference of two means
    over identical scores is then exactly 0, not a rounding residue."""
    scores = np.atleast_2d(scores)
    out = np.empty((scores.shape[0], contrasts.shape[0]))
    for q, weights in enumerate(contrasts):
        parts = []
        for sign in (weights > 0, weights < 0):
            idx = np.flatnonzero(sign)
            parts.append((scores[:, idx] * np.abs(weights[idx])).sum(axis=1) if idx.size else 0.0)
        out[:, q] = parts[0] - parts[1]
    return out


def _constant(samples: np.ndarray) -> bool:
    return samples.size > 0 and bool(np.all(samples == samples[0]))


def percentile_interval(samples: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval of each column over its defined (not NaN) samples; NaN where
    none is defined."""
    samples = np.atleast_2d(samples.T).T
    alpha = (1 - level) / 2
    bounds = np.full((2, samples.shape[1]), np.nan)
    for c in range(samples.shape[1]):
        column = samples[~np.isnan(samples[:, c]), c]
        if column.size:
            bounds[:, c] = np.quantile(column, [alpha, 1 - alpha])
    return bounds[0], bounds[1]


def _acceleration(jackknife: np.ndarray) -> float:
    """BCa's acceleration from leave-one-out values (the defined ones); 0 where they do
    not vary (no stimulus moves the statistic: no skewness to correct)."""
    values = jackknife[~np.isnan(jackknife)]
    if values.size < 2 or _constant(values):
        return 0.0
    n = values.size
    u = (n - 1) * (values.mean() - values)
    return float((u**3).sum() / n**3 / (6 * ((u**2).sum() / n**2) ** 1.5))


def bca_interval(samples: np.ndarray, estimate: np.ndarray, jackknife: np.ndarray, level: float):
    """Efron's BCa interval (Efron & Tibshirani 1993, 14.3), as scipy.stats.bootstrap
    computes it: bias from the share of samples below the estimate (ties half; values
    within 100 ulp of the estimate are ties), acceleration from the jackknife values.

    Degenerate input: undefined (NaN) samples are left out; a column whose defined
    samples all equal one value v has the interval [v, v]; constant jackknife values
    give acceleration 0; an estimate outside the range of the samples (bias
    correction infinite) or no defined sample gives NaN bounds (as scipy)."""
    samples = np.atleast_2d(samples.T).T
    estimate, jackknife = np.atleast_1d(estimate), np.atleast_2d(jackknife.T).T
    alpha = (1 - level) / 2
    z = special.ndtri(alpha)
    low, high = np.full(samples.shape[1], np.nan), np.full(samples.shape[1], np.nan)
    for c in range(samples.shape[1]):
        column = samples[~np.isnan(samples[:, c]), c]
        if not column.size:
            continue
        if _constant(column):
            low[c] = high[c] = column[0]
            continue
        tie = _TIE * max(abs(estimate[c]), 1.0)  # a sample within rounding of the estimate is a tie
        share = ((column < estimate[c] - tie).sum() + (column <= estimate[c] + tie).sum()) / (2 * column.size)
        z0 = special.ndtri(share)
        a = _acceleration(jackknife[:, c])
        with np.errstate(invalid="ignore", divide="ignore"):
            lo = special.ndtr(z0 + (z0 + z) / (1 - a * (z0 + z)))
            hi = special.ndtr(z0 + (z0 - z) / (1 - a * (z0 - z)))
        if np.isfinite(z0) and np.isfinite(lo) and np.isfinite(hi):
            low[c], high[c] = np.quantile(column, lo), np.quantile(column, hi)
    return low, high


def bootstrap_ci(
    model_rdms, brain_rdm: np.ndarray, *, method: str = "spearman", n_bootstrap: int = 1000, ci: str = "bca",
    level: float = 0.95, seed: int = 0, scheme: str = "stimuli", resample_subjects: bool = False,
    contrasts: np.ndarray | None = None, resamples: np.ndarray | None = None, threads: int | None = None,
    batch: int = 64,
) -> BootstrapResult:
    """Bootstrap intervals of the models' scores, or of contrasts of them.

    scheme ``stimuli``: each sample draws n stimuli with replacement and keeps every
    pair of drawn stimuli except a stimulus with its own duplicate (as rsatoolbox's
    ``subsample_pattern``); pair (i, j) then occurs c_i c_j times, so each sample is a
    weighted version of the original pairs and its Spearman rho is computed from
    weighted mid-ranks, exactly as ``spearmanr`` of the expanded vectors. scheme
    ``pairs`` (the paper; for comparison only) draws m pairs with replacement.
    ``brain_rdm`` (n, n), or (s, n, n) subject RDMs: their mean is the brain RDM, and
    with ``resample_subjects`` each sample also draws s subjects with replacement,
    from a random stream of its own (:func:`resample_streams`). ``contrasts`` (q, k):
    the statistics are ``contrasts @ scores`` (default: each model; :func:`contrast`).
    ``ci``: percentile or bca (BCa's acceleration from the leave-one-stimulus-out
    jackknife; stimuli scheme without subject resampling only). ``resamples``:
    explicit (B, n) stimulus indices instead of drawing them.

    Degenerate input: pairs that are NaN in any RDM are dropped from every sample (so
    every sample scores the pairs the estimate scores). A sample whose statistic is
    undefined (NaN: e.g. at most 2 distinct stimuli drawn, or an RDM constant over the
    drawn pairs) is left out of the interval and counted in ``n_undefined``, as
    rsatoolbox does; with every sample undefined the interval is NaN. A contrast that
    is 0 in every sample (identical models) has the interval [0, 0]. Fewer than 4
    stimuli is a ValueError.
    """
    _check_method(method)
    if ci not in CI_METHODS:
        raise ValueError(f"unknown CI method {ci!r}; expected one of {CI_METHODS}")
    if scheme not in SCHEMES:
        raise ValueError(f"unknown bootstrap scheme {scheme!r}; expected one of {SCHEMES}")
    if not 0 < level < 1:
        raise ValueError("level must be between 0 and 1")
    if ci == "bca" and (scheme != "stimuli" or resample_subjects):
        raise ValueError("BCa needs the stimulus bootstrap without subject resampling (its jackknife "
                         "leaves out one stimulus); use ci='percentile'")
    models, n = condensed(model_rdms)
    require_stimuli(n, "bootstrap_ci")
    subjects, _ = condensed(brain_rdm)
    if subjects.shape[1] != models.shape[1]:
        raise ValueError(f"brain RDMs have {subjects.shape[1]} pairs, the models {models.shape[1]}")
    k, m = models.shape
    contrasts = np.eye(k) if contrasts is None else np.atleast_2d(np.asarray(contrasts, dtype=np.float64))
    if contrasts.shape[1] != k:
        raise ValueError(f"contrasts have {contrasts.shape[1]} columns for {k} models")
    brain = subjects.mean(axis=0)
    base = ~(np.isnan(models).any(axis=0) | np.isnan(subjects).any(axis=0))
    rank = method in ("spearman", "kendall", "kendall_tau_a")
    _kernels.set_threads(threads)
    resample_rng, subject_rng = resample_streams(seed)
    ipair, jpair = _kernels.pair_index(n)

    if method in ("kendall", "kendall_tau_a"):
        def stat(weights: np.ndarray | None, brains: np.ndarray, counts: np.ndarray | None = None) -> np.ndarray:
            if counts is not None:
                weights = counts[:, ipair] * counts[:, jpair] * base
            return _kendall_weighted(models, brains, weights, method)
    else:
        model_info = [_kernels.sort_info(x) for x in models] if rank else None
        brain_info = [_kernels.sort_info(brain)] if rank else None

        def stat(weights: np.ndarray | None, brains: np.ndarray, counts: np.ndarray | None = None) -> np.ndarray:
            info = brain_info if brains.shape[0] == 1 or not rank else [_kernels.sort_info(y) for y in brains]
            return _kernels.weighted_stats(models, brains, weights, rank=rank, model_info=model_info, brain_info=info,
                                           counts=counts, base=base.astype(np.float64))

    estimate_scores = stat(base[None].astype(np.float64), brain[None])[0]

    if scheme == "stimuli":
        if resamples is None:
            resamples = resample_rng.integers(0, n, size=(n_bootstrap, n))
        resamples = np.asarray(resamples)
        n_bootstrap = resamples.shape[0]
    subject_draws = (
        subject_rng.integers(0, subjects.shape[0], size=(n_bootstrap, subjects.shape[0])) if resample_subjects else None
    )
    scores = np.empty((n_bootstrap, k))
    valid = np.flatnonzero(base)
    for start in range(0, n_bootstrap, batch):
        stop = min(start + batch, n_bootstrap)
        counts = weights = None
        if scheme == "stimuli":
            counts = np.stack([np.bincount(r, minlength=n) for r in resamples[start:stop]]).astype(np.float64)
        else:
            weights = np.zeros((stop - start, m))
            for row in range(stop - start):
                weights[row, valid] = np.bincount(resample_rng.integers(0, valid.size, valid.size),
                                                  minlength=valid.size)
        if resample_subjects:
            brains = np.stack([subjects[d].mean(axis=0) for d in subject_draws[start:stop]])
        else:
            brains = brain[None]
        scores[start:stop] = stat(weights, brains, counts)

    samples = contrast(scores, contrasts)
    estimate = contrast(estimate_scores, contrasts)[0]
    n_undefined = np.isnan(samples).sum(axis=0)
    jackknife = None
    if ci == "bca":
        jack = np.empty((n, k))
        for start in range(0, n, batch):
            stop = min(start + batch, n)
            counts = np.ones((stop - start, n))
            counts[np.arange(stop - start), np.arange(start, stop)] = 0.0  # leave one stimulus out
            jack[start:stop] = stat(None, brain[None], counts)
        jackknife = contrast(jack, contrasts)
        low, high = bca_interval(samples, estimate, jackknife, level)
    else:
        low, high = percentile_interval(samples, level)
    return BootstrapResult(estimate, low, high, samples, jackknife, ci, level, scheme, n_undefined)


def _kendall_weighted(models: np.ndarray, brains: np.ndarray, weights: np.ndarray, method: str) -> np.ndarray:
    """Kendall of the expanded multisets (slow path: O(m log m) per sample and model);
    NaN where :func:`lrrsa.rsa.comparators.compare_vectors` is (a constant sample)."""
    out = np.empty((weights.shape[0], models.shape[0]))
    for s, w in enumerate(weights):
        reps = w.astype(np.int64)
        y = np.repeat(brains[s if brains.shape[0] > 1 else 0], reps)
        for c, x in enumerate(models):
            out[s, c] = compare_vectors(np.repeat(x, reps), y, method).rho
    return out


def bootstrap_pvalue(samples: np.ndarray) -> np.ndarray:
    """Two-sided percentile-bootstrap p-value of ``statistic = 0`` per column of
    ``samples`` (B, q): twice the smaller share of samples on either side of 0,
    ``min(1, 2 min(1 + #{x <= 0}, 1 + #{x >= 0}) / (1 + B))`` over the defined samples
    (the test that inverts the percentile interval; Efron & Tibshirani 1993, 16.4).
    NaN where no sample is defined."""
    samples = np.atleast_2d(samples)
    defined = ~np.isnan(samples)
    count = defined.sum(axis=0)
    below = (np.where(defined, samples, np.inf) <= 0).sum(axis=0)
    above = (np.where(defined, samples, -np.inf) >= 0).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.minimum(1.0, 2 * (1 + np.minimum(below, above)) / (1 + count))
    return np.where(count > 0, p, np.nan)

