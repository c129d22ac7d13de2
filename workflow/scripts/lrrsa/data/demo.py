"""Embedded demo data: a training-image zip and a miniature THINGS-fMRI dataset.

Everything here is generated from a seed with numpy/scipy/Pillow; nothing is
downloaded. The files use the real layouts (ImageFolder zip like
``cifar10-jpeg.zip``; THINGS ``object_images`` and THINGS-fMRI ``betas_csv``),
so the workflow's loaders read demo and real data the same way.

Training zip (:func:`write_training_zip`)
    Ten procedurally drawn classes (six shapes, four textures) with random
    colours, position, scale, rotation, smooth background clutter, a distractor
    blob and pixel noise: easy enough for a small CNN to learn in a couple of
    epochs, not trivial.

THINGS dataset (:func:`write_things_dataset`)
    Invented concepts (some names with a digit, hyphen or underscore, as in
    THINGS) belong to superordinate categories. A category fixes a shape family
    (blob, block, star, ring, rod, cross, ...), a hue and a preferred texture
    orientation; a concept draws its own shape parameters, stripe texture
    (orientation scattered around the category's, frequency), hue and size;
    exemplars jitter position, scale, rotation, colour and background.

Planted structure in the simulated betas (what the demo's RSA must recover):

- Early ROIs (V1, V2, V3, hV4) are linear read-outs of :func:`edge_energy`
  (quadrature Gabor energy, 2 wavelengths x 4 orientations, pooled on an 8 x 8
  grid): each voxel has a Gaussian spatial receptive field (sigma in grid cells
  V1 0.6 < V2 1.0 < V3 1.5 < hV4 2.2) and sparse positive orientation weights;
  V1 prefers the fine scale, V3/hV4 the coarse one.
- Late ROIs read out a latent concept embedding ``category centre + concept
  part + small exemplar part`` through random Gaussian voxel weights. IT is
  the most categorical (category share 0.6 of the latent variance); LOC
  (lLOC, rLOC) has category share 0.25 and mixes in 0.3 of coarse shape
  features (edge energy pooled on a 2 x 2 grid). lFFA/rFFA, unless given their
  own voxel counts, are subsets of IT.
- Voxels outside every ROI carry noise only.
- Every signal is z-scored per voxel across all images and scaled by a
  per-voxel amplitude (log-normal around the ROI's mean); each trial adds
  Gaussian noise (``noise_sd``), a per-voxel per-session offset
  (0.3 ``noise_sd``) and a weak global trial fluctuation; a voxel gain and
  baseline make the betas look unstandardised. Repeats are therefore
  correlated but not identical and the VoxelMetadata noise ceilings
  (``nc_*``, ``splithalf_*``) are computed from the generated test trials.

Images and latent embeddings are shared by all subjects; voxel counts, voxel
weights, trial orders and noise come from a per-subject numpy Generator
seeded by ``(seed, crc32(subject))``, so adding a subject leaves the others
unchanged. A sidecar ``demo_concepts.tsv`` (concept, category) records the
ground-truth categories for figures and tests.
"""

from __future__ import annotations

import colorsys
import io
import os
import re
import tempfile
import warnings
import zipfile
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from scipy import fft as sp_fft

from lrrsa.images import decode_image

__all__ = [
    "DEFAULT_VOXELS_PER_ROI",
    "ROI_COLUMNS",
    "STIMULUS_COLUMNS",
    "TRAINING_CLASSES",
    "edge_energy",
    "write_things_dataset",
    "write_training_zip",
]

TRAINING_CLASSES: tuple[str, ...] = (
    "checker",
    "cross",
    "disc",
    "dots",
    "ring",
    "square",
    "star",
    "stripes-diagonal",
    "stripes-horizontal",
    "triangle",
)
"""Class names of the training zip (sorted, as ImageFolder indexes them)."""

# Same order as in the real VoxelMetadata files (a subset of their columns).
ROI_COLUMNS: tuple[str, ...] = ("V1", "V2", "V3", "hV4", "lFFA", "rFFA", "lLOC", "rLOC", "IT")
STIMULUS_COLUMNS: tuple[str, ...] = (
    "trial_type", "session", "run", "subject_id", "trial_id", "stimulus", "concept",
)
DEFAULT_VOXELS_PER_ROI: Mapping[str, int] = {
    "V1": 150, "V2": 150, "V3": 80, "hV4": 80, "lLOC": 60, "rLOC": 60, "IT": 150,
}

_EARLY = {"V1", "V2", "V3", "hV4"}
_LOC = {"lLOC", "rLOC"}
_GLASSER = ("glasser-V1", "glasser-V2")

# Edge-energy model: images are resampled to a fixed working size so the
# features (and hence the early-ROI signal) do not depend on the image size.
_EE_SIZE = 64
_EE_PAD = 16
_EE_WAVELENGTHS = (4.0, 8.0)
_EE_N_ORIENT = 4
_EE_GRID = 8

# Early-ROI receptive fields (sigma, in edge-energy grid cells), fine/coarse
# wavelength weights and mean signal amplitude.
_EARLY_RF = {"V1": 0.6, "V2": 1.0, "V3": 1.5, "hV4": 2.2}
_EARLY_SCALE_W = {"V1": (1.0, 0.4), "V2": (0.8, 0.7), "V3": (0.5, 1.0), "hV4": (0.4, 1.0)}
# Late-ROI latent mixture (category, concept, exemplar, coarse shape); the
# shares sum to 1 so the latent has unit variance per dimension.
_LATE_MIX = {"IT": (0.6, 0.3, 0.1, 0.0), "LOC": (0.25, 0.35, 0.1, 0.3)}
_LATENT_DIM = 16
_SESSION_SD = 0.3  # per-session offset, in units of noise_sd
_GLOBAL_SD = 0.2  # shared trial fluctuation, in units of noise_sd
_VOLUME = (80, 96, 80)  # voxel grid (x, y, z), 2 mm-like
_ROI_CENTRES = {
    "V1": (40, 8, 30), "V2": (40, 13, 33), "V3": (40, 18, 36), "hV4": (30, 22, 24),
    "lFFA": (26, 36, 18), "rFFA": (54, 36, 18), "lLOC": (18, 26, 32), "rLOC": (62, 26, 32),
    "IT": (40, 40, 16),
}
_FAMILIES = ("blob", "block", "star", "ring", "rod", "cross")


# --------------------------------------------------------------------------
# small utilities
# --------------------------------------------------------------------------


def _atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a temp file next to ``path``, then rename it.

    The rename is atomic on one file system, so an interrupted run never
    leaves a complete-looking but truncated file at ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; outputs should be readable
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_bytes(path: Path, data: bytes) -> None:
    _atomic_write(path, lambda tmp: tmp.write_bytes(data))


def _write_csv(path: Path, frame: pd.DataFrame, sep: str = ",") -> None:
    _atomic_write(path, lambda tmp: frame.to_csv(tmp, index=False, sep=sep))


def _rng(*key: int) -> np.random.Generator:
    """An independent stream per key, so one item's draws never shift another's."""
    return np.random.default_rng([int(k) for k in key])


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


# --------------------------------------------------------------------------
# training zip
# --------------------------------------------------------------------------


def _render_training_image(cls: str, rng: np.random.Generator, size: int) -> np.ndarray:
    """One image of class ``cls`` as (size, size, 3) uint8."""
    ss = 2
    n = size * ss
    x, y = _grid(n)
    bg, c1, c2 = _contrasting_colours(rng, 3, 0.18)
    canvas = _background(rng, n, bg, amp=0.25)
    if rng.random() < 0.6:  # distractor blob, small enough not to read as a disc
        u, v = _object_coords(x, y, *rng.uniform(-0.7, 0.7, 2), rng.uniform(0.08, 0.16),
                              rng.uniform(0, np.pi))
        _paint(canvas, _blob(u, v, aspect=rng.uniform(0.5, 1.0)), rng.uniform(0, 1, 3))

    if cls in ("checker", "dots", "stripes-diagonal", "stripes-horizontal"):
        # A textured patch covering much of the image; orientation is class-specific.
        hw, hh = rng.uniform(0.55, 1.0, 2)
        tx, ty = rng.uniform(-0.2, 0.2, 2)
        patch = (np.abs(x - tx) <= hw) & (np.abs(y - ty) <= hh)
        period_px = rng.uniform(3.5, 7.0)
        freq = size / (2.0 * period_px)  # cycles per unit of [-1, 1] coordinates
        jitter = np.deg2rad(rng.normal(0, 6))
        phase = rng.uniform(0, 2 * np.pi, 2)
        if cls == "stripes-horizontal":
            tex = _stripes(x, y, freq, np.pi / 2 + jitter, phase[0])
        elif cls == "stripes-diagonal":
            tex = _stripes(x, y, freq, np.pi / 4 + jitter, phase[0])
        elif cls == "checker":
            u, v = _object_coords(x, y, 0, 0, 1, jitter)
            tex = _stripes(u, v, freq / 1.5, 0, phase[0]) ^ _stripes(u, v, freq / 1.5, np.pi / 2, phase[1])
        else:  # dots on a lattice
            u, v = _object_coords(x, y, 0, 0, 1, jitter)
            p = 1.0 / (freq / 1.3)
            du = (u + phase[0]) % p - p / 2
            dv = (v + phase[1]) % p - p / 2
            tex = du * du + dv * dv <= (0.3 * p) ** 2
        _paint(canvas, patch, c2)
        _paint(canvas, patch & tex, c1)
    else:
        scale = rng.uniform(0.4, 0.75)
        tx, ty = rng.uniform(-0.3, 0.3, 2)
        u, v = _object_coords(x, y, tx, ty, scale, rng.uniform(0, 2 * np.pi))
        mask = {
            "disc": _disc, "square": _square, "triangle": _triangle,
            "ring": _ring, "cross": _cross, "star": _star,
        }[cls](u, v)
        fill = np.broadcast_to(c1, (n, n, 3)).copy()
        if rng.random() < 0.5:  # weak random-orientation texture as a nuisance
            t = _stripes(u, v, rng.uniform(2, 5), rng.uniform(0, np.pi), rng.uniform(0, 6.3))
            fill += 0.25 * t[..., None] * (c2 - c1)
        _paint(canvas, mask, fill)
    return _finish(rng, canvas, ss, noise=0.04)


def _png_bytes(img: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    return buf.getvalue()


def write_training_zip(path: Path, *, n_train_per_class: int, n_test_per_class: int,
                       seed: int, image_size: int = 32) -> None:
    """Write a procedurally generated 10-class image set as an ImageFolder zip.

    Members are ``train/<class>/NNNN.png`` and ``test/<class>/NNNN.png`` (RGB
    uint8 PNG, ``image_size`` square), stored uncompressed in sorted order with
    fixed timestamps, so the same arguments give a byte-identical zip. Each
    image has its own random stream, so image ``k`` does not depend on the
    counts. The zip is written to a temp file and renamed into place.
    """
    if n_train_per_class < 0 or n_test_per_class < 0:
        raise ValueError("image counts must be >= 0")
    if seed < 0:
        raise ValueError("seed must be >= 0")
    if image_size < 8:
        raise ValueError("image_size must be >= 8")
    members: list[tuple[str, int, int, int]] = []
    for split_id, (split, count) in enumerate((("test", n_test_per_class), ("train", n_train_per_class))):
        for cls_id, cls in enumerate(TRAINING_CLASSES):
            for i in range(count):
                members.append((f"{split}/{cls}/{i:04d}.png", split_id, cls_id, i))
    members.sort()

    def write(tmp: Path) -> None:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:
            for name, split_id, cls_id, i in members:
                rng = _rng(seed, 1, split_id, cls_id, i)
                img = _render_training_image(TRAINING_CLASSES[cls_id], rng, image_size)
                info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
                info.external_attr = 0o644 << 16
                info.compress_type = zipfile.ZIP_STORED  # PNG is already compressed
                zf.writestr(info, _png_bytes(img))

    _atomic_write(Path(path), write)


# --------------------------------------------------------------------------
# edge energy
# --------------------------------------------------------------------------


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


# --------------------------------------------------------------------------
# THINGS images
# --------------------------------------------------------------------------

_CONSONANTS = "bdfgklmnprstvz"
_VOWELS = "aeiou"


def _concept_names(rng: np.random.Generator, n: int) -> list[str]:
    """``n`` unique invented words, sorted; a few carry a digit, hyphen or underscore."""
    def word(k: int) -> str:
        return "".join(rng.choice(list(_CONSONANTS)) + rng.choice(list(_VOWELS)) for _ in range(k))

    names: set[str] = set()
    out: list[str] = []
    # Force each special form at least once (when n allows) so parsers meet them.
    forms = ["digit", "hyphen", "underscore"][: max(0, min(3, n - 1))]
    forms += ["plain"] * (n - len(forms))
    for form in forms:
        while True:
            w = word(int(rng.integers(2, 4)))
            if form == "digit":
                w += str(int(rng.integers(1, 3)))
            elif form == "hyphen":
                w = word(1)[0] + "-" + w if rng.random() < 0.5 else word(2) + "-" + word(1)
            elif form == "underscore":
                w = w + "_" + word(2)
            if w not in names:
                names.add(w)
                out.append(w)
                break
    return sorted(out)


@dataclass(frozen=True)
class _Prototype:
    """Visual prototype of a concept (all angles in radians)."""

    family: str
    shape: dict
    theta: float  # base rotation
    tex_phi: float  # stripe direction (object coordinates)
    tex_period: float  # stripe period, fraction of the image width
    tex_contrast: float
    hsv: tuple[float, float, float]
    scale: float


def _category_params(k: int, n_categories: int) -> tuple[str, float, float]:
    """Shape family, hue and preferred texture orientation of category ``k``."""
    family = _FAMILIES[k % len(_FAMILIES)]
    hue = (k / n_categories + 0.07) % 1.0
    phi = np.pi * ((k * 0.382) % 1.0)  # golden-ratio spread of orientations
    return family, hue, phi


def _prototype(rng: np.random.Generator, category: int, n_categories: int) -> _Prototype:
    family, hue, phi = _category_params(category, n_categories)
    shape: dict
    if family == "blob":
        shape = dict(aspect=rng.uniform(0.55, 1.0), wobble=rng.uniform(0.0, 0.18),
                     m=int(rng.integers(2, 5)), phase=rng.uniform(0, 2 * np.pi))
    elif family == "block":
        shape = dict(aspect=rng.uniform(0.5, 1.0))
    elif family == "star":
        shape = dict(k=int(rng.integers(3, 8)), depth=rng.uniform(0.3, 0.55))
    elif family == "ring":
        shape = dict(inner=rng.uniform(0.35, 0.65), aspect=rng.uniform(0.7, 1.0))
    elif family == "rod":
        shape = dict(aspect=rng.uniform(0.18, 0.32))
    else:
        shape = dict(t=rng.uniform(0.2, 0.38))
    return _Prototype(
        family=family,
        shape=shape,
        theta=rng.uniform(0, np.pi),
        tex_phi=phi + np.deg2rad(rng.normal(0, 35)),
        tex_period=rng.uniform(0.05, 0.15),
        tex_contrast=rng.uniform(0.4, 0.9),
        hsv=((hue + rng.normal(0, 0.04)) % 1.0, rng.uniform(0.45, 0.9), rng.uniform(0.55, 0.95)),
        scale=rng.uniform(0.45, 0.7),
    )


def _shape_mask(proto: _Prototype, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    p = proto.shape
    if proto.family == "blob":
        return _blob(u, v, **p)
    if proto.family in ("block", "rod"):
        return _square(u, v, aspect=p["aspect"])
    if proto.family == "star":
        return _star(u, v, **p)
    if proto.family == "ring":
        return _ring(u, v, **p)
    return _cross(u, v, **p)


def _render_exemplar(proto: _Prototype, rng: np.random.Generator, size: int) -> np.ndarray:
    """One exemplar of a concept as (size, size, 3) uint8."""
    ss = 2
    n = size * ss
    x, y = _grid(n)
    grey = rng.uniform(0.15, 0.85)
    bg = np.clip(grey + rng.normal(0, 0.06, 3), 0, 1)
    canvas = _background(rng, n, bg, amp=0.12)
    h, s, val = proto.hsv
    h = (h + rng.normal(0, 0.02)) % 1.0
    s = float(np.clip(s + rng.normal(0, 0.05), 0, 1))
    val = float(np.clip(val + rng.normal(0, 0.05), 0, 1))
    c1 = np.array(colorsys.hsv_to_rgb(h, s, val))
    c2 = c1 * (1.0 - proto.tex_contrast)  # darker stripes of the same hue
    u, v = _object_coords(x, y, *rng.uniform(-0.2, 0.2, 2),
                          proto.scale * rng.uniform(0.85, 1.15),
                          proto.theta + np.deg2rad(rng.normal(0, 12)))
    mask = _shape_mask(proto, u, v)
    # Texture in object coordinates (rotates with the object); frequency in
    # cycles per object unit so it scales with the object, as real textures do.
    freq = proto.scale / (2.0 * proto.tex_period)
    tex = _stripes(u, v, freq, proto.tex_phi, rng.uniform(0, 2 * np.pi))
    fill = np.where(tex[..., None], c2, c1)
    _paint(canvas, mask, fill)
    return _finish(rng, canvas, ss, noise=0.02)


def _jpeg_bytes(img: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


@dataclass(frozen=True)
class _Stimulus:
    concept_idx: int
    exemplar: int  # 1-based exemplar number
    name: str  # file name, e.g. "bako_01k.jpg"
    is_test: bool


# --------------------------------------------------------------------------
# simulated voxels and trials
# --------------------------------------------------------------------------


def _zscore_cols(a: np.ndarray) -> np.ndarray:
    sd = a.std(axis=0)
    return (a - a.mean(axis=0)) / np.where(sd > 0, sd, 1.0)


def _subject_id(subject: str) -> int:
    m = re.fullmatch(r"sub-(\d+)", subject)
    if m is None:
        raise ValueError(f"subject must look like 'sub-01', got {subject!r}")
    return int(m.group(1))


def _voxel_coords(rng: np.random.Generator, groups: list[tuple[str | None, int]]) -> list[np.ndarray]:
    """Unique integer grid coordinates: compact blobs around each ROI centre.

    ``groups`` holds (roi or None, count); None voxels are scattered over the volume.
    """
    used: set[tuple[int, int, int]] = set()
    out: list[np.ndarray] = []
    vol = np.array(_VOLUME)
    for roi, count in groups:
        if roi is None:
            chosen = []
            while len(chosen) < count:
                p = tuple(int(a) for a in rng.integers(0, vol))
                if p not in used:
                    used.add(p)
                    chosen.append(p)
            out.append(np.array(chosen, dtype=np.int64).reshape(-1, 3))
            continue
        centre = np.array(_ROI_CENTRES[roi])
        r = max(2, int(np.ceil(count ** (1 / 3))))
        while True:
            axes = [np.arange(max(0, c - r), min(m, c + r + 1)) for c, m in zip(centre, vol)]
            cand = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)
            free = np.array([tuple(p) not in used for p in cand.tolist()], bool)
            cand = cand[free]
            if len(cand) >= count:
                break
            r += 1
        # Nearest free points with jitter: a compact but irregular blob.
        d = np.linalg.norm(cand - centre, axis=1) + rng.uniform(0, 1.5, len(cand))
        chosen = cand[np.argsort(d, kind="stable")[:count]]
        used.update(map(tuple, chosen.tolist()))
        out.append(chosen.astype(np.int64))
    return out


def _early_weights(rng: np.random.Generator, roi: str, n_vox: int) -> tuple[np.ndarray, np.ndarray]:
    """Voxel weights on flattened edge-energy features, plus RF centres (row, col)."""
    g = _EE_GRID
    centres = rng.uniform(-0.5, g - 0.5, size=(n_vox, 2))
    rows = np.arange(g)
    sig = _EARLY_RF[roi]
    gy = np.exp(-((rows[None, :] - centres[:, :1]) ** 2) / (2 * sig * sig))
    gx = np.exp(-((rows[None, :] - centres[:, 1:]) ** 2) / (2 * sig * sig))
    spatial = gy[:, :, None] * gx[:, None, :]  # (vox, g, g)
    spatial /= spatial.sum(axis=(1, 2), keepdims=True)
    ori = rng.exponential(1.0, size=(n_vox, _EE_N_ORIENT))
    keep = rng.random((n_vox, _EE_N_ORIENT)) < 0.5
    keep[np.arange(n_vox), rng.integers(0, _EE_N_ORIENT, n_vox)] = True  # at least one
    ori *= keep
    chan = (np.array(_EARLY_SCALE_W[roi])[None, :, None] * ori[:, None, :]).reshape(n_vox, -1)
    w = chan[:, :, None, None] * spatial[:, None, :, :]  # (vox, chan, g, g)
    return w.reshape(n_vox, -1).T, centres


def _noise_ceilings(test_data: np.ndarray, test_img: np.ndarray, test_sess: np.ndarray,
                    n_repeats: int) -> dict[str, np.ndarray]:
    """THINGS-style reliability of every voxel from its test trials.

    Noise ceiling (percent) as in NSD/THINGS-fMRI: ncsnr^2 / (ncsnr^2 + 1/n)
    after z-scoring each voxel; split-half = Pearson r of odd- vs even-session
    means across test images, Spearman-Brown corrected.
    """
    n_vox = test_data.shape[1]
    nan = np.full(n_vox, np.nan)
    if n_repeats < 2 or test_data.shape[0] == 0:
        return dict(nc_singletrial=nan, nc_testset=nan, splithalf_uncorrected=nan,
                    splithalf_corrected=nan)
    z = _zscore_cols(test_data)
    imgs = np.unique(test_img)
    noise_var = np.mean([z[test_img == i].var(axis=0, ddof=1) for i in imgs], axis=0)
    sig_var = np.clip(1.0 - noise_var, 0, None)
    ncsnr2 = sig_var / np.where(noise_var > 0, noise_var, np.inf)
    nc_single = 100 * ncsnr2 / (ncsnr2 + 1.0)
    nc_test = 100 * ncsnr2 / (ncsnr2 + 1.0 / n_repeats)
    odd = np.stack([z[(test_img == i) & (test_sess % 2 == 1)].mean(axis=0) for i in imgs])
    even = np.stack([z[(test_img == i) & (test_sess % 2 == 0)].mean(axis=0) for i in imgs])
    oc, ec = odd - odd.mean(0), even - even.mean(0)
    den = np.sqrt((oc * oc).sum(0) * (ec * ec).sum(0))
    r = np.where(den > 0, (oc * ec).sum(0) / np.where(den > 0, den, 1.0), 0.0)
    return dict(nc_singletrial=nc_single, nc_testset=nc_test, splithalf_uncorrected=r,
                splithalf_corrected=2 * r / (1 + r))


def _trial_table(rng: np.random.Generator, stimuli: list[_Stimulus], n_sessions: int,
                 subject_id: int, concepts: list[str]) -> pd.DataFrame:
    """StimulusMetadata: train images once each, test images once per session, runs shuffled."""
    train = [i for i, s in enumerate(stimuli) if not s.is_test]
    test = [i for i, s in enumerate(stimuli) if s.is_test]
    train = list(rng.permutation(train))
    rows = []
    for sess, chunk in enumerate(np.array_split(np.array(train, dtype=int), n_sessions), start=1):
        n_in_session = len(chunk) + len(test)
        n_runs = int(np.clip(round(n_in_session / 20), 1, 10))
        test_order = rng.permutation(np.array(test, dtype=int))
        for run, (tr, te) in enumerate(zip(np.array_split(chunk, n_runs),
                                           np.array_split(test_order, n_runs)), start=1):
            for idx in rng.permutation(np.concatenate([tr, te]).astype(int)):
                s = stimuli[idx]
                rows.append(("test" if s.is_test else "train", sess, run, subject_id,
                             s.name, concepts[s.concept_idx], idx))
    frame = pd.DataFrame(rows, columns=["trial_type", "session", "run", "subject_id",
                                        "stimulus", "concept", "_image"])
    frame.insert(4, "trial_id", np.arange(len(frame), dtype=np.int64))
    return frame


def _simulate_subject(subject: str, *, seed: int, stimuli: list[_Stimulus], concepts: list[str],
                      feats: np.ndarray, latents: Mapping[str, np.ndarray],
                      voxels_per_roi: Mapping[str, int], n_other_voxels: int,
                      n_sessions: int, noise_sd: float) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """(StimulusMetadata, VoxelMetadata, responses voxels x trials float32) of one subject."""
    sid = _subject_id(subject)
    rng = _rng(seed, 2, zlib.crc32(subject.encode()))
    n_img = len(stimuli)

    # Voxel groups; counts vary slightly between subjects, like real masks.
    groups: list[tuple[str | None, int]] = []
    for roi in ROI_COLUMNS:
        if roi in voxels_per_roi and voxels_per_roi[roi] > 0:
            n0 = int(voxels_per_roi[roi])
            groups.append((roi, max(1, int(round(n0 * rng.uniform(0.93, 1.07))))))
    groups.append((None, int(n_other_voxels)))
    coords = _voxel_coords(rng, groups)

    flat = feats.reshape(n_img, -1)
    coarse = feats.reshape(n_img, feats.shape[1], 2, _EE_GRID // 2, 2, _EE_GRID // 2).mean(axis=(3, 5))
    coarse = _zscore_cols(coarse.reshape(n_img, -1))
    shape_latent = coarse @ rng.normal(0, 1 / np.sqrt(coarse.shape[1]), (coarse.shape[1], _LATENT_DIM))

    signals, labels, extra = [], [], []
    for (roi, count) in groups:
        ecc = np.full(count, np.nan)
        pol = np.full(count, np.nan)
        size = np.full(count, np.nan)
        if roi in _EARLY:
            w, centres = _early_weights(rng, roi, count)
            sig = flat @ w
            # pRF of the voxel in degrees, taking the image as 10 deg wide.
            deg = 10.0 / _EE_GRID
            dy, dx = (centres - (_EE_GRID - 1) / 2).T * deg
            ecc, pol = np.hypot(dx, -dy), np.rad2deg(np.arctan2(-dy, dx)) % 360
            size = np.full(count, _EARLY_RF[roi] * deg)
            amp = 1.0
        elif roi is not None:
            mix = _LATE_MIX["LOC" if roi in _LOC else "IT"]
            z = (np.sqrt(mix[0]) * latents["category"] + np.sqrt(mix[1]) * latents["concept"]
                 + np.sqrt(mix[2]) * latents["exemplar"] + np.sqrt(mix[3]) * shape_latent)
            sig = z @ rng.normal(0, 1, (_LATENT_DIM, count))
            amp = 0.9
        else:
            sig = np.zeros((n_img, count))
            amp = 0.0
        sig = _zscore_cols(sig) * (amp * rng.lognormal(0, 0.35, count))
        signals.append(sig)
        labels.append(np.full(count, roi if roi is not None else "", dtype=object))
        extra.append((ecc, pol, size))
    signal = np.concatenate(signals, axis=1)
    roi_of = np.concatenate(labels)
    all_coords = np.concatenate(coords)
    n_vox = signal.shape[1]

    trials = _trial_table(rng, stimuli, n_sessions, sid, concepts)
    img_t = trials["_image"].to_numpy()
    sess_t = trials["session"].to_numpy()
    n_tr = len(trials)
    session_off = rng.normal(0, _SESSION_SD * noise_sd, (n_sessions, n_vox))
    global_t = rng.normal(0, _GLOBAL_SD * noise_sd, n_tr)[:, None] * rng.uniform(0.5, 1.5, n_vox)
    noise = rng.normal(0, noise_sd, (n_tr, n_vox))
    gain = rng.lognormal(0, 0.3, n_vox)
    baseline = rng.normal(0, 0.3, n_vox)
    data = (signal[img_t] + noise + session_off[sess_t - 1] + global_t) * gain + baseline

    # voxel_id follows the flattened volume index, so ROIs are scattered over
    # the id range as in the real files.
    order = np.lexsort((all_coords[:, 0], all_coords[:, 1], all_coords[:, 2]))
    data, roi_of, all_coords = data[:, order], roi_of[order], all_coords[order]
    ecc, pol, size = (np.concatenate(col)[order] for col in zip(*extra))

    is_test = (trials["trial_type"] == "test").to_numpy()
    nc = _noise_ceilings(data[is_test], img_t[is_test], sess_t[is_test], n_sessions)

    vox = pd.DataFrame({
        "voxel_id": np.arange(n_vox, dtype=np.int64),
        "subject_id": sid,
        "voxel_x": all_coords[:, 0], "voxel_y": all_coords[:, 1], "voxel_z": all_coords[:, 2],
        **nc,
    })
    # pRF fits exist for every voxel in the real data; outside early cortex
    # they are poor (random parameters, low R^2).
    missing = np.isnan(ecc)
    ecc[missing] = rng.uniform(0, 8, missing.sum())
    pol[missing] = rng.uniform(0, 360, missing.sum())
    size[missing] = rng.uniform(0.5, 5, missing.sum())
    r2 = np.where(missing, rng.uniform(0, 0.1, n_vox), np.clip(nc["nc_testset"] / 100, 0, 1)
                  * rng.uniform(0.6, 1.0, n_vox))
    vox["prf-eccentricity"], vox["prf-polarangle"] = ecc, pol
    vox["prf-rsquared"], vox["prf-size"] = np.nan_to_num(r2), size
    for roi in ROI_COLUMNS:
        vox[roi] = (roi_of == roi).astype(np.int64)
    if "IT" in voxels_per_roi:
        # FFA not simulated on its own: mark disjoint subsets of IT, as the
        # real localiser ROIs overlap the IT mask.
        it = np.flatnonzero(roi_of == "IT")
        pick = rng.permutation(it)
        k = len(it) // 6
        for j, ffa in enumerate(("lFFA", "rFFA")):
            if voxels_per_roi.get(ffa, 0) == 0:
                vox.loc[pick[j * k:(j + 1) * k], ffa] = 1
    # Anatomical (Glasser) labels agree with the functional ROIs most of the time.
    for col, roi in zip(_GLASSER, ("V1", "V2")):
        agree = (roi_of == roi) & (rng.random(n_vox) < 0.9)
        stray = rng.random(n_vox) < 0.02
        vox[col] = (agree | stray).astype(np.int64)

    stim = trials.drop(columns="_image")[list(STIMULUS_COLUMNS)]
    return stim, vox, np.ascontiguousarray(data.T, dtype=np.float32)


def _write_response_h5(path: Path, voxel_id: np.ndarray, responses: np.ndarray,
                       trial_ids: np.ndarray) -> None:
    """pandas 'fixed' table like the real file: voxel_id then one float32 column per trial."""
    frame = pd.DataFrame(responses, columns=pd.Index(trial_ids.astype(np.int64)), copy=False)
    frame.insert(0, "voxel_id", voxel_id.astype(np.int64))

    def write(tmp: Path) -> None:
        with warnings.catch_warnings():
            # The mixed column index ('voxel_id', 0, 1, ...) is pickled by
            # PyTables, exactly as in the real files; the warning is noise.
            warnings.simplefilter("ignore", pd.errors.PerformanceWarning)
            frame.to_hdf(tmp, key="ResponseData", format="fixed", mode="w")

    _atomic_write(path, write)


def write_things_dataset(
    root: Path,
    *,
    n_concepts: int = 120,
    n_categories: int = 6,
    n_exemplars: int = 3,
    n_test_images: int = 20,
    n_test_repeats: int = 6,
    subjects: Sequence[str] = ("sub-01", "sub-02", "sub-03"),
    voxels_per_roi: Mapping[str, int] | None = None,
    n_other_voxels: int = 200,
    noise_sd: float = 1.0,
    image_size: int = 96,
    seed: int = 0,
) -> None:
    """Write a miniature THINGS image set and THINGS-fMRI betas under ``root``.

    Layout: ``images/object_images/<concept>/<concept>_<NN><letter>.jpg``;
    ``betas_csv/sub-XX_{StimulusMetadata.csv,VoxelMetadata.csv,ResponseData.h5}``
    in the real formats; ``demo_concepts.tsv`` (concept, category). Train
    images are exemplars 1..``n_exemplars`` of every concept, each shown once;
    test images are exemplar ``n_exemplars + 1`` of ``n_test_images`` concepts,
    shown once in each of ``n_test_repeats`` sessions. The planted structure is
    described in the module docstring. Deterministic in ``seed``; every file is
    written to a temp name and renamed into place.
    """
    vpr = dict(DEFAULT_VOXELS_PER_ROI if voxels_per_roi is None else voxels_per_roi)
    unknown = set(vpr) - set(ROI_COLUMNS)
    if unknown:
        raise ValueError(f"unknown ROIs {sorted(unknown)}; choose from {ROI_COLUMNS}")
    if n_concepts < 2 or not 1 <= n_categories <= n_concepts:
        raise ValueError("need n_concepts >= 2 and 1 <= n_categories <= n_concepts")
    if n_exemplars < 1 or n_exemplars > 98 or n_test_repeats < 1:
        raise ValueError("need 1 <= n_exemplars <= 98 and n_test_repeats >= 1")
    if not 0 <= n_test_images <= n_concepts:
        raise ValueError("n_test_images must be between 0 and n_concepts")
    if seed < 0 or noise_sd < 0 or n_other_voxels < 0 or image_size < 16:
        raise ValueError("seed, noise_sd, n_other_voxels must be >= 0 and image_size >= 16")
    if len(set(subjects)) != len(subjects):
        raise ValueError("subjects must be unique")
    for s in subjects:
        _subject_id(s)
    root = Path(root)

    # Shared world: concepts, categories, prototypes, latent embeddings.
    rng = _rng(seed, 0)
    concepts = _concept_names(rng, n_concepts)
    category = rng.permutation(np.arange(n_concepts) % n_categories)
    protos = [_prototype(_rng(seed, 3, c), int(category[c]), n_categories) for c in range(n_concepts)]
    test_concepts = set(rng.choice(n_concepts, n_test_images, replace=False).tolist())

    stimuli: list[_Stimulus] = []
    letters = "abcdefghijklmnopqrstuvwxyz"
    for c in range(n_concepts):
        n_ex = n_exemplars + (1 if c in test_concepts else 0)
        for e in range(1, n_ex + 1):
            letter = letters[int(_rng(seed, 4, c, e).integers(0, 26))]
            stimuli.append(_Stimulus(c, e, f"{concepts[c]}_{e:02d}{letter}.jpg", e > n_exemplars))

    # Render, encode and decode again: the simulated brain sees the JPEG as
    # stored, so edge_energy of the files reproduces the early-ROI input.
    decoded = np.empty((len(stimuli), image_size, image_size, 3), np.uint8)
    img_dir = root / "images" / "object_images"
    for i, s in enumerate(stimuli):
        img = _render_exemplar(protos[s.concept_idx], _rng(seed, 5, s.concept_idx, s.exemplar), image_size)
        data = _jpeg_bytes(img)
        decoded[i] = decode_image(data, s.name)
        _write_bytes(img_dir / concepts[s.concept_idx] / s.name, data)
    feats = edge_energy(decoded)

    lat_rng = _rng(seed, 6)
    cat_centre = lat_rng.normal(0, 1, (n_categories, _LATENT_DIM))
    concept_part = lat_rng.normal(0, 1, (n_concepts, _LATENT_DIM))
    cidx = np.array([s.concept_idx for s in stimuli])
    latents = {
        "category": cat_centre[category[cidx]],
        "concept": concept_part[cidx],
        "exemplar": lat_rng.normal(0, 1, (len(stimuli), _LATENT_DIM)),
    }

    out = root / "betas_csv"
    for subject in subjects:
        stim, vox, resp = _simulate_subject(
            subject, seed=seed, stimuli=stimuli, concepts=concepts, feats=feats,
            latents=latents, voxels_per_roi=vpr, n_other_voxels=n_other_voxels,
            n_sessions=n_test_repeats, noise_sd=noise_sd)
        _write_response_h5(out / f"{subject}_ResponseData.h5", vox["voxel_id"].to_numpy(), resp,
                           stim["trial_id"].to_numpy())
        _write_csv(out / f"{subject}_VoxelMetadata.csv", vox)
        _write_csv(out / f"{subject}_StimulusMetadata.csv", stim)

    cat_names = [f"{_category_params(k, n_categories)[0]}{k // len(_FAMILIES) or ''}"
                 for k in range(n_categories)]
    truth = pd.DataFrame({"concept": concepts, "category": [cat_names[k] for k in category]})
    _write_csv(root / "demo_concepts.tsv", truth, sep="\t")
