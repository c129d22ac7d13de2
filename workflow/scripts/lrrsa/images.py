"""Stimulus images as arrays: decoded to RGB uint8 whatever their mode, resized
the way the models and the pixel RDM see them.

:func:`decode_image` is the project's one image decoder (stimuli, pixel RDM and
training images all go through it). It turns every Pillow mode into RGB uint8
with values on the 0..255 scale:

- ``1``, ``L``, ``P``, ``RGB``, ``RGBX``, ``HSV``, ``LAB``: Pillow's conversion;
- 16-bit greyscale (``I;16``, ``I;16L``, ``I;16B``, ``I;16N``, and ``I`` whose
  values all lie in 0..65535, as Pillow decodes 16-bit PGM/PPM and, in older
  versions, 16-bit PNG): ``round(v / 257)``, i.e. 0..65535 scaled to 0..255;
- 32-bit integer greyscale (``I`` with values above 65535):
  ``round(v / (2**31 - 1) * 255)``, 2**31 - 1 being the largest value mode ``I``
  holds; negative values have no brightness and raise :class:`ImageDecodeError`;
- 32-bit float greyscale (``F``): intensities in [0, 1], ``round(v * 255)``;
  values outside [0, 1] (or NaN) raise, as no scale is defined for them;
- ``CMYK``: ``round((255 - c) * (255 - k) / 255)`` per channel (no ICC colour
  management; the same values as Pillow 13's own conversion);
- ``YCbCr``: the JFIF (full-range BT.601) equations, rounded;
- anything with transparency (``RGBA``, ``LA``, ``PA``, ``P`` or ``L``/``RGB``
  with a transparent index or colour, premultiplied ``RGBa``/``La`` as TIFF
  gives for associated alpha): composited over :data:`ALPHA_BACKGROUND`.

16-bit RGB(A) files: Pillow has no 16-bit colour mode and keeps the high byte
(``v >> 8``) while decoding, which is within one level of ``round(v / 257)``.

EXIF orientation is applied (the image as cameras, viewers and browsers show
it). THINGS images are plain JPEGs without an orientation tag, so for them this
changes nothing; for other stimuli, note that presentation software reading raw
pixels (MATLAB ``imread``, PsychoPy) ignores the tag, so strip it from the files
if that is how the participants saw them.

Broken files (empty, not an image, truncated, corrupt, zero size) raise
:class:`ImageDecodeError` naming the file. Every image is decoded in full at
once, so truncation shows up here; this relies on Pillow's default
``ImageFile.LOAD_TRUNCATED_IMAGES = False``, which nothing in the project changes.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

__all__ = ["ALPHA_BACKGROUND", "ImageDecodeError", "decode_image", "load_image", "load_images"]

ALPHA_BACKGROUND = 128
"""Grey level (0..255) that transparent pixels are composited over.

Mid-grey: the middle of the input range and the neutral screen grey stimuli
are usually shown on. White (or black) would draw a full-contrast edge around
any dark (or light) object, which the networks and the pixel RDM would both pick
up as image content.
"""

ImageSource = str | os.PathLike | bytes | BinaryIO

_SIXTEEN_BIT = 65535
_INT32_MAX = 2**31 - 1
_SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N"})
_ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})
_PREMULTIPLIED_MODES = frozenset({"RGBa", "La"})


class ImageDecodeError(ValueError):
    """An image that cannot be decoded; the message names the file and the cause."""


def decode_image(
    source: ImageSource, name: str | None = None, *, background: float | Sequence[float] = ALPHA_BACKGROUND
) -> np.ndarray:
    """An image, fully decoded, as RGB uint8 of shape (height, width, 3).

    ``source`` is a path, the file's bytes or a binary file object; ``name`` is
    what error messages call it (default: the path). ``background`` is the grey
    level, or RGB triple, on 0..255 that transparency is composited over.

    Raises :class:`ImageDecodeError` (a ``ValueError``) naming the file if it is
    empty, not an image, truncated, corrupt, of zero size or has values outside
    its mode's range; ``FileNotFoundError`` etc. if it cannot be opened at all.
    """
    label = name if name is not None else _default_name(source)
    _reject_empty(source, label)
    try:
        with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as img:
            img.load()  # decode every byte now, so a truncated file fails here and not later
            oriented = ImageOps.exif_transpose(img)
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        raise
    except UnidentifiedImageError as exc:
        raise ImageDecodeError(f"{label}: not an image file Pillow can read "
                               "(unknown format or corrupt header)") from exc
    except Exception as exc:  # Pillow raises many kinds: OSError, SyntaxError, ValueError, zlib.error, ...
        raise ImageDecodeError(f"{label}: cannot decode image: {type(exc).__name__}: {exc}") from exc
    if 0 in oriented.size:
        raise ImageDecodeError(f"{label}: image has zero size ({oriented.width}x{oriented.height} px)")
    colour, alpha = _colour_and_alpha(oriented, label)
    return _to_uint8(_composite(colour, alpha, background) if alpha is not None else colour)


def load_image(path: Path, size: int, *, background: float | Sequence[float] = ALPHA_BACKGROUND) -> np.ndarray:
    """An image as RGB uint8 (size, size, 3): :func:`decode_image`, then resized
    with antialiasing (bicubic). Raises as :func:`decode_image` does."""
    rgb = Image.fromarray(decode_image(path, background=background))
    return np.array(rgb.resize((size, size), Image.Resampling.BICUBIC))  # a writable copy, as before


def load_images(
    paths: Sequence[Path], size: int, *, background: float | Sequence[float] = ALPHA_BACKGROUND
) -> np.ndarray:
    """(n, size, size, 3) uint8, one :func:`load_image` per path."""
    return np.stack([load_image(p, size, background=background) for p in paths])


def _default_name(source: ImageSource) -> str:
    if isinstance(source, bytes):
        return "<image bytes>"
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    return str(getattr(source, "name", "<image stream>"))


def _reject_empty(source: ImageSource, label: str) -> None:
    """Say "empty" for a zero-byte file rather than Pillow's "cannot identify"."""
    if isinstance(source, bytes):
        empty = not source
    elif isinstance(source, (str, os.PathLike)):
        empty = os.path.isfile(source) and os.path.getsize(source) == 0
    else:
        return
    if empty:
        raise ImageDecodeError(f"{label}: empty file (0 bytes), not an image")


def _colour_and_alpha(img: Image.Image, label: str) -> tuple[np.ndarray, np.ndarray | None]:
    """(h, w, 3) colour on the 0..255 scale and (h, w) alpha in [0, 1], or None
    when opaque. With alpha, the colour is premultiplied (already times alpha)."""
    if img.mode in _SIXTEEN_BIT_MODES or img.mode in ("I", "F"):
        grey = np.repeat(_high_depth_grey(img, label)[..., None], 3, axis=2)
        alpha = _transparent_value_alpha(img)
        return (grey, None) if alpha is None else _premultiply(grey, alpha)
    if img.mode == "CMYK":
        return _cmyk_to_rgb(np.asarray(img)), None
    if img.mode == "YCbCr":
        return _ycbcr_to_rgb(np.asarray(img)), None
    if img.mode in _PREMULTIPLIED_MODES:
        # The stored values are already a*c; un-premultiplying first would round twice.
        bands = np.asarray(img).astype(np.float64)
        colour = np.broadcast_to(bands[..., :-1], (*bands.shape[:2], 3))  # La: grey to RGB
        return colour, bands[..., -1] / 255
    if _has_transparency(img):
        rgba = np.asarray(img.convert("RGBA")).astype(np.float64)
        return _premultiply(rgba[..., :3], rgba[..., 3] / 255)
    return np.asarray(img.convert("RGB")), None


def _premultiply(colour: np.ndarray, alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return colour * alpha[..., None], alpha


def _has_transparency(img: Image.Image) -> bool:
    """An alpha band, an alpha palette or a transparent index/colour (as
    ``Image.has_transparency_data``, which Pillow 10.0 lacks)."""
    palette_alpha = img.mode == "P" and img.palette is not None and img.palette.mode == "RGBA"
    return img.mode in _ALPHA_MODES or "transparency" in img.info or palette_alpha


def _high_depth_grey(img: Image.Image, label: str) -> np.ndarray:
    """(h, w) float on 0..255 from a 16- or 32-bit integer or float greyscale image."""
    values = np.asarray(img)
    if img.mode == "F":
        if not (np.isfinite(values).all() and values.min() >= 0 and values.max() <= 1):
            raise ImageDecodeError(f"{label}: float image with values outside [0, 1] "
                                   f"(range {values.min()}..{values.max()}); no brightness scale is defined")
        return values.astype(np.float64) * 255
    if values.min() < 0:
        raise ImageDecodeError(f"{label}: 32-bit integer image with negative values (min {values.min()})")
    full_scale = _SIXTEEN_BIT if img.mode in _SIXTEEN_BIT_MODES or values.max() <= _SIXTEEN_BIT else _INT32_MAX
    return values.astype(np.float64) * (255 / full_scale)


def _transparent_value_alpha(img: Image.Image) -> np.ndarray | None:
    """Alpha 0 where a high-depth grey image has its transparent value (PNG tRNS), else 1."""
    transparent = img.info.get("transparency")
    if not isinstance(transparent, (int, float)):
        return None
    return (np.asarray(img) != transparent).astype(np.float64)


def _cmyk_to_rgb(cmyk: np.ndarray) -> np.ndarray:
    """(h, w, 4) uint8 CMYK -> (h, w, 3) float: each ink and black darken multiplicatively."""
    cmyk = cmyk.astype(np.float64)
    return (255 - cmyk[..., :3]) * (255 - cmyk[..., 3:]) / 255


def _ycbcr_to_rgb(ycbcr: np.ndarray) -> np.ndarray:
    """(h, w, 3) uint8 YCbCr -> (h, w, 3) float RGB by the JFIF equations (full range)."""
    y, cb, cr = np.moveaxis(ycbcr.astype(np.float64), -1, 0)
    cb, cr = cb - 128, cr - 128
    return np.stack([y + 1.402 * cr, y - 0.344136 * cb - 0.714136 * cr, y + 1.772 * cb], axis=-1)


def _composite(premultiplied: np.ndarray, alpha: np.ndarray, background: float | Sequence[float]) -> np.ndarray:
    """Premultiplied colour over ``background``: a*c + (1 - a)*b, float on 0..255."""
    return premultiplied + (1 - alpha[..., None]) * np.asarray(background, dtype=np.float64)


def _to_uint8(values: np.ndarray) -> np.ndarray:
    """Round to the nearest level and clip to 0..255 (YCbCr can overshoot); a writable array."""
    if values.dtype == np.uint8:
        return np.array(values)  # arrays over Pillow's buffer are read-only
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)
