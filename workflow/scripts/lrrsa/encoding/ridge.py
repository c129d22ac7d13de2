"""Ridge regression with a penalty per target chosen by cross-validation (himalaya).

``himalaya.ridge.RidgeCV`` (Dupre la Tour et al. 2022, NeuroImage 264:119728) solves
``argmin_b ||X b - y||^2 + alpha ||b||^2`` for every target at every ``alpha`` from one SVD
of X per split, picks each target's alpha by its mean validation score over the given
splits (``local_alpha``: negative mean squared error), and refits on all the fitted
images. Its backends run the same code on NumPy (CPU) or PyTorch (CPU or CUDA).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: himalaya backends by lrrsa device.
BACKENDS = {"cpu": "numpy", "cuda": "torch_cuda"}


@dataclass(frozen=True)
class RidgeFit:
    """``prediction`` (n_held_out, n_targets) float64; ``alpha`` (n_targets,) the chosen
    penalty per target; ``cv_score`` (n_targets,) its mean validation score (negative MSE)."""

    prediction: np.ndarray
    alpha: np.ndarray
    cv_score: np.ndarray


def alpha_grid(log10_min: float, log10_max: float, n: int) -> np.ndarray:
    """``n`` penalties log-spaced from 10^log10_min to 10^log10_max. Raises ValueError
    for n < 1 or min > max."""
    if n < 1 or log10_min > log10_max:
        raise ValueError(f"alpha grid needs n >= 1 and log10_min <= log10_max; got {n}, {log10_min}, {log10_max}")
    return np.logspace(log10_min, log10_max, n)


def _backend(device: str):
    from himalaya.backend import set_backend

    name = BACKENDS.get(device)
    if name is None:
        raise ValueError(f"no himalaya backend for device {device!r}; expected one of {sorted(BACKENDS)}")
    return set_backend(name, on_error="raise")


def fit_ridge_cv(x_fit: np.ndarray, y_fit: np.ndarray, x_held_out: np.ndarray, *, alphas: Sequence[float],
                 splits: Sequence[tuple[np.ndarray, np.ndarray]], device: str = "cpu") -> RidgeFit:
    """Fit every column of ``y_fit`` (n_fit, n_targets) on ``x_fit`` (n_fit, d) with an
    intercept and its own alpha chosen over ``splits`` (fit rows, validation rows of
    ``x_fit``), then predict ``x_held_out`` (n_held_out, d). ``device``: cpu or cuda.
    Raises ValueError for mismatched rows or NaN input."""
    from himalaya.ridge import RidgeCV

    if x_fit.shape[0] != y_fit.shape[0]:
        raise ValueError(f"{x_fit.shape[0]} fitted images of features but {y_fit.shape[0]} of responses")
    for name, a in (("features", x_fit), ("responses", y_fit), ("held-out features", x_held_out)):
        if not np.isfinite(a).all():
            raise ValueError(f"encoding model: {name} hold NaN or infinite values")
    backend = _backend(device)
    model = RidgeCV(alphas=np.asarray(alphas, dtype=np.float64), fit_intercept=True, cv=list(splits),
                    solver_params={"local_alpha": True})
    model.fit(x_fit, y_fit)
    prediction = backend.to_numpy(model.predict(x_held_out))
    return RidgeFit(prediction=np.asarray(prediction, dtype=np.float64),
                    alpha=np.asarray(backend.to_numpy(model.best_alphas_), dtype=np.float64),
                    cv_score=np.asarray(backend.to_numpy(model.cv_scores_), dtype=np.float64).reshape(-1))
