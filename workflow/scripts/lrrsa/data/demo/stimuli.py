"""The invented THINGS concepts and their images: concept names (some with a digit, hyphen
or underscore), the superordinate categories that fix a shape family, hue and texture
orientation, each concept's visual prototype, and the rendering of its exemplars as JPEG.
"""

from __future__ import annotations

import colorsys
import io
from dataclasses import dataclass

import numpy as np
from PIL import Image

from lrrsa.data.demo.drawing import (
    _background,
    _blob,
    _cross,
    _finish,
    _grid,
    _object_coords,
    _paint,
    _ring,
    _square,
    _star,
    _stripes,
)

_FAMILIES = ("blob", "block", "star", "ring", "rod", "cross")

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
