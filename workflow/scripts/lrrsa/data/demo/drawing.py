"""Drawing primitives shared by the training images and the THINGS exemplars: pixel grids
and object coordinates, colours and luminance, smooth background clutter, compositing,
anti-aliasing and noise, and the shape and stripe masks in object coordinates.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np


@lru_cache(maxsize=8)
def _grid(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates in [-1, 1] (x right, y down), read-only."""
    c = (np.arange(n) + 0.5) / n * 2.0 - 1.0
    x, y = np.meshgrid(c, c)
    x.setflags(write=False)
    y.setflags(write=False)
    return x, y


def _object_coords(x: np.ndarray, y: np.ndarray, tx: float, ty: float,
                   scale: float, theta: float) -> tuple[np.ndarray, np.ndarray]:
    """Image coordinates -> coordinates of an object translated, rotated and scaled."""
    dx, dy = x - tx, y - ty
    c, s = np.cos(theta), np.sin(theta)
    return (c * dx + s * dy) / scale, (-s * dx + c * dy) / scale


def _downsample(canvas: np.ndarray, factor: int) -> np.ndarray:
    """Box-average supersampled pixels (cheap anti-aliasing)."""
    n = canvas.shape[0] // factor
    return canvas.reshape(n, factor, n, factor, -1).mean(axis=(1, 3))


def _luminance(rgb: np.ndarray) -> np.ndarray:
    return rgb @ np.array([0.299, 0.587, 0.114])


def _contrasting_colours(rng: np.random.Generator, k: int, min_dl: float) -> np.ndarray:
    """``k`` random RGB colours whose luminances differ pairwise by >= ``min_dl``."""
    for _ in range(100):
        cols = rng.uniform(0.0, 1.0, size=(k, 3))
        lum = _luminance(cols)
        if k == 1 or np.min(np.abs(lum[:, None] - lum[None, :]) + np.eye(k)) >= min_dl:
            return cols
    return cols  # practically unreachable; a low-contrast image is still valid


def _background(rng: np.random.Generator, n: int, colour: np.ndarray, amp: float) -> np.ndarray:
    """Uniform colour plus smooth clutter from three random low-frequency plane waves."""
    x, y = _grid(n)
    f = rng.uniform(0.4, 1.5, 3)
    a = rng.uniform(0, 2 * np.pi, 3)
    ph = rng.uniform(0, 2 * np.pi, 3)
    mix = rng.normal(0.0, amp / 2, size=(3, 3))  # wave -> RGB loadings
    # Each wave is separable: sin(p + q) = sin p cos q + cos p sin q, so build
    # it from a row and a column vector instead of evaluating sin on n*n points.
    px = np.pi * f[:, None] * np.cos(a)[:, None] * x[0][None, :]  # (3, n) along columns
    py = np.pi * f[:, None] * np.sin(a)[:, None] * y[:, 0][None, :] + ph[:, None]  # (3, n) along rows
    waves = (np.einsum("kr,kc->krc", np.sin(py), np.cos(px))
             + np.einsum("kr,kc->krc", np.cos(py), np.sin(px)))  # (3, n, n)
    return colour + np.einsum("krc,kd->rcd", waves, mix)


def _paint(canvas: np.ndarray, mask: np.ndarray, fill: np.ndarray) -> None:
    """Composite ``fill`` (HxWx3 or 3) over ``canvas`` where ``mask`` is True."""
    m = mask[..., None]
    canvas[:] = np.where(m, fill, canvas)


def _finish(rng: np.random.Generator, canvas: np.ndarray, ss: int, noise: float) -> np.ndarray:
    img = _downsample(canvas, ss)
    img = img + rng.normal(0.0, noise, size=img.shape)
    return np.clip(np.round(img * 255.0), 0, 255).astype(np.uint8)


# Shape masks in object coordinates (unit radius).


def _disc(u, v):
    return u * u + v * v <= 1.0


def _square(u, v, aspect=1.0):
    return (np.abs(u) <= 0.85) & (np.abs(v) <= 0.85 * aspect)


def _triangle(u, v):
    out = np.ones(u.shape, bool)
    for phi in (-np.pi / 2, np.pi / 6, 5 * np.pi / 6):  # outward edge normals
        out &= u * np.cos(phi) + v * np.sin(phi) <= 0.55
    return out


def _ring(u, v, inner=0.55, aspect=1.0):
    r2 = u * u + (v / aspect) ** 2
    return (r2 <= 1.0) & (r2 >= inner * inner)


def _cross(u, v, t=0.3):
    au, av = np.abs(u), np.abs(v)
    return ((au <= t) & (av <= 1.0)) | ((av <= t) & (au <= 1.0))


def _star(u, v, k=5, depth=0.45):
    r = np.hypot(u, v)
    th = np.arctan2(v, u)
    return r <= 1.0 - depth * (0.5 - 0.5 * np.cos(k * th))


def _blob(u, v, aspect=1.0, wobble=0.0, m=3, phase=0.0):
    r = np.hypot(u, v / aspect)
    th = np.arctan2(v, u)
    return r <= 1.0 + wobble * np.cos(m * th + phase)


def _stripes(u, v, freq, phi, phase):
    """Square-wave stripes; ``phi`` is the direction the stripes vary along."""
    return np.sin(2 * np.pi * freq * (u * np.cos(phi) + v * np.sin(phi)) + phase) > 0
