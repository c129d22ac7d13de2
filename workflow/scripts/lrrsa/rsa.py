"""RDMs, RSA scores and their inference.

- :func:`rdm` streams over feature columns (an array or an h5py dataset of any width,
  float16 included) with memory O(n^2 + n * chunk).
- :func:`rsa_score` compares two RDMs' upper triangles (Spearman, Pearson, Kendall
  tau-b or tau-a), dropping pairs where either is NaN.
- :func:`permutation_test` is a Mantel test that permutes stimulus labels (rows and
  columns together) for k model RDMs at once against one brain RDM, with p-values of
  every pairwise difference under the same permutations.
- :func:`bootstrap_ci` resamples stimuli (optionally subjects too): percentile or BCa
  intervals of any linear contrast of the models' scores.
- :func:`partial_rsa`: partial Spearman correlation of ranks controlling other RDMs
  (the pixel RDM), with its permutation p-value.
- :func:`noise_ceiling`, :func:`split_half_reliability`, :func:`spearman_brown`,
  :func:`inter_subject_consistency`: how well any model could do.
- :func:`fdr`: Benjamini-Hochberg (statsmodels) over a family of p-values.

The paper's pair-shuffling permutation test and pair bootstrap are available
(``scheme="pairs"``) for comparison only: pairs that share a stimulus are not
independent, so shuffling them makes the null distribution too narrow and the
p-values too small (see ``benchmarks/STATISTICS.md`` and the null-calibration test).

Where a GPU is present (``device="cuda"`` or ``"auto"``), :func:`rdm` and the
permutation null run in torch on it and give the same numbers (float64).
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import special, stats

from lrrsa import _kernels
from lrrsa.comparators import (  # noqa: F401 - part of this module's interface
    METHODS, Score, _check_method, _compare, compare_vectors, kendall_tau_a, rsa_score, upper_triangle,
)

log = logging.getLogger(__name__)

METRICS = ("correlation", "euclidean")
#: What permutation tests and bootstraps resample: stimuli (rows and columns of the
#: RDM together; the default, correct) or pairs (the paper's choice, for comparison).
SCHEMES = ("stimuli", "pairs")
CI_METHODS = ("percentile", "bca")


# ---------------------------------------------------------------------- devices


def optional_torch():
    """torch, for the optional GPU path. Imported by name so that the analysis
    environment (no torch; its statistics run on the CPU) needs no torch."""
    return importlib.import_module("torch")


def _nvidia_driver_present() -> bool:
    return any(os.path.exists(p) for p in ("/proc/driver/nvidia/version", "/dev/nvidiactl", "/dev/nvidia0"))


def resolve_device(device: str = "cpu") -> str:
    """'cpu', or the torch device to use: 'auto' picks CUDA where torch sees a GPU."""
    if device == "cpu":
        return "cpu"
    if device == "auto" and "torch" not in sys.modules and not _nvidia_driver_present():
        return "cpu"  # no GPU driver: skip importing torch (seconds and hundreds of MB)
    try:
        torch = optional_torch()
    except ImportError:
        if device == "auto":
            return "cpu"
        raise RuntimeError(f"device {device!r} needs torch, which is not installed") from None
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device {device!r} requested but torch sees no GPU")
    return device


# ------------------------------------------------------------------------- RDMs


def _column_chunks(n_features: int, chunk: int) -> list[slice]:
    return [slice(start, min(start + chunk, n_features)) for start in range(0, n_features, chunk)]


def _chunk_width(features, chunk: int) -> int:
    """Align column blocks to an HDF5 dataset's chunk columns, so each stored chunk is
    read once per pass."""
    stored = getattr(features, "chunks", None)
    if stored and stored[1] < features.shape[1]:
        return max(stored[1], (chunk // stored[1]) * stored[1])
    return chunk


def _read_block(features, cols: slice, buffer: np.ndarray | None) -> np.ndarray:
    """Columns ``cols`` of ``features`` as float64 (n, width), reusing ``buffer``."""
    width = cols.stop - cols.start
    raw = features[:, cols]
    if buffer is None or buffer.shape[1] != width:
        buffer = np.empty((features.shape[0], width), dtype=np.float64)
    np.copyto(buffer, raw, casting="unsafe")
    return buffer


def _raw_blocks(features, chunks: Sequence[slice]):
    """The column blocks as stored (any dtype). From a file (an h5py dataset), a helper
    thread reads the next block while the caller computes on this one (BLAS releases
    the GIL): at most two raw blocks are held."""
    if isinstance(features, np.ndarray):
        for cols in chunks:
            yield features[:, cols]
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(features.__getitem__, (slice(None), chunks[0]))
        for i in range(len(chunks)):
            raw = np.asarray(pending.result())
            if i + 1 < len(chunks):
                pending = pool.submit(features.__getitem__, (slice(None), chunks[i + 1]))
            yield raw


def rdm(features, metric: str = "correlation", *, chunk: int = 8192, device: str = "cpu") -> np.ndarray:
    """The (n, n) float64 RDM of (n, p) features: 1 - Pearson r, or Euclidean distance.

    ``features`` may be an array or an h5py dataset (any float dtype, float16 too);
    it is read once, ``chunk`` columns at a time (aligned to the dataset's own
    chunks), and never held whole: memory is O(n^2 + n * chunk). Each block is
    converted to float64 and centred by its own row means; blocks are merged with the
    pairwise update of Chan, Golub & LeVeque (1979), so precision does not suffer when
    features have large means. Euclidean distances use column-centred blocks (the
    distances do not change). ``device``: cpu, cuda or auto (torch, float64).
    """
    if metric not in METRICS:
        raise ValueError(f"unknown RDM metric {metric!r}; expected one of {METRICS}")
    n, p = features.shape
    if p == 0:
        raise ValueError("features have no columns")
    device = resolve_device(device)
    chunks = _column_chunks(p, _chunk_width(features, chunk))
    if device != "cpu":
        return _rdm_torch(features, metric, chunks, device)
    gram = np.zeros((n, n))
    means = np.zeros(n)
    count = 0
    buffer = None
    for cols, raw in zip(chunks, _raw_blocks(features, chunks)):
        if metric == "euclidean":
            buffer = block = _read_block(raw, slice(0, raw.shape[1]), buffer)
            block -= block.mean(axis=0)
            gram += block @ block.T
            continue
        width = raw.shape[1]
        if buffer is None or buffer.shape[1] != width:
            buffer = np.empty((n, width))
        block_means = raw.mean(axis=1, dtype=np.float64)
        block = np.subtract(raw, block_means[:, None], out=buffer, dtype=np.float64, casting="unsafe")  # one pass
        del raw
        delta = block_means - means
        total = count + width
        gram += block @ block.T
        gram += (count * width / total) * np.outer(delta, delta)
        means += delta * (width / total)
        count = total
    return _finish_rdm(gram, metric)


def _finish_rdm(gram: np.ndarray, metric: str) -> np.ndarray:
    if metric == "euclidean":
        sq = np.diag(gram)
        dist = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2 * gram, 0.0))
        np.fill_diagonal(dist, 0.0)
        return dist
    norms = np.sqrt(np.diag(gram))
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = gram / np.outer(norms, norms)
    dissimilarity = 1.0 - corr
    np.fill_diagonal(dissimilarity, 0.0)
    return dissimilarity


def _rdm_torch(features, metric: str, chunks: Sequence[slice], device: str) -> np.ndarray:
    torch = optional_torch()

    n = features.shape[0]
    gram = torch.zeros((n, n), dtype=torch.float64, device=device)
    means = torch.zeros(n, dtype=torch.float64, device=device)
    count = 0
    for cols in chunks:
        block = torch.tensor(np.asarray(features[:, cols]), device=device, dtype=torch.float64)  # a copy
        width = block.shape[1]
        if metric == "euclidean":
            block -= block.mean(dim=0)
            gram += block @ block.T
            continue
        block_means = block.mean(dim=1)
        block -= block_means[:, None]
        delta = block_means - means
        total = count + width
        gram += block @ block.T
        gram += (count * width / total) * torch.outer(delta, delta)
        means += delta * (width / total)
        count = total
    return _finish_rdm(gram.cpu().numpy(), metric)


def _square(vector: np.ndarray, n: int) -> np.ndarray:
    full = np.zeros((n, n))
    full[np.triu_indices(n, k=1)] = vector
    return full + full.T


def _stack(rdms) -> np.ndarray:
    """(k, n, n) float64 from one (n, n) RDM, a (k, n, n) array or a sequence of RDMs."""
    arr = np.asarray(rdms, dtype=np.float64)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3 or arr.shape[1] != arr.shape[2]:
        raise ValueError(f"expected (n, n) or (k, n, n) RDMs, got shape {arr.shape}")
    return arr


def _vectors(rdms) -> tuple[np.ndarray, int]:
    arr = _stack(rdms)
    n = arr.shape[1]
    iu = np.triu_indices(n, k=1)
    return arr[:, iu[0], iu[1]], n


def _standardize(v: np.ndarray) -> np.ndarray:
    """Rows centred and scaled to unit norm (a zero row stays zero: its r is NaN)."""
    v = v - v.mean(axis=-1, keepdims=True)
    norm = np.linalg.norm(v, axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norm > 0, v / np.where(norm > 0, norm, 1.0), 0.0)


def _prepared(v: np.ndarray, method: str) -> np.ndarray:
    """Vectors whose dot product is the method's correlation (ranks for Spearman)."""
    if method == "spearman":
        v = stats.rankdata(v, axis=-1)
    return _standardize(v)


# ------------------------------------------------------------ permutation tests


def permutation_indices(n: int, n_permutations: int, seed: int = 0) -> np.ndarray:
    """(n_permutations, n) int32 stimulus permutations: a function of (n, N, seed) only,
    so tests of different models, subjects or ROIs with one seed use the same ones."""
    rng = np.random.default_rng(seed)
    return rng.permuted(np.tile(np.arange(n, dtype=np.int32), (n_permutations, 1)), axis=1)


def _pair_shuffles(m: int, n_permutations: int, seed: int):
    """Batches of independent shuffles of the m pairs (the paper's scheme)."""
    rng = np.random.default_rng(seed)
    batch = max(1, min(n_permutations, 2**22 // max(m, 1)))
    for start in range(0, n_permutations, batch):
        size = min(batch, n_permutations - start)
        yield start, rng.permuted(np.tile(np.arange(m, dtype=np.int64), (size, 1)), axis=1)


def mantel_pvalues(observed: np.ndarray, null: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """p = (1 + #{null >= observed}) / (1 + N) per column (one-sided, greater), and the
    two-sided p of every difference ``observed[a] - observed[b]`` against
    ``null[:, a] - null[:, b]``. Values within 100 ulp of the observed count as ties
    (as scipy.stats.permutation_test does), so rounding never decides a p-value."""
    observed = np.asarray(observed, dtype=np.float64)
    null = np.asarray(null, dtype=np.float64)
    n_perm, k = null.shape
    eps = 100 * np.finfo(np.float64).eps
    gamma = eps * np.maximum(np.abs(observed), 1.0)
    p = (1 + (null >= observed - gamma).sum(axis=0)) / (1 + n_perm)
    p_diff = np.ones((k, k))
    for a in range(k):
        d_obs = np.abs(observed[a] - observed)
        d_null = np.abs(null[:, [a]] - null)
        p_diff[a] = (1 + (d_null >= d_obs - eps * np.maximum(d_obs, 1.0)).sum(axis=0)) / (1 + n_perm)
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
    two-sided p of rho_a - rho_b; ``null`` (N, k): the scores under each permutation.
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
        return PermutationResult(rho, p, p_diff, null, self.n_pairs, self.method, self.scheme)


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
    once. With NaN entries (or Kendall) every permutation is re-scored from scratch
    (exact, slow). ``model_rdms``: (n, n), (k, n, n) or a sequence; ``threads``: numba
    threads (None: all cores).
    """
    _check_method(method)
    if scheme not in SCHEMES:
        raise ValueError(f"unknown permutation scheme {scheme!r}; expected one of {SCHEMES}")
    if n_permutations < 1:
        raise ValueError("n_permutations must be at least 1")
    models, n = _vectors(model_rdms)
    brain = upper_triangle(np.asarray(brain_rdm, dtype=np.float64))
    if brain.size != models.shape[1]:
        raise ValueError(f"brain RDM has {brain.size} pairs, the models {models.shape[1]}")
    has_nan = bool(np.isnan(models).any() or np.isnan(brain).any())
    _kernels.set_threads(threads)
    if has_nan or method not in ("spearman", "pearson"):
        observed, null, n_pairs = _slow_null(models, brain, n, n_permutations, seed, method, scheme)
    else:
        a, b = _prepared(models, method), _prepared(brain, method)
        n_pairs = brain.size
        if scheme == "stimuli":
            perms = np.vstack([np.arange(n, dtype=np.int32)[None], permutation_indices(n, n_permutations, seed)])
            device = resolve_device(device)
            dots = _kernels.null_dots(a, _square(b, n), perms, device=device)
            observed, null = dots[0], dots[1:]
        else:
            observed = a @ b
            null = np.empty((n_permutations, a.shape[0]))
            for start, shuffles in _pair_shuffles(b.size, n_permutations, seed):
                null[start : start + len(shuffles)] = b[shuffles] @ a.T
        observed[~np.any(a, axis=1)] = np.nan
    p, p_diff = mantel_pvalues(observed, null)
    return PermutationResult(observed, p, p_diff, null, n_pairs, method, scheme)


def _slow_null(models, brain, n, n_permutations, seed, method, scheme):
    """Re-score every permutation (NaN entries, Kendall): exact, O(N k m log m)."""
    observed = np.array([compare_vectors(x, brain, method).rho for x in models])
    n_pairs = compare_vectors(models[0], brain, method).n_pairs
    null = np.empty((n_permutations, models.shape[0]))
    if scheme == "stimuli":
        full = _square(brain, n)
        iu = np.triu_indices(n, k=1)
        for t, perm in enumerate(permutation_indices(n, n_permutations, seed)):
            permuted = full[np.ix_(perm, perm)][iu]
            null[t] = [compare_vectors(x, permuted, method).rho for x in models]
    else:
        for start, shuffles in _pair_shuffles(brain.size, n_permutations, seed):
            for t, order in enumerate(shuffles):
                null[start + t] = [compare_vectors(x, brain[order], method).rho for x in models]
    return observed, null, n_pairs


# ---------------------------------------------------------------------- bootstrap


@dataclass(frozen=True)
class BootstrapResult:
    """Bootstrap of linear contrasts of the models' scores.

    ``estimate`` (q): the contrasts of the observed scores; ``low``/``high`` (q): the
    interval; ``samples`` (B, q): the bootstrap distribution; ``jackknife`` (n, q):
    leave-one-stimulus-out values (BCa only, else None).
    """

    estimate: np.ndarray
    low: np.ndarray
    high: np.ndarray
    samples: np.ndarray
    jackknife: np.ndarray | None
    ci: str
    level: float
    scheme: str


def bootstrap_indices(n: int, n_bootstrap: int, seed: int = 0) -> np.ndarray:
    """(n_bootstrap, n) stimulus indices drawn with replacement: a function of (n, B, seed)."""
    return np.random.default_rng(seed).integers(0, n, size=(n_bootstrap, n))


def percentile_interval(samples: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    alpha = (1 - level) / 2
    q = np.quantile(samples, [alpha, 1 - alpha], axis=0)
    return q[0], q[1]


def bca_interval(samples: np.ndarray, estimate: np.ndarray, jackknife: np.ndarray, level: float):
    """Efron's BCa interval (Efron & Tibshirani 1993, 14.3), as scipy.stats.bootstrap
    computes it: bias from the share of samples below the estimate (ties half),
    acceleration from the jackknife values."""
    samples = np.atleast_2d(samples.T).T
    alpha = (1 - level) / 2
    B = samples.shape[0]
    share = ((samples < estimate).sum(axis=0) + (samples <= estimate).sum(axis=0)) / (2 * B)
    z0 = special.ndtri(share)
    u = (jackknife.shape[0] - 1) * (jackknife.mean(axis=0) - jackknife)
    n_j = jackknife.shape[0]
    with np.errstate(invalid="ignore", divide="ignore"):
        a = (u**3).sum(axis=0) / n_j**3 / (6 * ((u**2).sum(axis=0) / n_j**2) ** 1.5)
    z = special.ndtri(alpha)
    with np.errstate(invalid="ignore", divide="ignore"):  # degenerate samples: NaN bounds
        lo = special.ndtr(z0 + (z0 + z) / (1 - a * (z0 + z)))
        hi = special.ndtr(z0 + (z0 - z) / (1 - a * (z0 - z)))
    low = np.array([np.quantile(samples[:, c], lo[c]) if np.isfinite(lo[c]) else np.nan for c in range(samples.shape[1])])
    high = np.array([np.quantile(samples[:, c], hi[c]) if np.isfinite(hi[c]) else np.nan for c in range(samples.shape[1])])
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
    with ``resample_subjects`` each sample also draws s subjects with replacement.
    ``contrasts`` (q, k): the statistics are ``contrasts @ scores`` (default: each
    model). ``ci``: percentile or bca (BCa's acceleration from the
    leave-one-stimulus-out jackknife; stimuli scheme without subject resampling
    only). ``resamples``: explicit (B, n) stimulus indices instead of drawing them.
    Pairs that are NaN in any RDM are dropped from every sample.
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
    models, n = _vectors(model_rdms)
    subjects, _ = _vectors(brain_rdm)
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
    rng = np.random.default_rng(seed)
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
            resamples = bootstrap_indices(n, n_bootstrap, seed)
        resamples = np.asarray(resamples)
        n_bootstrap = resamples.shape[0]
    subject_draws = (
        rng.integers(0, subjects.shape[0], size=(n_bootstrap, subjects.shape[0])) if resample_subjects else None
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
                weights[row, valid] = np.bincount(rng.integers(0, valid.size, valid.size), minlength=valid.size)
        if resample_subjects:
            brains = np.stack([subjects[d].mean(axis=0) for d in subject_draws[start:stop]])
        else:
            brains = brain[None]
        scores[start:stop] = stat(weights, brains, counts)

    samples = scores @ contrasts.T
    estimate = contrasts @ estimate_scores
    jackknife = None
    if ci == "bca":
        jack = np.empty((n, k))
        for start in range(0, n, batch):
            stop = min(start + batch, n)
            counts = np.ones((stop - start, n))
            counts[np.arange(stop - start), np.arange(start, stop)] = 0.0  # leave one stimulus out
            jack[start:stop] = stat(None, brain[None], counts)
        jackknife = jack @ contrasts.T
        low, high = bca_interval(samples, estimate, jackknife, level)
    else:
        low, high = percentile_interval(samples, level)
    return BootstrapResult(estimate, low, high, samples, jackknife, ci, level, scheme)


def _kendall_weighted(models: np.ndarray, brains: np.ndarray, weights: np.ndarray, method: str) -> np.ndarray:
    """Kendall of the expanded multisets (slow path: O(m log m) per sample and model)."""
    out = np.empty((weights.shape[0], models.shape[0]))
    for s, w in enumerate(weights):
        reps = w.astype(np.int64)
        y = np.repeat(brains[s if brains.shape[0] > 1 else 0], reps)
        for c, x in enumerate(models):
            out[s, c] = _compare(np.repeat(x, reps), y, method)
    return out


# ---------------------------------------------------------------------- partial RSA


@dataclass(frozen=True)
class PartialResult:
    """Partial correlations of k models with the brain RDM, controlling other RDMs.

    ``rho`` (k), one-sided ``p`` (k), ``p_diff`` (k, k) and ``null`` (N, k), as in
    :class:`PermutationResult`.
    """

    rho: np.ndarray
    p: np.ndarray
    p_diff: np.ndarray
    null: np.ndarray
    n_pairs: int
    method: str
    scheme: str

    def combine(self, weights: np.ndarray) -> PartialResult:
        """Linear combinations of the models' partial scores under the same permutations."""
        weights = np.atleast_2d(np.asarray(weights, dtype=np.float64))
        rho, null = weights @ self.rho, self.null @ weights.T
        p, p_diff = mantel_pvalues(rho, null)
        return PartialResult(rho, p, p_diff, null, self.n_pairs, self.method, self.scheme)


def partial_rsa(
    model_rdm, brain_rdm: np.ndarray, control_rdms, *, n_permutations: int = 10000, seed: int = 0,
    method: str = "spearman", scheme: str = "stimuli", device: str = "cpu", threads: int | None = None,
) -> PartialResult:
    """Partial Spearman correlation of ranks between model and brain RDMs, controlling
    ``control_rdms`` (one (n, n) RDM or several, e.g. the pixel RDM), with a permutation
    p-value.

    Every vector is ranked once; the partial correlation is the Pearson correlation of
    the model ranks and the brain ranks after both are regressed on the control ranks
    (the partial correlation of ranks; residuals are not re-ranked). The p-value
    permutes the brain RDM's stimulus labels (rows and columns together), with model
    and controls fixed (Legendre 2000's permutation of raw data); ``scheme="pairs"``
    shuffles its upper triangle instead. With residual model vectors e, an orthonormal
    basis Q of the controls and the permuted brain ranks y, each null score is
    ``e.y / (|e| sqrt(|y|^2 - |Q'y|^2))``, so one compiled pass gives the null of all
    models. ``method``: spearman or pearson; NaN entries are not supported.
    """
    if method not in ("spearman", "pearson"):
        raise ValueError("partial_rsa supports method spearman or pearson")
    if scheme not in SCHEMES:
        raise ValueError(f"unknown permutation scheme {scheme!r}; expected one of {SCHEMES}")
    models, n = _vectors(model_rdm)
    controls, _ = _vectors(control_rdms)
    brain = upper_triangle(np.asarray(brain_rdm, dtype=np.float64))
    if np.isnan(models).any() or np.isnan(controls).any() or np.isnan(brain).any():
        raise ValueError("partial_rsa does not accept RDMs with NaN entries")
    x = _prepared(models, method)
    z = _prepared(controls, method)
    y = _prepared(brain, method)
    q, r = np.linalg.qr(z.T)  # (m, c): orthonormal, and orthogonal to the constant
    q = q[:, np.abs(np.diag(r)) > 1e-10 * max(1.0, np.abs(np.diag(r)).max())]
    e = x - (x @ q) @ q.T
    e_norm = np.linalg.norm(e, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        e_unit = e / e_norm[:, None]
    rows = np.vstack([e_unit, q.T])
    k = x.shape[0]
    _kernels.set_threads(threads)
    if scheme == "stimuli":
        perms = np.vstack([np.arange(n, dtype=np.int32)[None], permutation_indices(n, n_permutations, seed)])
        dots = _kernels.null_dots(rows, _square(y, n), perms, device=resolve_device(device))
    else:
        dots = np.empty((n_permutations + 1, rows.shape[0]))
        dots[0] = rows @ y
        for start, shuffles in _pair_shuffles(y.size, n_permutations, seed):
            dots[1 + start : 1 + start + len(shuffles)] = y[shuffles] @ rows.T
    with np.errstate(invalid="ignore", divide="ignore"):
        partial = dots[:, :k] / np.sqrt(np.maximum(1.0 - (dots[:, k:] ** 2).sum(axis=1, keepdims=True), 0.0))
    partial[:, e_norm <= 1e-12] = np.nan
    p, p_diff = mantel_pvalues(partial[0], partial[1:])
    return PartialResult(partial[0], p, p_diff, partial[1:], brain.size, method, scheme)


# ------------------------------------------------------------- noise ceilings


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
    NaN."""
    _check_method(method)
    vectors, _ = _vectors(subject_rdms)
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
    """Reliability of data ``factor`` times as long: f r / (1 + (f - 1) r)."""
    r = np.asarray(r, dtype=np.float64)
    return factor * r / (1 + (factor - 1) * r)


@dataclass(frozen=True)
class SplitHalf:
    r: float  # the two halves' RDMs compared
    r_corrected: float  # Spearman-Brown: the reliability of the whole data
    n_pairs: int


def split_half_reliability(rdm_a: np.ndarray, rdm_b: np.ndarray, method: str = "spearman") -> SplitHalf:
    """Reliability of an RDM from two independent halves of its trials (odd and even
    sessions): their RDMs compared, Spearman-Brown corrected to the full data."""
    score = rsa_score(rdm_a, rdm_b, method)
    return SplitHalf(score.rho, float(spearman_brown(score.rho)), score.n_pairs)


def inter_subject_consistency(subject_rdms, method: str = "spearman") -> np.ndarray:
    """(s, s) matrix of every pair of subjects' RDMs compared (diagonal 1)."""
    vectors, _ = _vectors(subject_rdms)
    s = vectors.shape[0]
    out = np.eye(s)
    for a in range(s):
        for b in range(a + 1, s):
            out[a, b] = out[b, a] = compare_vectors(vectors[a], vectors[b], method).rho
    return out


# ------------------------------------------------------------ multiple comparisons

FDR_METHODS = ("fdr_bh", "fdr_by")


def fdr(pvalues, method: str = "fdr_bh") -> np.ndarray:
    """FDR-adjusted p-values of one family (statsmodels ``multipletests``): fdr_bh
    (Benjamini-Hochberg, valid under positive dependence) or fdr_by (any dependence).
    NaN p-values stay NaN and are not counted in the family."""
    from statsmodels.stats.multitest import multipletests

    if method not in FDR_METHODS:
        raise ValueError(f"unknown FDR method {method!r}; expected one of {FDR_METHODS}")
    p = np.asarray(pvalues, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    keep = ~np.isnan(p)
    if keep.any():
        out[keep] = multipletests(p[keep], method=method)[1]
    return out
