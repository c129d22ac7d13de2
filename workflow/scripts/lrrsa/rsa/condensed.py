"""RDM stacks as condensed vectors (the upper triangle, row by row: scipy's order) and
back, and the standardised vectors whose dot product is a comparator.

Conventions shared by the engine: an RDM stack is (k, n, n); its condensed form is
(k, m) with m = n (n - 1) / 2 pairs; ``pair_index(n)`` and ``square`` (in
:mod:`lrrsa.rsa._kernels`) give the two stimuli of each pair and the matrix of a vector.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

#: The fewest stimuli the inferential statistics accept. With 3 stimuli an RDM has 3
#: pairs: there are 6 stimulus permutations (p >= 1/6), 21 of the 27 bootstrap draws
#: hold at most 2 distinct stimuli (an undefined score), and a partial correlation
#: with one control has a single residual degree of freedom (it is always +-1).
MIN_STIMULI = 4


def require_stimuli(n: int, what: str) -> None:
    """ValueError unless the RDMs have at least :data:`MIN_STIMULI` stimuli."""
    if n < MIN_STIMULI:
        raise ValueError(f"{what} needs RDMs of at least {MIN_STIMULI} stimuli ({MIN_STIMULI * (MIN_STIMULI - 1) // 2} "
                         f"pairs); these have {n}")


def stack(rdms) -> np.ndarray:
    """(k, n, n) float64 from one (n, n) RDM, a (k, n, n) array or a sequence of RDMs."""
    arr = np.asarray(rdms, dtype=np.float64)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3 or arr.shape[1] != arr.shape[2]:
        raise ValueError(f"expected (n, n) or (k, n, n) RDMs, got shape {arr.shape}")
    return arr


def condensed(rdms) -> tuple[np.ndarray, int]:
    """(k, m) upper triangles of :func:`stack`'s RDMs, and n."""
    arr = stack(rdms)
    n = arr.shape[1]
    iu = np.triu_indices(n, k=1)
    return arr[:, iu[0], iu[1]], n


def standardize(v: np.ndarray) -> np.ndarray:
    """Rows centred and scaled to unit norm (a zero row stays zero: its r is NaN)."""
    v = v - v.mean(axis=-1, keepdims=True)
    norm = np.linalg.norm(v, axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norm > 0, v / np.where(norm > 0, norm, 1.0), 0.0)


def prepared(v: np.ndarray, method: str) -> np.ndarray:
    """Vectors whose dot product is the method's correlation (ranks for Spearman)."""
    if method == "spearman":
        v = stats.rankdata(v, axis=-1)
    return standardize(v)
