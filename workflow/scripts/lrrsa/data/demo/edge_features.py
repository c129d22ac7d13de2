"""The edge-energy image features (:func:`edge_energy`): luminance resampled to 64 x 64,
filtered by a bank of quadrature Gabor pairs (2 wavelengths x 4 orientations) through the
FFT, and the response amplitude pooled on an 8 x 8 grid; the early ROIs of the simulated
brain read these out.
"""

from __future__ import annotations

import os
from functools import lru_cache

import numpy as np
from PIL import Image
from scipy import fft as sp_fft

from lrrsa.data.demo.drawing import _luminance

# Edge-energy model: images are resampled to a fixed working size so the
# features (and hence the early-ROI signal) do not depend on the image size.
_EE_SIZE = 64
_EE_PAD = 16
_EE_WAVELENGTHS = (4.0, 8.0)
_EE_N_ORIENT = 4
_EE_GRID = 8


@lru_cache(maxsize=2)
def _gabor_bank_fft(n: int) -> np.ndarray:
    """FFTs of complex Gabor filters, shape (wavelengths*orientations, n, n)."""
    c = np.arange(n) - n // 2
    x, y = np.meshgrid(c, c)
    bank = []
    for lam in _EE_WAVELENGTHS:
        sigma = 0.56 * lam  # about one octave bandwidth
        env = np.exp(-(x * x + y * y) / (2 * sigma * sigma))
        env /= env.sum()
        for k in range(_EE_N_ORIENT):
            th = np.pi * k / _EE_N_ORIENT
            carrier = np.exp(2j * np.pi * (x * np.cos(th) + y * np.sin(th)) / lam)
            g = env * carrier
            g -= env * (g.sum() / env.sum())  # zero DC: no response to uniform luminance
            bank.append(np.fft.fft2(np.fft.ifftshift(g)))
    out = np.stack(bank).astype(np.complex64)  # float32 precision is plenty here
    out.setflags(write=False)
    return out


def _to_luminance_stack(images: np.ndarray) -> np.ndarray:
    """(n, H, W[, 3]) uint8 or float -> (n, _EE_SIZE, _EE_SIZE) luminance in [0, 1]."""
    arr = np.asarray(images)
    if arr.ndim == 3:
        lum = arr.astype(np.float64)
    elif arr.ndim == 4 and arr.shape[-1] == 3:
        lum = _luminance(arr.astype(np.float64))
    else:
        raise ValueError(f"expected (n, H, W) or (n, H, W, 3) images, got {arr.shape}")
    if np.issubdtype(arr.dtype, np.integer):
        lum = lum / 255.0
    if lum.shape[1:] != (_EE_SIZE, _EE_SIZE):
        # Pillow's bilinear resize filters when shrinking, so no aliasing.
        lum = np.stack([
            np.asarray(Image.fromarray(im.astype(np.float32))
                       .resize((_EE_SIZE, _EE_SIZE), Image.Resampling.BILINEAR))
            for im in lum
        ]).astype(np.float64)
    return lum


def edge_energy(images: np.ndarray) -> np.ndarray:
    """Local oriented-edge energy of images.

    ``images``: (n, H, W, 3) RGB or (n, H, W) grey, uint8 (0-255) or float (0-1).
    Luminance is resampled to 64 x 64, filtered with quadrature Gabor pairs at
    wavelengths 4 and 8 px and 4 orientations (0, 45, 90, 135 deg), and the
    response amplitude is averaged over an 8 x 8 grid of cells.
    Returns float64 of shape (n, 8, 8, 8): (image, wavelength*4 + orientation, row, col).
    """
    lum = _to_luminance_stack(images)
    n_img = lum.shape[0]
    # Reflect-pad so the circular FFT convolution does not wrap edges around.
    padded = np.pad(lum, ((0, 0), (_EE_PAD, _EE_PAD), (_EE_PAD, _EE_PAD)), mode="reflect")
    bank = _gabor_bank_fft(padded.shape[1])
    # Threads the job may use (respects CPU affinity set by schedulers), capped.
    workers = min(4, len(os.sched_getaffinity(0))) if hasattr(os, "sched_getaffinity") else 1
    spec = sp_fft.fft2(padded.astype(np.float32), workers=workers)
    cell = _EE_SIZE // _EE_GRID
    out = np.empty((n_img, bank.shape[0], _EE_GRID, _EE_GRID))
    for k in range(bank.shape[0]):
        resp = np.abs(sp_fft.ifft2(spec * bank[k], workers=workers))
        resp = resp[:, _EE_PAD:-_EE_PAD, _EE_PAD:-_EE_PAD]
        out[:, k] = resp.reshape(n_img, _EE_GRID, cell, _EE_GRID, cell).mean(axis=(2, 4))
    return out
