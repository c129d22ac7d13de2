"""Mantel permutation tests of model RDMs against a brain RDM.

:func:`permutation_test` permutes the brain RDM's stimulus labels (rows and columns
together) for k model RDMs at once, with the p-values of every pairwise difference
under the same permutations (:func:`mantel_pvalues`). The null is "the stimuli are
exchangeable": no model shares stimulus structure with the brain.

The paper's pair-shuffling test (``scheme="pairs"``) is available for comparison
only: pairs that share a stimulus are not independent, so shuffling them makes the
null distribution too narrow and the p-values too small (see ``docs/STATISTICS.md``
and the null-calibration test in ``tests/test_stats_inference.py``).

Where a GPU is present (``device="cuda"`` or ``"auto"``) the null runs in torch on it
and gives the same numbers (float64).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from lrrsa.rsa import _kernels
from lrrsa.rsa.comparators import _check_method, compare_vectors, upper_triangle
from lrrsa.rsa.condensed import condensed, prepared, require_stimuli
from lrrsa.rsa.missing import brain_builder, builder, missing_stimuli, model_classes, null_dots_dropping
from lrrsa.rsa.rdm import resolve_device

log = logging.getLogger(__name__)

#: What permutation tests and bootstraps resample: stimuli (rows and columns of the
#: RDM together; the default, correct) or pairs (the paper's choice, for comparison).
SCHEMES = ("stimuli", "pairs")


def permutation_indices(n: int, n_permutations: int, seed: int = 0) -> np.ndarray:
    """(n_permutations, n) int32 stimulus permutations: a function of (n, N, seed) only,
    so tests of different models, subjects or ROIs with one seed use the same ones."""
    rng = np.random.default_rng(seed)
    return rng.permuted(np.tile(np.arange(n, dtype=np.int32), (n_permutations, 1)), axis=1)


def with_identity(n: int, n_permutations: int, seed: int) -> np.ndarray:
    """The identity (row 0: the observed statistic) above :func:`permutation_indices`."""
    return np.vstack([np.arange(n, dtype=np.int32)[None], permutation_indices(n, n_permutations, seed)])


def _pair_shuffles(m: int, n_permutations: int, seed: int):
    """Batches of independent shuffles of the m pairs (the paper's scheme)."""
    rng = np.random.default_rng(seed)
    batch = max(1, min(n_permutations, 2**22 // max(m, 1)))
    for start in range(0, n_permutations, batch):
        size = min(batch, n_permutations - start)
        yield start, rng.permuted(np.tile(np.arange(m, dtype=np.int64), (size, 1)), axis=1)


def pair_shuffle_dots(rows: np.ndarray, y: np.ndarray, n_permutations: int, seed: int) -> np.ndarray:
    """(N + 1, r): row 0 the dot products of ``rows`` (r, m) with ``y`` (m,), then with
    each of the paper's pair shuffles of ``y``."""
    dots = np.empty((n_permutations + 1, rows.shape[0]))
    dots[0] = rows @ y
    for start, shuffles in _pair_shuffles(y.size, n_permutations, seed):
        dots[1 + start : 1 + start + len(shuffles)] = y[shuffles] @ rows.T
    return dots


def mantel_pvalues(observed: np.ndarray, null: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """p = (1 + #{null >= observed}) / (1 + N) per column (one-sided, greater), and the
    two-sided p of every difference ``observed[a] - observed[b]`` against
    ``null[:, a] - null[:, b]``. Values within 100 ulp of the observed count as ties
    (as scipy.stats.permutation_test does), so rounding never decides a p-value: two
    identical models have p = 1 for their difference.

    Degenerate input: an undefined observed value (NaN) has p NaN; permutations under
    which the statistic is undefined (NaN in ``null``, e.g. a constant vector over the
    pairs a permutation keeps) are left out, N counting only the defined ones.
    """
    observed = np.asarray(observed, dtype=np.float64)
    null = np.asarray(null, dtype=np.float64)
    k = null.shape[1]
    eps = 100 * np.finfo(np.float64).eps
    gamma = eps * np.maximum(np.abs(observed), 1.0)
    with np.errstate(invalid="ignore"):
        p = (1 + (null >= observed - gamma).sum(axis=0)) / (1 + (~np.isnan(null)).sum(axis=0))
        p_diff = np.ones((k, k))
        for a in range(k):
            d_obs = np.abs(observed[a] - observed)
            d_null = np.abs(null[:, [a]] - null)
            exceed = (d_null >= d_obs - eps * np.maximum(d_obs, 1.0)).sum(axis=0)
            p_diff[a] = (1 + exceed) / (1 + (~np.isnan(d_null)).sum(axis=0))
            p_diff[a, a] = 1.0
    undefined = np.isnan(observed)
    p[undefined] = np.nan
    p_diff[undefined, :] = np.nan
    p_diff[:, undefined] = np.nan
    return p, p_diff


@dataclass(frozen=True)
class PermutationResult:
    """A Mantel test of k models against one brain RDM.

    ``rho`` (k): observed scores; ``p`` (k): one-sided p (rho > 0); ``p_diff`` (k, k):
    two-sided p of rho_a - rho_b; ``null`` (N, k): the scores under each permutation;
    ``n_pairs``: pairs the observed scores use (the fewest over the models where their
    missing pairs differ).
    """

    rho: np.ndarray
    p: np.ndarray
    p_diff: np.ndarray
    null: np.ndarray
    n_pairs: int
    method: str
    scheme: str

    @property
    def n_permutations(self) -> int:
        return self.null.shape[0]

    def combine(self, weights: np.ndarray) -> PermutationResult:
        """The test of linear combinations of the models' scores (rows of ``weights``,
        e.g. the mean over a condition's seeds) under the same permutations."""
        weights = np.atleast_2d(np.asarray(weights, dtype=np.float64))
        rho = weights @ self.rho
        null = self.null @ weights.T
        p, p_diff = mantel_pvalues(rho, null)
        return type(self)(rho, p, p_diff, null, self.n_pairs, self.method, self.scheme)


def permutation_test(
    model_rdms, brain_rdm: np.ndarray, n_permutations: int = 10000, seed: int = 0, *,
    method: str = "spearman", scheme: str = "stimuli", device: str = "cpu", threads: int | None = None,
) -> PermutationResult:
    """Mantel test of k model RDMs against one brain RDM.

    scheme ``stimuli`` (default) applies the same random relabelling of the stimuli to
    the rows and columns of the brain RDM; ``pairs`` shuffles its upper triangle (the
    paper's test: anti-conservative, for comparison only). Spearman ranks each vector
    once: a permutation of the stimuli permutes the ranks, so every null score is a
    dot product, computed by a compiled loop (or torch on a GPU) for all k models at
    once. ``model_rdms``: (n, n), (k, n, n) or a sequence; ``threads``: numba
    threads (None: all cores).

    Missing pairs (NaN) are dropped from every score, observed and permuted, and the
    ranks are those of the pairs kept: each permutation is scored exactly as
    ``rsa_score`` would score the model against the permuted brain RDM. Where the NaN
    entries are whole stimuli (NaN rows and columns: a stimulus with constant
    features) the null stays on the compiled path (:mod:`lrrsa.rsa.missing`); other
    NaN patterns, and Kendall, re-score every permutation (exact, slow). Under
    ``pairs`` the pairs missing in any RDM are left out before the shuffle.

    Degenerate input: a model (or brain) RDM that is constant over the kept pairs
    has rho NaN and p NaN (not 0 and 1); fewer than 4 stimuli is a ValueError.
    """
    _check_method(method)
    if scheme not in SCHEMES:
        raise ValueError(f"unknown permutation scheme {scheme!r}; expected one of {SCHEMES}")
    if n_permutations < 1:
        raise ValueError("n_permutations must be at least 1")
    models, n = condensed(model_rdms)
    require_stimuli(n, "permutation_test")
    brain = upper_triangle(np.asarray(brain_rdm, dtype=np.float64))
    if brain.size != models.shape[1]:
        raise ValueError(f"brain RDM has {brain.size} pairs, the models {models.shape[1]}")
    _kernels.set_threads(threads)
    present = ~(np.isnan(models) | np.isnan(brain))
    n_pairs = int(present.sum(axis=1).min())
    dot_products = method in ("spearman", "pearson")
    if scheme == "pairs":
        keep = present.all(axis=0)
        n_pairs = int(keep.sum())
        observed, null = _pair_null(models[:, keep], brain[keep], n_permutations, seed, method)
    elif (dot_products and (model_missing := missing_stimuli(models, n)) is not None
          and (brain_missing := missing_stimuli(brain, n)) is not None):
        dots = _stimulus_null(models, brain, model_missing, brain_missing[0], n_permutations, seed, method,
                              resolve_device(device), threads)
        observed, null = dots[0], dots[1:]
    else:
        observed, null = _slow_null(models, brain, n, n_permutations, seed, method)
    p, p_diff = mantel_pvalues(observed, null)
    return PermutationResult(observed, p, p_diff, null, n_pairs, method, scheme)


def _stimulus_null(models, brain, model_missing, brain_missing, n_permutations, seed, method, device, threads):
    """(N + 1, k) scores under the identity and each permutation, the models grouped by
    their missing stimuli (one group where none are missing)."""
    n = brain_missing.size
    perms = with_identity(n, n_permutations, seed)
    out = np.empty((perms.shape[0], models.shape[0]))
    moves = bool(model_missing.any() or brain_missing.any())
    build_brain = brain_builder(brain, n, method, moves)
    for fixed_missing, members in model_classes(model_missing):
        out[:, members] = null_dots_dropping(perms, fixed_missing, brain_missing,
                                             builder(models[members], n, method, moves), build_brain, members.size,
                                             device=device, threads=threads)
    return out


def _pair_null(models, brain, n_permutations, seed, method):
    """The paper's pair shuffle of the pairs present in every RDM: dot products of
    standardised vectors (Spearman, Pearson) or every shuffle re-scored (Kendall)."""
    if method in ("spearman", "pearson"):
        a, b = prepared(models, method), prepared(brain, method)
        dots = pair_shuffle_dots(a, b, n_permutations, seed)
        observed, null = dots[0], dots[1:]
        observed[~(np.any(a, axis=1) & np.any(b))] = np.nan
        return observed, null
    observed = np.array([compare_vectors(x, brain, method).rho for x in models])
    null = np.empty((n_permutations, models.shape[0]))
    for start, shuffles in _pair_shuffles(brain.size, n_permutations, seed):
        for t, order in enumerate(shuffles):
            null[start + t] = [compare_vectors(x, brain[order], method).rho for x in models]
    return observed, null


def _slow_null(models, brain, n, n_permutations, seed, method):
    """Re-score every stimulus permutation (NaN entries not whole stimuli, Kendall):
    exact, O(N k m log m)."""
    observed = np.array([compare_vectors(x, brain, method).rho for x in models])
    null = np.empty((n_permutations, models.shape[0]))
    full = _kernels.square(brain, n)
    iu = np.triu_indices(n, k=1)
    for t, perm in enumerate(permutation_indices(n, n_permutations, seed)):
        permuted = full[np.ix_(perm, perm)][iu]
        null[t] = [compare_vectors(x, permuted, method).rho for x in models]
    return observed, null
