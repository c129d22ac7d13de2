"""Comparators of two RDMs' upper triangles (numpy and scipy only).

Modules that only score (``lrrsa.scoring``, the figures) import these without the
statistics engine's dependencies: importing this module loads numpy only; scipy.stats
is imported when a score is first computed.

Degenerate input (the result is defined, not an error): pairs that are NaN in either
RDM are dropped (``n_pairs`` says how many were used); with fewer than 2 pairs left,
or when either RDM is constant over the pairs left (it orders no pair, e.g. every
stimulus equally far from every other), the score is NaN.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: RDM comparators. kendall is tau-b (scipy's default); kendall_tau_a divides by all
#: pairs of pairs (no tie correction), as rsatoolbox's tau-a.
METHODS = ("spearman", "pearson", "kendall", "kendall_tau_a")


def upper_triangle(matrix: np.ndarray) -> np.ndarray:
    """The entries above the diagonal, row by row (scipy's condensed order)."""
    n = matrix.shape[0]
    if matrix.shape != (n, n):
        raise ValueError(f"RDM must be square, got shape {matrix.shape}")
    return matrix[np.triu_indices(n, k=1)]


@dataclass(frozen=True)
class Score:
    rho: float
    n_pairs: int


def kendall_tau_a(x: np.ndarray, y: np.ndarray) -> float:
    """Kendall's tau-a: (concordant - discordant) / (m (m - 1) / 2), ties counting as
    neither. Computed in O(m log m) from scipy's tau-b and the tie counts."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    m = x.size
    n0 = m * (m - 1) / 2
    if n0 == 0:
        return np.nan
    from scipy import stats

    def tied_pairs(v: np.ndarray) -> float:
        counts = np.unique(v, return_counts=True)[1].astype(np.float64)
        return float((counts * (counts - 1) / 2).sum())

    n1, n2 = tied_pairs(x), tied_pairs(y)
    if n1 == n0 or n2 == n0:  # a constant vector: no concordant or discordant pairs
        return 0.0
    tau_b = stats.kendalltau(x, y).statistic
    return float(tau_b * np.sqrt((n0 - n1) * (n0 - n2)) / n0)


def _compare(a: np.ndarray, b: np.ndarray, method: str) -> float:
    from scipy import stats  # here, not at import: see the module docstring
    if method == "spearman":
        return float(stats.spearmanr(a, b).statistic)
    if method == "pearson":
        return float(stats.pearsonr(a, b).statistic)
    if method == "kendall":
        return float(stats.kendalltau(a, b).statistic)
    if method == "kendall_tau_a":
        return kendall_tau_a(a, b)
    raise ValueError(f"unknown RSA method {method!r}; expected one of {METHODS}")


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"unknown RSA method {method!r}; expected one of {METHODS}")


def _constant(v: np.ndarray) -> bool:
    return bool(v.size) and bool(np.all(v == v[0]))


def compare_vectors(a: np.ndarray, b: np.ndarray, method: str = "spearman") -> Score:
    """:func:`rsa_score` of two condensed vectors."""
    _check_method(method)
    keep = ~(np.isnan(a) | np.isnan(b))
    n_pairs = int(keep.sum())
    a, b = a[keep], b[keep]
    if n_pairs < 2 or _constant(a) or _constant(b):
        return Score(rho=np.nan, n_pairs=n_pairs)
    return Score(rho=_compare(a, b, method), n_pairs=n_pairs)


def rsa_score(rdm_a: np.ndarray, rdm_b: np.ndarray, method: str = "spearman") -> Score:
    """Correlation of two RDMs' upper triangles; pairs where either is NaN are dropped
    (``n_pairs`` says how many were used). NaN with fewer than 2 pairs left or a
    constant RDM (over the pairs left), for every method: a constant RDM orders no
    pairs, so nothing is compared (Kendall's tau-a of a constant vector would be 0,
    which would read as "no relation")."""
    if rdm_a.shape != rdm_b.shape:
        raise ValueError(f"RDM shapes differ: {rdm_a.shape} vs {rdm_b.shape}")
    return compare_vectors(upper_triangle(rdm_a), upper_triangle(rdm_b), method)
