"""Stimuli without dissimilarities, and the exact permutation null that drops them.

A stimulus whose features are constant (a uniform grey image in the pixel RDM, a
blank stimulus, a ReLU layer silent for one image) has a NaN row and column in a
correlation RDM: every pair that involves it is missing. Scores drop those pairs.
Under a permutation of the brain RDM's stimulus labels the missing pattern moves, so
the pairs a permutation can score change from one permutation to the next, and the
ranks must be recomputed on the pairs that are kept. The definition this module
implements exactly is the brute-force one: under each permutation, score the model
against the permuted brain RDM over the pairs where neither is NaN, ranking only
those pairs.

How it stays fast. Let S_model be the stimuli missing in a model RDM (and its controls),
S_brain those missing in the brain RDM. Under the permutation pi (the permuted brain
has entry B[pi(i), pi(j)] at pair (i, j)) the stimuli dropped on the model's side are
D = S_model | pi^-1(S_brain), those on the brain's side E = pi(D) = S_brain | pi(S_model),
and the kept pairs are the pairs of the other stimuli on both sides. Permutations
with the same (D, E) share the model's vectors (standardised ranks over the kept
pairs, 0 elsewhere) and the brain's, so each group is one call of the ordinary null
kernel (:func:`lrrsa.rsa._kernels.null_dots`), whose dot products are then exactly
the correlations over the kept pairs. With one missing stimulus on one side there
are at most n groups: the vectors are rebuilt n times (O(n m) per model, each from a
sort done once) and the dot products cost what they cost without missing stimuli.
Missing stimuli on both sides give a group per permutation on the brain's side
(one O(m) rebuild of the brain vector per permutation). Groups run in threads.

NaN entries that are not whole stimuli (a single missing pair) have no such
structure; :mod:`lrrsa.rsa.permutation` re-scores those permutations one by one.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from lrrsa.rsa import _kernels
from lrrsa.rsa.condensed import prepared

#: Brain-side vectors shared by several groups are built once when there are at most
#: this many of them (each is an n x n float64 matrix).
_SHARED_BRAINS = 16

#: ``drop -> (vectors, which are defined)``: one side's vectors with the stimuli ``drop`` dropped.
Build = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


def missing_stimuli(vectors: np.ndarray, n: int) -> np.ndarray | None:
    """(k, n) bool: the stimuli all of whose pairs are NaN, for each condensed vector
    in ``vectors`` (k, m); None when some vector's NaN entries are not exactly the
    pairs of such stimuli (a missing pair between two stimuli that are otherwise
    present)."""
    vectors = np.atleast_2d(vectors)
    ipair, jpair = _kernels.pair_index(n)
    out = np.zeros((vectors.shape[0], n), dtype=bool)
    for row, v in enumerate(vectors):
        nan = np.isnan(v)
        if not nan.any():
            continue
        count = np.bincount(ipair[nan], minlength=n) + np.bincount(jpair[nan], minlength=n)
        out[row] = count == n - 1
        if not np.array_equal(nan, out[row][ipair] | out[row][jpair]):
            return None
    return out


def model_classes(model_missing: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """The models grouped by their missing stimuli ``model_missing`` (k, n): (the
    stimuli, the models' indices) per distinct set."""
    classes, class_of = np.unique(model_missing, axis=0, return_inverse=True)
    return [(mask, np.flatnonzero(class_of.reshape(-1) == c)) for c, mask in enumerate(classes)]


def standardized_kept(vectors: np.ndarray, drop: np.ndarray, method: str, infos=None, *,
                      square: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Each row of ``vectors`` (k, m) standardised over the pairs of the stimuli not in
    ``drop`` (n,) (ranks among those pairs for Spearman), 0 elsewhere, and whether
    each row is defined (:func:`lrrsa.rsa._kernels.kept_standardized`); ``square``:
    each row as its (n, n) matrix. NaN entries must be pairs of dropped stimuli.
    Nothing dropped: :func:`lrrsa.rsa.condensed.prepared`, the arithmetic of the test
    without missing stimuli. ``infos``: the rows' :func:`lrrsa.rsa._kernels.kept_info`
    (Spearman), so that no row is sorted again."""
    vectors = np.atleast_2d(vectors)
    n = drop.size
    if not drop.any():
        out = prepared(vectors, method)
        valid = np.any(out, axis=1)
        return (np.stack([_kernels.square(v, n) for v in out]) if square else out), valid
    out = np.empty((vectors.shape[0], n, n) if square else vectors.shape)
    valid = np.empty(vectors.shape[0], dtype=bool)
    for row, v in enumerate(vectors):
        info = infos[row] if infos is not None else None
        out[row], valid[row] = _kernels.kept_standardized(v, drop, rank=method == "spearman", info=info,
                                                          square=square)
    return out, valid


def builder(vectors: np.ndarray, n: int, method: str, moves: bool, *, square: bool = False) -> Build:
    """``drop -> standardized_kept(vectors, drop, method, square=square)``, with the
    vectors' sort orders computed once where stimuli are dropped under some
    permutation (``moves``)."""
    vectors = np.atleast_2d(vectors)
    infos = [_kernels.kept_info(v, n) for v in vectors] if moves and method == "spearman" else None
    return lambda drop: standardized_kept(vectors, drop, method, infos, square=square)


def brain_builder(brain: np.ndarray, n: int, method: str, moves: bool) -> Callable[[np.ndarray], tuple[np.ndarray, bool]]:
    """``drop -> (n, n) matrix of the standardised brain vector, whether defined``."""
    build = builder(brain, n, method, moves, square=True)

    def matrix(drop: np.ndarray) -> tuple[np.ndarray, bool]:
        out, ok = build(drop)
        return out[0], bool(ok[0])

    return matrix


def _distinct(masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows of a (N, n) bool array and, per row, the index of its own."""
    packed = np.packbits(masks, axis=1)
    _, first, inverse = np.unique(packed, axis=0, return_index=True, return_inverse=True)
    return masks[first], inverse.reshape(-1)


def null_dots_dropping(
    perms: np.ndarray, fixed_missing: np.ndarray, brain_missing: np.ndarray, build_fixed: Build,
    build_brain: Callable[[np.ndarray], tuple[np.ndarray, bool]], n_rows: int, *, device: str = "cpu",
    threads: int | None = None,
) -> np.ndarray:
    """(N, n_rows) dot products of the fixed side's vectors with the permuted brain's,
    each permutation over the pairs it keeps; NaN where a vector is undefined.

    ``perms`` (N, n): stimulus permutations of the brain RDM; ``fixed_missing`` (n,)
    and ``brain_missing`` (n,): the stimuli missing on each side. ``build_fixed(D)``
    returns the fixed side's (n_rows, m) vectors with the stimuli D dropped (zero on
    their pairs) and which rows are defined; ``build_brain(E)`` the brain's (n, n)
    matrix with E dropped (zero rows and columns) and whether it is defined. Without
    missing stimuli this is one call of :func:`lrrsa.rsa._kernels.null_dots`.
    """
    N = perms.shape[0]
    drops, d_of = _distinct(fixed_missing[None, :] | brain_missing[perms])
    brain_side = np.zeros((N, perms.shape[1]), dtype=bool)
    brain_side[np.arange(N)[:, None], perms] = drops[d_of]  # E = pi(D)
    brain_drops, e_of = _distinct(brain_side)
    del brain_side
    out = np.full((N, n_rows), np.nan)

    def dots(fixed, valid, e: int, rows: np.ndarray, serial: bool, brain=None) -> None:
        matrix, ok = brain if brain is not None else build_brain(brain_drops[e])
        if ok and valid.any():
            values = _kernels.null_dots(fixed, matrix, perms[rows], device=device, serial=serial)
            values[:, ~valid] = np.nan
            out[rows] = values

    if len(drops) == 1 and len(brain_drops) == 1:  # nothing moves: one call, parallel over permutations
        fixed, valid = build_fixed(drops[0])
        dots(fixed, valid, 0, np.arange(N), serial=False)
        return out

    groups: dict[int, dict[int, list[int]]] = {}
    for t, (d, e) in enumerate(zip(d_of, e_of)):
        groups.setdefault(int(d), {}).setdefault(int(e), []).append(t)
    users = np.bincount([e for by_e in groups.values() for e in by_e], minlength=len(brain_drops))
    shared = np.flatnonzero(users > 1)
    brains = {int(e): build_brain(brain_drops[e]) for e in shared} if shared.size <= _SHARED_BRAINS else {}
    workers = 1 if device != "cpu" else max(1, threads or _kernels.default_threads() or os.cpu_count() or 1)

    if len(drops) == 1:  # one model side (missing stimuli in the models only): threads over the brain's groups
        fixed, valid = build_fixed(drops[0])
        tasks = [lambda e=e, rows=rows: dots(fixed, valid, e, np.array(rows), True, brains.get(e))
                 for e, rows in groups[0].items()]
    else:
        def group(d: int) -> None:
            fixed, valid = build_fixed(drops[d])
            for e, rows in groups[d].items():
                dots(fixed, valid, e, np.array(rows), True, brains.get(e))

        tasks = [lambda d=d: group(d) for d in groups]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for future in [pool.submit(task) for task in tasks]:
            future.result()
    return out
