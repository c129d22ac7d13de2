"""The features an encoding model regresses on, fitted on training images only.

A layer's cached activations (the extraction's reduction: the per-channel spatial mean,
or an average pool to k x k per channel) are standardised with the training images'
mean and standard deviation, then optionally reduced:

- ``none``: the standardised features;
- ``pca``: the first ``n_components`` principal components of the training images
  (scikit-learn ``PCA``, full SVD, so the result does not depend on a random start);
- ``random_projection``: a Gaussian random projection to ``n_components`` dimensions
  (scikit-learn ``GaussianRandomProjection``; Johnson-Lindenstrauss), drawn from ``seed``.

Nothing is ever fitted on held-out images: :meth:`FeatureTransform.fit` sees only the
rows it is given, and :func:`fitted_features` passes it the fitted rows of a fold alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sklearn.decomposition import PCA
from sklearn.random_projection import GaussianRandomProjection

#: Values of encoding.features.transform.
TRANSFORMS = ("none", "pca", "random_projection")


@dataclass
class FeatureTransform:
    """Standardisation (and PCA or a random projection) learnt from training images.

    ``fit(x)`` with x (n_images, n_features); ``transform(x)`` returns (n, d) float64 with
    d = n_features (``none``) or ``min(n_components, n_features, n_fitted - 1)`` (``pca``)
    or ``n_components`` (``random_projection``). Columns constant over the fitted images
    are kept at 0. Raises ValueError for an unknown method or ``transform`` before ``fit``.
    """

    method: str = "none"
    n_components: int = 512
    seed: int = 0
    fitted_rows: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if self.method not in TRANSFORMS:
            raise ValueError(f"unknown feature transform {self.method!r}; expected one of {TRANSFORMS}")
        self._mean = self._scale = self._reducer = None

    def fit(self, x: np.ndarray) -> FeatureTransform:
        x = np.asarray(x, dtype=np.float64)
        self.fitted_rows = x.shape[0]
        self._mean = x.mean(axis=0)
        std = x.std(axis=0)
        self._scale = np.where(std > 0, std, np.inf)  # constant columns become 0, not NaN
        z = (x - self._mean) / self._scale
        if self.method == "pca":
            k = min(self.n_components, x.shape[1], max(1, x.shape[0] - 1))
            self._reducer = PCA(n_components=k, svd_solver="full").fit(z)
        elif self.method == "random_projection":
            self._reducer = GaussianRandomProjection(n_components=self.n_components, random_state=self.seed).fit(z)
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        if self._mean is None:
            raise ValueError("FeatureTransform.transform before fit")
        z = (np.asarray(x, dtype=np.float64) - self._mean) / self._scale
        return self._reducer.transform(z) if self._reducer is not None else z


def fitted_features(x: np.ndarray, fitted: np.ndarray, held_out: np.ndarray,
                    transform: FeatureTransform) -> tuple[np.ndarray, np.ndarray]:
    """(features of the fitted rows, features of the held-out rows) of x (n_images,
    n_features), with ``transform`` fitted on ``x[fitted]`` alone."""
    transform.fit(x[fitted])
    return transform.transform(x[fitted]), transform.transform(x[held_out])
