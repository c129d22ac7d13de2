"""Partial RSA: the partial correlation of ranks between model and brain RDMs,
controlling other RDMs (the pixel RDM), with its permutation test.

Every vector is ranked once; the partial correlation is the Pearson correlation of
the model ranks and the brain ranks after both are regressed on the control ranks.
That is the partial correlation of ranks by definition; the paper's code re-ranks
the residuals, which gives a different, undefined quantity.
"""

from __future__ import annotations

import numpy as np

from lrrsa.rsa import _kernels
from lrrsa.rsa.comparators import upper_triangle
from lrrsa.rsa.condensed import condensed, prepared, require_stimuli
from lrrsa.rsa.missing import brain_builder, builder, missing_stimuli, model_classes, null_dots_dropping
from lrrsa.rsa.permutation import SCHEMES, PermutationResult, mantel_pvalues, pair_shuffle_dots, with_identity
from lrrsa.rsa.rdm import resolve_device


class PartialResult(PermutationResult):
    """Partial correlations of k models with the brain RDM, controlling other RDMs.

    ``rho`` (k), one-sided ``p`` (k), ``p_diff`` (k, k), ``null`` (N, k) and
    ``n_pairs``, as in :class:`lrrsa.rsa.permutation.PermutationResult`.
    """


def residual_rows(x: np.ndarray, x_valid: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rows whose dot products with a standardised brain vector y give the partial
    correlations: the models' residuals e on the controls, scaled to unit norm (k, m),
    above an orthonormal basis Q' of the controls, padded with zero rows to c (c, m).
    Then partial = e.y / sqrt(1 - |Q'y|^2). ``x`` (k, m), ``z`` (c, m): standardised
    vectors (0 on dropped pairs). A control that is constant, or a linear combination
    of the others, adds no column. Returns the rows and which are defined (a model
    that the controls explain entirely has no residual: undefined)."""
    k, c = x.shape[0], z.shape[0]
    q, r = np.linalg.qr(z.T)  # (m, c): orthonormal, and orthogonal to the constant
    diag = np.abs(np.diag(r))
    q = q[:, diag > 1e-10 * max(1.0, diag.max(initial=0.0))]
    e = x - (x @ q) @ q.T
    e_norm = np.linalg.norm(e, axis=1)
    valid = np.concatenate([x_valid & (e_norm > 1e-12), np.ones(c, dtype=bool)])
    rows = np.zeros((k + c, x.shape[1]))
    rows[:k][valid[:k]] = e[valid[:k]] / e_norm[valid[:k], None]
    rows[k : k + q.shape[1]] = q.T
    return rows, valid


def _partial(dots: np.ndarray, k: int) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return dots[:, :k] / np.sqrt(np.maximum(1.0 - (dots[:, k:] ** 2).sum(axis=1, keepdims=True), 0.0))


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
    models. ``method``: spearman or pearson.

    Missing pairs (NaN in the model, the brain or a control) are dropped from every
    score, observed and permuted, and all vectors are ranked over the pairs kept, as
    in :func:`lrrsa.rsa.permutation.permutation_test` (whole stimuli missing: the
    compiled path; other NaN patterns: every permutation re-scored). Degenerate input:
    a model or brain constant over the kept pairs, or a model the controls explain
    entirely, gives NaN; a constant control controls nothing (the plain correlation);
    fewer than 4 stimuli is a ValueError.
    """
    if method not in ("spearman", "pearson"):
        raise ValueError("partial_rsa supports method spearman or pearson")
    if scheme not in SCHEMES:
        raise ValueError(f"unknown permutation scheme {scheme!r}; expected one of {SCHEMES}")
    models, n = condensed(model_rdm)
    require_stimuli(n, "partial_rsa")
    controls, _ = condensed(control_rdms)
    brain = upper_triangle(np.asarray(brain_rdm, dtype=np.float64))
    if controls.shape[1] != models.shape[1] or brain.size != models.shape[1]:
        raise ValueError(f"partial_rsa: the model RDMs have {models.shape[1]} pairs, the controls "
                         f"{controls.shape[1]}, the brain RDM {brain.size}")
    k = models.shape[0]
    _kernels.set_threads(threads)
    present = ~(np.isnan(models) | np.isnan(controls).any(axis=0) | np.isnan(brain))
    n_pairs = int(present.sum(axis=1).min())
    if scheme == "pairs":
        keep = present.all(axis=0)
        x, z, y = prepared(models[:, keep], method), prepared(controls[:, keep], method), prepared(brain[keep], method)
        rows, valid = residual_rows(x, np.any(x, axis=1), z)
        dots = pair_shuffle_dots(rows, y, n_permutations, seed)
        dots[:, ~valid] = np.nan
        partial = _partial(dots, k) if np.any(y) else np.full((n_permutations + 1, k), np.nan)
        n_pairs = int(keep.sum())
    elif (missing := missing_stimuli(np.vstack([models, controls, brain]), n)) is not None:
        partial = _stimulus_null(models, controls, brain, missing, n_permutations, seed, method,
                                 resolve_device(device), threads)
    else:
        partial = _slow_null(models, controls, brain, n, n_permutations, seed, method)
    p, p_diff = mantel_pvalues(partial[0], partial[1:])
    return PartialResult(partial[0], p, p_diff, partial[1:], n_pairs, method, scheme)


def _stimulus_null(models, controls, brain, missing, n_permutations, seed, method, device, threads):
    """(N + 1, k) partial correlations under the identity and each permutation."""
    k, c, n = models.shape[0], controls.shape[0], missing.shape[1]
    perms = with_identity(n, n_permutations, seed)
    fixed_missing = missing[:k] | missing[k : k + c].any(axis=0)
    brain_missing = missing[-1]
    moves = bool(fixed_missing.any() or brain_missing.any())
    build_brain = brain_builder(brain, n, method, moves)
    build_controls = builder(controls, n, method, moves)
    out = np.empty((perms.shape[0], k))
    for drop_fixed, members in model_classes(fixed_missing):
        build_models = builder(models[members], n, method, moves)

        def build_fixed(drop, build_models=build_models):
            x, x_valid = build_models(drop)
            return residual_rows(x, x_valid, build_controls(drop)[0])

        dots = null_dots_dropping(perms, drop_fixed, brain_missing, build_fixed, build_brain, members.size + c,
                                  device=device, threads=threads)
        out[:, members] = _partial(dots, members.size)
    return out


def _slow_null(models, controls, brain, n, n_permutations, seed, method):
    """Every permutation re-scored over the pairs it keeps (NaN entries that are not
    whole stimuli): exact, O(N k m log m)."""
    full = _kernels.square(brain, n)
    iu = np.triu_indices(n, k=1)
    perms = with_identity(n, n_permutations, seed)
    out = np.empty((perms.shape[0], models.shape[0]))
    for t, perm in enumerate(perms):
        y = full[np.ix_(perm, perm)][iu]
        for col, x in enumerate(models):
            keep = ~(np.isnan(x) | np.isnan(y) | np.isnan(controls).any(axis=0))
            xs, ys = prepared(x[keep], method), prepared(y[keep], method)
            rows, valid = residual_rows(xs[None], np.array([np.any(xs)]), prepared(controls[:, keep], method))
            out[t, col] = _partial((rows @ ys)[None], 1)[0, 0] if valid[0] and np.any(ys) else np.nan
    return out
