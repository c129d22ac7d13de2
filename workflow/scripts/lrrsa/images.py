"""Stimulus images as arrays, resized the way the models and the pixel RDM see them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image


def load_image(path: Path, size: int) -> np.ndarray:
    """An image as RGB uint8 (size, size, 3), resized with antialiasing (bicubic)."""
    with Image.open(path) as img:
        return np.array(img.convert("RGB").resize((size, size), Image.Resampling.BICUBIC))


def load_images(paths: Sequence[Path], size: int) -> np.ndarray:
    """(n, size, size, 3) uint8."""
    return np.stack([load_image(p, size) for p in paths])
