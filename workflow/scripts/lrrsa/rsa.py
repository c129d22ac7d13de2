"""RDMs and RSA scores.

``rdm`` streams over feature columns, so it accepts an in-memory array or an
h5py dataset of any width with memory O(n^2 + n * chunk).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

METRICS = ("correlation", "euclidean")
METHODS = ("spearman", "pearson", "kendall")


def _column_chunks(n_features: int, chunk: int) -> Sequence[slice]:
    return [slice(start, min(start + chunk, n_features)) for start in range(0, n_features, chunk)]


def rdm(features, metric: str = "correlation", *, chunk: int = 8192) -> np.ndarray:
    """The (n, n) float64 RDM of (n, p) features: 1 - Pearson r, or Euclidean distance.

    Two passes over column chunks: row means first, then the centred Gram matrix,
    so precision does not suffer when features have large means.
    """
    if metric not in METRICS:
        raise ValueError(f"unknown RDM metric {metric!r}; expected one of {METRICS}")
    n, p = features.shape
    chunks = _column_chunks(p, chunk)
    if metric == "euclidean":
        gram = np.zeros((n, n))
        for cols in chunks:
            block = np.asarray(features[:, cols], dtype=np.float64)
            gram += block @ block.T
        sq = np.diag(gram)
        dist = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2 * gram, 0.0))
        np.fill_diagonal(dist, 0.0)
        return dist
    means = np.zeros(n)
    for cols in chunks:
        means += np.asarray(features[:, cols], dtype=np.float64).sum(axis=1)
    means /= p
    gram = np.zeros((n, n))
    for cols in chunks:
        block = np.asarray(features[:, cols], dtype=np.float64) - means[:, None]
        gram += block @ block.T
    norms = np.sqrt(np.diag(gram))
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = gram / np.outer(norms, norms)
    dissimilarity = 1.0 - corr
    np.fill_diagonal(dissimilarity, 0.0)
    return dissimilarity


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


def rsa_score(rdm_a: np.ndarray, rdm_b: np.ndarray, method: str = "spearman") -> Score:
    """Correlation of two RDMs' upper triangles; pairs where either is NaN are dropped."""
    if rdm_a.shape != rdm_b.shape:
        raise ValueError(f"RDM shapes differ: {rdm_a.shape} vs {rdm_b.shape}")
    a, b = upper_triangle(rdm_a), upper_triangle(rdm_b)
    keep = ~(np.isnan(a) | np.isnan(b))
    a, b = a[keep], b[keep]
    if method == "spearman":
        rho = stats.spearmanr(a, b).statistic
    elif method == "pearson":
        rho = stats.pearsonr(a, b).statistic
    elif method == "kendall":
        rho = stats.kendalltau(a, b).statistic
    else:
        raise ValueError(f"unknown RSA method {method!r}; expected one of {METHODS}")
    return Score(rho=float(rho), n_pairs=int(keep.sum()))
