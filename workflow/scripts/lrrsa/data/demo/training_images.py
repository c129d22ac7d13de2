"""The demo's training set: ten procedurally drawn classes (six shapes, four textures) with
random colours, position, scale, rotation, clutter and noise, written as a deterministic
ImageFolder zip (:func:`write_training_zip`).
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from lrrsa.data.demo.drawing import (
    _background,
    _blob,
    _contrasting_colours,
    _cross,
    _disc,
    _finish,
    _grid,
    _object_coords,
    _paint,
    _ring,
    _square,
    _star,
    _stripes,
    _triangle,
)
from lrrsa.data.demo.files import _atomic_write
from lrrsa.data.demo.streams import _rng

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
