"""RDMs of features, streamed over feature columns, on the CPU or a GPU.

:func:`rdm` reads an array or an h5py dataset of any width (float16 included) one
block of columns at a time, with memory O(n^2 + n * chunk). Where a GPU is present
(``device="cuda"`` or ``"auto"``) it runs in torch on it and gives the same numbers
(float64); :func:`resolve_device` says which device a request means.

A stimulus whose features are constant (a uniform grey image's pixels, a ReLU layer
silent for one image) has no correlation distance to any other: its row and column of
the correlation RDM are NaN, and every statistic drops those pairs
(:mod:`lrrsa.rsa.missing`).
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence

import numpy as np

METRICS = ("correlation", "euclidean")


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
    A stimulus with constant features gets a NaN row and column under the correlation
    metric (its correlations are undefined); the diagonal stays 0.
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
        count = _merge_block(gram, means, count, block, block_means, np.outer)
    return _finish_rdm(gram, metric)


def _merge_block(gram, means, count: int, block, block_means, outer) -> int:
    """Add a row-centred block (n, width) with row means ``block_means`` to the running
    Gram matrix of the centred features and the running row means over ``count``
    columns (Chan, Golub & LeVeque 1979), in place; numpy or torch (``outer``).
    Returns the new column count."""
    width = block.shape[1]
    delta = block_means - means
    total = count + width
    gram += block @ block.T
    gram += (count * width / total) * outer(delta, delta)
    means += delta * (width / total)
    return total


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
        if metric == "euclidean":
            block -= block.mean(dim=0)
            gram += block @ block.T
            continue
        block_means = block.mean(dim=1)
        block -= block_means[:, None]
        count = _merge_block(gram, means, count, block, block_means, torch.outer)
    return _finish_rdm(gram.cpu().numpy(), metric)
