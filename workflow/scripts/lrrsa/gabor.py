"""How Gabor-like a convolution kernel is: a fitted 2-D Gabor's R^2, and the paper's
spectral peakedness. numpy and scipy only.

Kernels are arrays (channels, height, width), like a row of a conv layer's weight
(``weight[i]``); a 2-D array is one channel. Coordinates: x runs along columns (to the
right), y along rows (downwards), both centred on the kernel's middle, in pixels.

**Gabor fit** (:func:`fit_gabor`). One spatial Gabor shared by the channels, each channel
with its own gain and offset (a colour vector times a Gabor, plus a colour mean)::

    kernel[c] ~ m_c + a_c * (G - mean(G))
    G(x, y) = exp(-((x-x0)^2 + (y-y0)^2) / (2 sigma^2)) * cos(2 pi f u + phase),
    u = (x-x0) cos(theta) + (y-y0) sin(theta)

``R^2 = 1 - SS_res / SS_tot`` with ``SS_tot`` the sum of squares of the kernel about
each channel's mean: the share of the kernel's spatial variance the Gabor explains.
Each channel's mean (its response to a uniform field of that colour) is left out of
both sides, so a uniform colour blob is not counted as a Gabor. Given the Gabor's six
shape parameters the gains and offsets are linear and solved exactly (variable
projection), so the least-squares search runs over the six: a grid search first, then
``scipy.optimize.least_squares`` from the best grid points. Bounds: the centre within
the kernel, ``sigma`` in [0.5, size] px, ``f`` from half a cycle across the kernel,
1 / (2 size), to the Nyquist frequency 0.5 cycles/px.

With 3 x 3 x 3 kernels (27 numbers, 3 of them channel means) the model has 6 + 3 free
parameters for 24 degrees of freedom, so a random kernel already reaches a sizeable R^2:
read the scores of trained networks against those of untrained (random) ones, never
against an absolute threshold alone. On larger kernels random ones rarely pass.

**Spectral peakedness** (:func:`spectral_peakedness`): the paper's "Gabor-peakedness"
(Leutenegger 2026, companion code): the channel mean of the kernel, the magnitude of
its 2-D discrete Fourier transform with the DC term set to 0, and the ratio of its
maximum to its mean over all N = height x width frequencies (the zeroed DC included).
A pure grating puts all its magnitude into one pair of frequencies +-k, giving N / 2
(4.5 for 3 x 3); a flat non-DC spectrum gives N / (N - 1) (1.125 for 3 x 3).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares

SIGMA_MIN = 0.5  # px: narrower envelopes are single-pixel spots, not Gabors
N_REFINE = 4  # grid points refined by least squares


@dataclass(frozen=True)
class GaborFit:
    """A fitted Gabor: R^2 and its parameters (pixels, radians, cycles per pixel).

    ``theta`` is the direction of the carrier's wave vector in [0, pi) (0: the carrier
    varies along x, i.e. vertical stripes), ``phase`` in [0, pi) (a sign flip is a gain's
    sign), ``gains`` per channel.
    """

    r2: float
    x0: float
    y0: float
    sigma: float
    theta: float
    frequency: float
    phase: float
    gains: tuple[float, ...]

    @property
    def orientation_deg(self) -> float:
        return math.degrees(self.theta)


def _as_channels(kernel) -> np.ndarray:
    kernel = np.asarray(kernel, dtype=float)
    if kernel.ndim == 2:
        kernel = kernel[None]
    if kernel.ndim != 3 or min(kernel.shape[1:]) < 2:
        raise ValueError(f"a kernel must be (channels, height, width) or (height, width), at least 2 x 2; got shape {kernel.shape}")
    if not np.all(np.isfinite(kernel)):
        raise ValueError("the kernel holds NaN or infinite values")
    return kernel


def _grid(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    h, w = shape
    y, x = np.mgrid[0:h, 0:w].astype(float)
    return x - (w - 1) / 2, y - (h - 1) / 2


def gabor(shape: tuple[int, int], x0: float, y0: float, sigma: float, theta: float, frequency: float,
          phase: float) -> np.ndarray:
    """The Gabor function sampled on a (height, width) pixel grid (module docstring).

    Parameters broadcast: arrays of shape (k,) give (k, height, width).
    """
    x, y = _grid(shape)
    params = np.broadcast_arrays(*(np.asarray(p, dtype=float) for p in (x0, y0, sigma, theta, frequency, phase)))
    x0, y0, sigma, theta, frequency, phase = (p[..., None, None] for p in params)
    dx, dy = x - x0, y - y0
    u = dx * np.cos(theta) + dy * np.sin(theta)
    return np.exp(-(dx**2 + dy**2) / (2 * sigma**2)) * np.cos(2 * np.pi * frequency * u + phase)


def bounds(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bounds of (x0, y0, sigma, theta, frequency, phase); theta and
    phase are periodic, their bounds only keep the search finite."""
    h, w = shape
    size = max(h, w)
    lower = [-(w - 1) / 2, -(h - 1) / 2, SIGMA_MIN, -np.pi, 1 / (2 * size), -2 * np.pi]
    upper = [(w - 1) / 2, (h - 1) / 2, float(size), 2 * np.pi, 0.5, 3 * np.pi]
    return np.array(lower), np.array(upper)


def _start_grid(shape: tuple[int, int]) -> np.ndarray:
    """Starting points (k, 6) covering orientation, frequency, phase, size and position."""
    lower, upper = bounds(shape)
    h, w = shape
    size = max(h, w)
    xs = np.unique(np.round(np.linspace(lower[0], upper[0], 3), 6)) if w < 6 else np.linspace(-(w - 1) / 4, (w - 1) / 4, 3)
    ys = np.unique(np.round(np.linspace(lower[1], upper[1], 3), 6)) if h < 6 else np.linspace(-(h - 1) / 4, (h - 1) / 4, 3)
    sigmas = np.unique(np.clip([size / 6, size / 3, size / 2], SIGMA_MIN, size))
    thetas = np.arange(12) * np.pi / 12
    freqs = np.geomspace(lower[4], 0.5, 5)
    phases = np.arange(4) * np.pi / 4
    mesh = np.meshgrid(xs, ys, sigmas, thetas, freqs, phases, indexing="ij")
    return np.stack([m.ravel() for m in mesh], axis=1)


def _centre(kernel: np.ndarray) -> np.ndarray:
    """(channels, pixels) with each channel's mean removed."""
    flat = kernel.reshape(kernel.shape[0], -1)
    return flat - flat.mean(axis=1, keepdims=True)


def _explained(data: np.ndarray, templates: np.ndarray) -> np.ndarray:
    """Sum of squares of centred data (channels, pixels) explained by each centred
    template (k, pixels) with the best gain per channel."""
    norms = np.einsum("kp,kp->k", templates, templates)
    projections = templates @ data.T  # (k, channels)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(norms > 1e-12, (projections**2).sum(axis=1) / norms, 0.0)


def fit_gabor(kernel) -> GaborFit:
    """Fit the Gabor model of the module docstring to a kernel; R^2 NaN when the kernel
    has no spatial variance (every channel uniform)."""
    kernel = _as_channels(kernel)
    shape = kernel.shape[1:]
    data = _centre(kernel)
    total = float((data**2).sum())
    if total <= 1e-12 * max(1.0, float((kernel**2).sum())):
        nan = float("nan")
        return GaborFit(nan, nan, nan, nan, nan, nan, nan, tuple([nan] * kernel.shape[0]))

    def template(params) -> np.ndarray:
        g = gabor(shape, *params).reshape(-1)
        return g - g.mean()

    def residuals(params) -> np.ndarray:
        t = template(params)
        norm = t @ t
        gains = data @ t / norm if norm > 1e-12 else np.zeros(len(data))
        return (data - gains[:, None] * t).ravel()

    starts = _start_grid(shape)
    templates = gabor(shape, *starts.T).reshape(len(starts), -1)
    templates -= templates.mean(axis=1, keepdims=True)
    order = np.argsort(-_explained(data, templates))
    lower, upper = bounds(shape)
    best_cost, best = np.inf, None
    for start in starts[order[:N_REFINE]]:
        result = least_squares(residuals, np.clip(start, lower, upper), bounds=(lower, upper), method="trf",
                               x_scale="jac", max_nfev=400)
        if result.cost < best_cost:
            best_cost, best = result.cost, result.x
    x0, y0, sigma, theta, frequency, phase = (float(v) for v in best)
    t = template(best)
    gains = data @ t / (t @ t)
    # Canonical form: (theta + pi, phase) is (theta, -phase); (phase + pi, gains) is (phase, -gains).
    theta %= 2 * np.pi
    if theta >= np.pi:
        theta, phase = theta - np.pi, -phase
    phase %= 2 * np.pi
    if phase >= np.pi:
        phase, gains = phase - np.pi, -gains
    r2 = 1.0 - 2 * best_cost / total
    return GaborFit(float(np.clip(r2, 0.0, 1.0)), x0, y0, sigma, float(theta % np.pi), frequency, float(phase % np.pi),
                    tuple(float(g) for g in gains))


def spectral_peakedness(kernel) -> float:
    """The paper's Gabor-peakedness (module docstring): max / mean of the DC-free DFT
    magnitude of the channel-mean kernel; NaN for a uniform kernel."""
    kernel = _as_channels(kernel)
    magnitude = np.abs(np.fft.fft2(kernel.mean(axis=0)))
    magnitude[0, 0] = 0.0
    mean = magnitude.mean()
    if mean <= 1e-12 * max(1.0, float(np.abs(kernel).max())):
        return float("nan")
    return float(magnitude.max() / mean)


def score_filters(weights) -> dict[str, np.ndarray]:
    """Gabor fit and peakedness of every kernel of a conv weight (filters, channels,
    height, width): one array per column (filter index, R^2, fitted parameters with
    orientation in degrees, peakedness, the kernel's L2 norm)."""
    weights = np.asarray(weights, dtype=float)
    if weights.ndim != 4:
        raise ValueError(f"conv weights must be (filters, channels, height, width); got shape {weights.shape}")
    fits = [fit_gabor(w) for w in weights]
    return {
        "filter": np.arange(len(weights)),
        "gabor_r2": np.array([f.r2 for f in fits]),
        "orientation_deg": np.array([f.orientation_deg for f in fits]),
        "frequency": np.array([f.frequency for f in fits]),
        "sigma": np.array([f.sigma for f in fits]),
        "phase": np.array([f.phase for f in fits]),
        "x0": np.array([f.x0 for f in fits]),
        "y0": np.array([f.y0 for f in fits]),
        "peakedness": np.array([spectral_peakedness(w) for w in weights]),
        "norm": np.sqrt((weights**2).sum(axis=(1, 2, 3))),
    }
