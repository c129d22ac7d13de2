"""Compiled inner loops of the statistics engine (:mod:`lrrsa.rsa`): permutation nulls,
weighted rank statistics, and standardised ranks over the pairs that a set of dropped
stimuli leaves.

Each kernel has a numba version (used where numba is installed), a plain numpy
version of the same arithmetic (the fallback, and a second implementation the tests
compare with) and, for the permutation null, a torch version that runs on a GPU.

Conventions: an RDM's upper triangle is a "condensed" vector of m = n(n-1)/2 pairs in
scipy's order (row by row); ``ipair[p], jpair[p]`` are the stimuli of pair p.
"""

from __future__ import annotations

import functools
import importlib
import os
from typing import NamedTuple

import numpy as np

try:  # numba is optional: without it the numpy versions run (slower, same numbers)
    import numba
    from numba import njit, prange

    HAVE_NUMBA = os.environ.get("LRRSA_NO_NUMBA", "") == ""
except ImportError:  # pragma: no cover - exercised where numba is absent
    numba = None
    HAVE_NUMBA = False

    def njit(*args, **kwargs):
        def wrap(f):
            return f

        return wrap if not (args and callable(args[0])) else args[0]

    prange = range

# Reassociation lets LLVM vectorise the sums; it changes results in the last bits only.
_FAST = {"contract", "reassoc", "nsz"}


def set_threads(threads: int | None) -> None:
    """Threads of the numba kernels (None: leave numba's default, all cores)."""
    if HAVE_NUMBA and threads:
        numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))


def default_threads() -> int | None:
    """The numba kernels' thread count (None without numba)."""
    return numba.get_num_threads() if HAVE_NUMBA else None


@functools.lru_cache(maxsize=8)
def pair_index(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Stimuli (i, j), i < j, of every pair in condensed order, as int32 (read-only:
    the arrays are cached)."""
    i, j = (x.astype(np.int32) for x in np.triu_indices(n, k=1))
    i.flags.writeable = j.flags.writeable = False
    return i, j


# --------------------------------------------------------------- permutation null


def _null_dots_loop(A, B, perms, batch):  # pragma: no cover - compiled below
    k, m = A.shape
    N, n = perms.shape
    out = np.zeros((N, k))
    n_batches = (N + batch - 1) // batch
    for b in prange(n_batches):
        t0 = b * batch
        P = min(t0 + batch, N) - t0
        G = np.empty((batch, n))
        acc = np.zeros((batch, k))
        off = 0
        for i in range(n - 1):
            L = n - 1 - i
            for q in range(P):  # gather row i of each permuted brain RDM
                p = perms[t0 + q]
                row = B[p[i]]
                g = G[q]
                for j in range(L):
                    g[j] = row[p[i + 1 + j]]
            q = 0
            while q + 4 <= P:  # four permutations share each load of a model row
                g0 = G[q]
                g1 = G[q + 1]
                g2 = G[q + 2]
                g3 = G[q + 3]
                for c in range(k):
                    a = A[c, off : off + L]
                    s0 = 0.0
                    s1 = 0.0
                    s2 = 0.0
                    s3 = 0.0
                    for j in range(L):
                        x = a[j]
                        s0 += x * g0[j]
                        s1 += x * g1[j]
                        s2 += x * g2[j]
                        s3 += x * g3[j]
                    acc[q, c] += s0
                    acc[q + 1, c] += s1
                    acc[q + 2, c] += s2
                    acc[q + 3, c] += s3
                q += 4
            while q < P:
                g0 = G[q]
                for c in range(k):
                    a = A[c, off : off + L]
                    s0 = 0.0
                    for j in range(L):
                        s0 += a[j] * g0[j]
                    acc[q, c] += s0
                q += 1
            off += L
        out[t0 : t0 + P] = acc[:P]
    return out


_null_dots_numba = njit(parallel=True, cache=True, fastmath=_FAST)(_null_dots_loop)
# Small problems: starting threads costs more than the work. Without the GIL, so that
# several groups of permutations can run at once in threads (lrrsa.rsa.missing).
_null_dots_serial = njit(cache=True, fastmath=_FAST, nogil=True)(_null_dots_loop)


def _null_dots_numpy(A, B, perms, batch):
    n = B.shape[0]
    ipair, jpair = pair_index(n)
    out = np.empty((perms.shape[0], A.shape[0]))
    flat = B.ravel()
    for t0 in range(0, perms.shape[0], batch):
        p = perms[t0 : t0 + batch].astype(np.int64)
        gathered = flat[p[:, ipair] * n + p[:, jpair]]
        out[t0 : t0 + batch] = gathered @ A.T
    return out


def _null_dots_torch(A, B, perms, batch, device):
    torch = importlib.import_module("torch")  # optional (GPU path): not in the analysis environment

    n = B.shape[0]
    dev = torch.device(device)
    ipair, jpair = (torch.as_tensor(x.astype(np.int64), device=dev) for x in pair_index(n))
    At = torch.as_tensor(A, dtype=torch.float64, device=dev)
    flat = torch.as_tensor(B, dtype=torch.float64, device=dev).reshape(-1)
    out = np.empty((perms.shape[0], A.shape[0]))
    for t0 in range(0, perms.shape[0], batch):
        p = torch.as_tensor(perms[t0 : t0 + batch], dtype=torch.int64, device=dev)
        gathered = flat[p[:, ipair] * n + p[:, jpair]]
        out[t0 : t0 + batch] = (gathered @ At.T).cpu().numpy()
    return out


def null_dots(A: np.ndarray, B: np.ndarray, perms: np.ndarray, *, backend: str = "auto", device: str = "cpu",
              serial: bool = False) -> np.ndarray:
    """``out[t, c] = sum_p A[c, p] * B[perm_t[i_p], perm_t[j_p]]`` over the m condensed pairs.

    ``A``: (k, m) float64, the model vectors; ``B``: (n, n) symmetric float64, the brain
    RDM (any diagonal); ``perms``: (N, n) stimulus permutations. With unit-norm,
    centred A rows and B triangle this is the Pearson correlation of every model with
    every permuted brain RDM. Memory O(k m + n^2 + batch (n + k)): no (N, m) array.
    backend: numba, numpy, torch or auto (torch where ``device`` is not cpu, else
    numba where installed, else numpy). ``serial``: numba on the calling thread only
    (the caller runs several calls in threads).
    """
    A = np.ascontiguousarray(A, dtype=np.float64)
    B = np.ascontiguousarray(B, dtype=np.float64)
    perms = np.ascontiguousarray(perms, dtype=np.int32)
    if backend == "auto":
        backend = "torch" if device != "cpu" else ("numba" if HAVE_NUMBA else "numpy")
    if backend == "numba":
        if not HAVE_NUMBA:
            raise RuntimeError("backend numba requested but numba is not installed")
        small = serial or perms.shape[0] * A.shape[0] * A.shape[1] < 2_000_000
        return (_null_dots_serial if small else _null_dots_numba)(A, B, perms, 16)
    if backend == "numpy":
        return _null_dots_numpy(A, B, perms, max(1, 2**22 // max(A.shape[1], 1)))
    if backend == "torch":
        return _null_dots_torch(A, B, perms, max(1, 2**25 // max(A.shape[1], 1)), device)
    raise ValueError(f"unknown backend {backend!r}")


# ------------------------------------------------- ranks over the pairs that are kept


class RankInfo(NamedTuple):
    """What :func:`kept_standardized` needs to rank a vector in O(m) for any set of
    dropped stimuli: ``order`` and group ``starts`` (:func:`sort_info`), the two
    stimuli ``oi``, ``oj`` of each pair in that order (the walk reads them in
    sequence), and whether any two values ``ties``."""

    order: np.ndarray
    starts: np.ndarray
    oi: np.ndarray
    oj: np.ndarray
    ties: bool


def kept_info(values: np.ndarray, n: int) -> RankInfo:
    """:class:`RankInfo` of ``values`` (m,): one sort."""
    order, starts = sort_info(values)
    ipair, jpair = pair_index(n)
    return RankInfo(order, starts, ipair[order], jpair[order], bool((~starts).any()))


@njit(cache=True, nogil=True)
def _put(out, square, p, i, j, value):  # pragma: no cover - compiled
    """Pair p = (i, j) into a (1, m) vector or both triangles of an (n, n) matrix."""
    if square:
        out[i, j] = value
        out[j, i] = value
    else:
        out[0, p] = value


@njit(cache=True, nogil=True)
def _kept_ranks_numba(order, starts, oi, oj, ties, drop, square, out):  # pragma: no cover - compiled
    m = order.size
    present = 0
    for i in range(drop.size):
        if not drop[i]:
            present += 1
    kept = present * (present - 1) // 2  # NaN values lie on pairs of dropped stimuli
    out[:] = 0.0
    if kept < 2:
        return False
    mu = (kept + 1.0) / 2.0
    if not ties:  # ranks 1..kept in sorted order; their sum of squares about mu in closed form
        scale = 1.0 / np.sqrt(kept * (kept * float(kept) - 1.0) / 12.0)
        rank = 0.0
        for s in range(m):
            if not (drop[oi[s]] or drop[oj[s]]):
                rank += 1.0
                _put(out, square, order[s], oi[s], oj[s], (rank - mu) * scale)
        return True
    keep = np.empty(m)  # ties: the mid-ranks of the multiset of kept pairs (weights 0 and 1)
    for s in range(m):
        keep[order[s]] = 0.0 if (drop[oi[s]] or drop[oj[s]]) else 1.0
    ranks = np.empty(m)
    _weighted_ranks(order, starts, keep, ranks)
    ss = 0.0
    for p in range(m):
        if keep[p] > 0.0:
            ss += (ranks[p] - mu) ** 2
    if not ss > 0.0:
        return False
    scale = 1.0 / np.sqrt(ss)
    for s in range(m):
        if keep[order[s]] > 0.0:
            _put(out, square, order[s], oi[s], oj[s], (ranks[order[s]] - mu) * scale)
    return True


@njit(cache=True, nogil=True)
def _kept_values_numba(values, ipair, jpair, drop, square, out):  # pragma: no cover - compiled
    m = values.size
    kept = 0
    total = 0.0
    low = np.inf
    high = -np.inf
    for p in range(m):
        if not (drop[ipair[p]] or drop[jpair[p]]):
            v = values[p]
            kept += 1
            total += v
            low = min(low, v)
            high = max(high, v)
    out[:] = 0.0
    if kept < 2 or not high > low:
        return False
    mean = total / kept
    ss = 0.0
    for p in range(m):
        if not (drop[ipair[p]] or drop[jpair[p]]):
            ss += (values[p] - mean) ** 2
    scale = 1.0 / np.sqrt(ss)
    for p in range(m):
        if not (drop[ipair[p]] or drop[jpair[p]]):
            _put(out, square, p, ipair[p], jpair[p], (values[p] - mean) * scale)
    return True


def _kept_standardized_numpy(values, drop, rank, info):
    ipair, jpair = pair_index(drop.size)
    keep = ~(drop[ipair] | drop[jpair])
    out = np.zeros(values.size)
    v = _weighted_ranks_numpy(info[0], info[1], keep.astype(np.float64))[keep] if rank else values[keep]
    if v.size < 2 or not v.max() > v.min():
        return out, False
    v = v - v.mean()
    out[keep] = v / np.linalg.norm(v)
    return out, True


def kept_standardized(values: np.ndarray, drop: np.ndarray, *, rank: bool, info=None, square: bool = False,
                      backend: str = "auto") -> tuple[np.ndarray, bool]:
    """``values`` (m,) standardised over the pairs of the stimuli not in ``drop`` (n,)
    bool: their mid-ranks among those pairs (``rank``, Spearman) or the values
    themselves (Pearson), centred and scaled to unit norm over those pairs, 0 at the
    others. The dot product of two such vectors is their correlation over the pairs
    both keep. Returns the vector (``square``: as the symmetric (n, n) matrix, diagonal
    0) and whether it is defined (at least 2 kept pairs, not all equal). NaN values
    must lie on pairs of dropped stimuli. ``info``: :func:`kept_info` of ``values``
    (Spearman; computed if None): O(m) given it.
    """
    values = np.ascontiguousarray(values, dtype=np.float64)
    drop = np.ascontiguousarray(drop, dtype=np.bool_)
    n = drop.size
    if rank and info is None:
        info = kept_info(values, n)
    if not ((backend == "auto" and HAVE_NUMBA) or backend == "numba"):
        vector, ok = _kept_standardized_numpy(values, drop, rank, info)
        return (square_numpy(vector, n) if square else vector), ok
    out = np.empty((n, n) if square else (1, values.size))
    if rank:
        ok = _kept_ranks_numba(*info, drop, square, out)
    else:
        ok = _kept_values_numba(values, *pair_index(n), drop, square, out)
    return (out if square else out[0]), bool(ok)


def square_numpy(vector: np.ndarray, n: int) -> np.ndarray:
    full = np.zeros((n, n))
    full[np.triu_indices(n, k=1)] = vector
    return full + full.T


@njit(cache=True, nogil=True)
def _square_numba(vector, n, out):  # pragma: no cover - compiled
    p = 0
    for i in range(n):
        out[i, i] = 0.0
        for j in range(i + 1, n):
            out[i, j] = vector[p]
            out[j, i] = vector[p]
            p += 1


def square(vector: np.ndarray, n: int) -> np.ndarray:
    """The symmetric (n, n) matrix of a condensed vector, diagonal 0 (compiled where
    numba is installed: it is rebuilt once per group of permutations)."""
    if not HAVE_NUMBA:
        return square_numpy(vector, n)
    out = np.empty((n, n))
    _square_numba(np.ascontiguousarray(vector, dtype=np.float64), n, out)
    return out


# ------------------------------------------------------- weighted rank statistics


def sort_info(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ascending order of ``x`` (NaN last) and, per sorted position, whether it starts
    a new group of equal values (each NaN is its own group)."""
    order = np.argsort(x, kind="stable").astype(np.int32)
    xs = x[order]
    starts = np.ones(x.size, dtype=np.bool_)
    starts[1:] = ~(xs[1:] == xs[:-1])
    return order, starts


@njit(cache=True, nogil=True)
def _group_end(starts, t):  # pragma: no cover - compiled
    """The end (exclusive) of the group of equal values that starts at sorted position t."""
    u = t + 1
    while u < starts.size and not starts[u]:
        u += 1
    return u


@njit(cache=True)
def _weighted_ranks(order, starts, w, out):  # pragma: no cover - compiled
    """Mid-ranks of the multiset in which value p occurs w[p] times (rankdata 'average')."""
    m = order.size
    below = 0.0
    t = 0
    while t < m:
        u = _group_end(starts, t)
        wg = 0.0
        for s in range(t, u):
            wg += w[order[s]]
        r = below + (wg + 1.0) / 2.0
        for s in range(t, u):
            out[order[s]] = r
        below += wg
        t = u


@njit(cache=True, fastmath=_FAST)
def _weighted_corr(x, y, w):  # pragma: no cover - compiled
    sw = 0.0
    sx = 0.0
    sy = 0.0
    for p in range(x.size):
        sw += w[p]
        sx += w[p] * x[p]
        sy += w[p] * y[p]
    if sw <= 0.0:
        return np.nan
    mx = sx / sw
    my = sy / sw
    sxy = 0.0
    sxx = 0.0
    syy = 0.0
    for p in range(x.size):
        dx = x[p] - mx
        dy = y[p] - my
        sxy += w[p] * dx * dy
        sxx += w[p] * dx * dx
        syy += w[p] * dy * dy
    if sxx <= 0.0 or syy <= 0.0:
        return np.nan
    return sxy / np.sqrt(sxx * syy)


@njit(parallel=True, cache=True)
def _weighted_stats_numba(models, m_orders, m_starts, brains, b_orders, b_starts, weights, rank, brain_of,
                          counts, base, ipair, jpair):  # pragma: no cover
    from_counts = counts.shape[0] > 0
    S = counts.shape[0] if from_counts else weights.shape[0]
    k, m = models.shape
    out = np.empty((S, k))
    for s in prange(S):
        if from_counts:  # stimulus bootstrap: pair (i, j) occurs c_i c_j times
            w = np.empty(m)
            c = counts[s]
            for p in range(m):
                w[p] = c[ipair[p]] * c[jpair[p]] * base[p]
        else:
            w = weights[s]
        bi = brain_of[s]
        yb = np.empty(m)
        if rank:
            _weighted_ranks(b_orders[bi], b_starts[bi], w, yb)
        else:
            yb[:] = brains[bi]
        if not rank:
            for c in range(k):
                out[s, c] = _weighted_corr(models[c], yb, w)
            continue
        # Spearman: weighted mid-ranks have weighted mean (W + 1) / 2. Each model is
        # walked in its own sorted order; w and the centred brain rank of a pair sit
        # side by side, so one random read per pair fetches both.
        total = 0.0
        for p in range(m):
            total += w[p]
        mu = (total + 1.0) / 2.0
        wy = np.empty((m, 2))
        syy = 0.0
        for p in range(m):
            d = yb[p] - mu
            wy[p, 0] = w[p]
            wy[p, 1] = d
            syy += w[p] * d * d
        for c in range(k):
            order = m_orders[c]
            starts = m_starts[c]
            below = 0.0
            sxy = 0.0
            sxx = 0.0
            t = 0
            while t < m:
                u = _group_end(starts, t)
                wg = 0.0
                wyg = 0.0
                for q in range(t, u):
                    p = order[q]
                    wg += wy[p, 0]
                    wyg += wy[p, 0] * wy[p, 1]
                d = below + (wg + 1.0) / 2.0 - mu
                sxy += d * wyg
                sxx += wg * d * d
                below += wg
                t = u
            out[s, c] = sxy / np.sqrt(sxx * syy) if sxx > 0.0 and syy > 0.0 else np.nan
    return out


def _weighted_ranks_numpy(order, starts, w):
    ws = w[order]
    group = np.cumsum(starts) - 1
    gsum = np.bincount(group, weights=ws)
    below = np.concatenate(([0.0], np.cumsum(gsum)[:-1]))
    out = np.empty(w.size)
    out[order] = (below + (gsum + 1.0) / 2.0)[group]
    return out


def _weighted_corr_numpy(x, y, w):
    sw = w.sum()
    if sw <= 0:
        return np.nan
    dx = x - (w @ x) / sw
    dy = y - (w @ y) / sw
    sxx, syy = w @ (dx * dx), w @ (dy * dy)
    if sxx <= 0 or syy <= 0:
        return np.nan
    return float(w @ (dx * dy) / np.sqrt(sxx * syy))


def _weighted_stats_numpy(models, m_orders, m_starts, brains, b_orders, b_starts, weights, rank, brain_of,
                          counts, base, ipair, jpair):
    from_counts = counts.shape[0] > 0
    S, k = (counts.shape[0] if from_counts else weights.shape[0]), models.shape[0]
    out = np.empty((S, k))
    for s in range(S):
        w = counts[s, ipair] * counts[s, jpair] * base if from_counts else weights[s]
        bi = brain_of[s]
        yb = _weighted_ranks_numpy(b_orders[bi], b_starts[bi], w) if rank else brains[bi]
        for c in range(k):
            xb = _weighted_ranks_numpy(m_orders[c], m_starts[c], w) if rank else models[c]
            out[s, c] = _weighted_corr_numpy(xb, yb, w)
    return out


def weighted_stats(models, brains, weights=None, *, rank: bool, model_info=None, brain_info=None, backend="auto",
                   counts=None, base=None):
    """Spearman (rank=True) or Pearson of every model vector with the brain vector
    under pair weights: the correlation of the multiset in which pair p occurs
    ``weights[s, p]`` times, for each row s of ``weights``. Instead of ``weights``,
    ``counts`` (S, n) stimulus counts give ``w[p] = counts[i_p] counts[j_p] base[p]``
    (computed in the kernel: no (S, m) array).

    ``models`` (k, m); ``brains`` (1, m), or (S, m) with one brain vector per weight
    row; ``weights`` (S, m) non-negative (zero drops a pair; NaN values must have zero
    weight). Spearman ranks are the mid-ranks of the weighted multiset, so the result
    equals scipy.stats.spearmanr of the expanded vectors. Returns (S, k).
    """
    models = np.ascontiguousarray(models, dtype=np.float64)
    brains = np.ascontiguousarray(brains, dtype=np.float64)
    k, m = models.shape
    if counts is not None:
        counts = np.ascontiguousarray(counts, dtype=np.float64)
        base = np.ones(m) if base is None else np.ascontiguousarray(base, dtype=np.float64)
        n = counts.shape[1]
        weights = np.empty((0, m))
        n_samples = counts.shape[0]
    else:
        weights = np.ascontiguousarray(weights, dtype=np.float64)
        counts, base, n = np.empty((0, 1)), np.empty(0), 2
        n_samples = weights.shape[0]
    ipair, jpair = pair_index(n) if counts.shape[0] else (np.empty(0, np.int32), np.empty(0, np.int32))
    if rank:
        model_info = model_info if model_info is not None else [sort_info(x) for x in models]
        brain_info = brain_info if brain_info is not None else [sort_info(y) for y in brains]
        m_orders = np.stack([o for o, _ in model_info]) if k else np.empty((0, m), np.int32)
        m_starts = np.stack([s for _, s in model_info]) if k else np.empty((0, m), np.bool_)
        b_orders = np.stack([o for o, _ in brain_info])
        b_starts = np.stack([s for _, s in brain_info])
    else:  # Pearson needs no order; NaN values carry zero weight, but NaN * 0 is NaN
        m_orders = b_orders = np.zeros((1, m), np.int32)
        m_starts = b_starts = np.ones((1, m), np.bool_)
        models, brains = np.nan_to_num(models), np.nan_to_num(brains)
    use = "numba" if (backend == "auto" and HAVE_NUMBA) or backend == "numba" else "numpy"
    kernel = _weighted_stats_numba if use == "numba" else _weighted_stats_numpy
    brain_of = np.arange(n_samples) if brains.shape[0] > 1 else np.zeros(n_samples, np.int64)
    return kernel(models, m_orders, m_starts, brains, b_orders, b_starts, weights, rank, brain_of,
                  counts, base, ipair, jpair)
