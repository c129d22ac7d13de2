"""A simulated macaque recording written exactly as Brain-Score's brainio writes one.

Nothing is downloaded: images, neuroids and responses are generated from a seed with
numpy and Pillow. :func:`write_macaque_dataset` writes, under one folder:

- ``assy_lrrsa_DemoMacaque.nc``: a data assembly in brainio's on-disk form (written by
  :func:`lrrsa.data.brainio.write_assembly`: netCDF-4, one data variable ``data``,
  multi-index levels reset to plain 1-D coordinates, no dimension coordinate
  variables), dims ``presentation x neuroid x time_bin`` (another order with
  ``dims``), float32. Coordinates: on presentation ``stimulus_id``, ``repetition``
  (0-based), ``category``; on neuroid ``neuroid_id`` (int, restarting at 0 for each
  animal, as Papale2025's), ``region``, ``animal``; on time_bin ``time_bin_start``,
  ``time_bin_end`` (ms).
- ``stimulus_lrrsa-demo-macaque.csv`` and ``.zip``: the stimulus set: columns
  ``stimulus_id`` (the SHA-1 of the image file, as the ids of Brain-Score's HVM set),
  ``filename`` (``im000.png``, ...: not the id), ``category`` and ``exemplar``; a flat
  zip of 96 x 96 RGB PNGs (stored, sorted, fixed timestamps).
- ``demo_macaque_neuroids.tsv``: the simulation's truth per neuroid (not part of
  brainio): ``animal, neuroid_id, region, tuned, reliability, amplitude``.

File names follow brainio's convention (prefix + identifier with "." replaced by "_").

Default sizes: 6 categories x 12 exemplars = 72 stimuli; 10 repetitions (720
presentations); 2 animals (monkeyA, monkeyB) x (V1 32, V4 24, IT 32) = 176 neuroids;
10 time bins of 20 ms from 10 to 210 ms. Assembly about 5 MB (float32), zip about
1.5 MB.

Images. Each category is a shape (disc, square, triangle, star, ring, cross) with a
hue of its own; each exemplar draws its own position, size, rotation, stripe texture
(orientation, spatial frequency, phase), saturation, brightness and background, so
low-level features vary within categories. PNG is lossless: the simulated animals see
exactly the stored pixels.

Planted structure (what RDMs and ceilings must recover). Each neuroid has a stimulus
signal ``f(s)``, z-scored across the stimuli:

- V1: a linear read-out of :func:`lrrsa.data.demo.edge_energy` (Gabor energy, 2
  wavelengths x 4 orientations on an 8 x 8 grid): a Gaussian receptive field (sigma
  0.8 cells) at a random grid position, one preferred orientation (neighbours 0.3),
  fine scale weighted 1, coarse 0.3.
- V4: half (in variance) a random read-out of coarse edge energy (pooled to 2 x 2,
  z-scored), half the category latent.
- IT: a random read-out of ``sqrt(0.75) category centre + sqrt(0.25) exemplar part``
  (8-dim latents, the exemplar part image-specific and not computable from pixels).

Response of neuroid ``i`` to presentation ``p`` (stimulus ``s``, repetition ``r``) in
time bin ``t``::

    y = k_i * (b_i + g(t) a_i f_i(s) + d_{r,i} + TRIAL_SD e_{p,i} + BIN_SD n_{p,i,t})

``g(t)`` is 1 for bins inside :data:`RESPONSE_WINDOW` (70-170 ms, Brain-Score's
MajajHong2015 window) and 0 elsewhere (noise only); ``e`` and ``n`` are standard
normal, ``d`` a per-repetition drift (sd 0.3; constant across stimuli, so it changes
no correlation across stimuli), ``b`` a baseline and ``k`` a gain (log-normal), which
change no correlation either. The noise of a presentation's mean over the window is
``v = TRIAL_SD^2 + BIN_SD^2 / m`` (``m`` bins in the window, 5 by default). A tuned
neuroid's amplitude is ``a^2 = rho / (1 - rho) * v / R`` (``R`` repetitions), so the
reliability of its repetition-averaged window response -- Brain-Score's internal
consistency, the Spearman-Brown corrected (n = 2) correlation across stimuli between
two halves of the repetitions -- is ``rho = a^2 / (a^2 + v / R)``, the region's value in
:data:`REGION_RELIABILITY` (V1 0.85, V4 0.6, IT 0.75). A fraction
``untuned_fraction`` (default 1/8, rounded per region and animal) of the neuroids is
untuned (``a = 0``, reliability 0), so a threshold (Papale2025: > 0.3) has something
to remove; a region's median reliability over all its neuroids stays its value.

Determinism: the same arguments give byte-identical files. Images and latents come
from generators keyed by ``(seed, purpose, ...)``; each animal's neuroids and noise
from one keyed by ``(seed, crc32(animal))``, so adding an animal leaves the others
unchanged. Regions are laid out per animal as electrode ranges are in TVSD: monkeyA
(and every animal at an even position) V1, V4, IT; the others V1, IT, V4.
"""

from __future__ import annotations

import colorsys
import hashlib
import io
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from lrrsa.data.brainio import NEUROID, PRESENTATION, TIME_BIN, write_assembly
from lrrsa.data.demo import edge_energy
from lrrsa.data.demo.files import _atomic_write, _write_csv
from lrrsa.data.demo.streams import _rng

__all__ = [
    "ANIMALS",
    "ASSEMBLY_IDENTIFIER",
    "BIN_SD",
    "CATEGORIES",
    "DEFAULT_NEUROIDS_PER_REGION",
    "REGIONS",
    "REGION_RELIABILITY",
    "RESPONSE_WINDOW",
    "STIMULUS_SET_IDENTIFIER",
    "TIME_BINS",
    "TRIAL_SD",
    "DemoMacaque",
    "noise_variance",
    "write_macaque_dataset",
]

ASSEMBLY_IDENTIFIER = "lrrsa.DemoMacaque"
STIMULUS_SET_IDENTIFIER = "lrrsa-demo-macaque"
REGIONS: tuple[str, ...] = ("V1", "V4", "IT")
ANIMALS: tuple[str, ...] = ("monkeyA", "monkeyB")
CATEGORIES: tuple[str, ...] = ("disc", "square", "triangle", "star", "ring", "cross")
DEFAULT_NEUROIDS_PER_REGION: Mapping[str, int] = {"V1": 32, "V4": 24, "IT": 32}
#: Designed reliability (internal consistency over all repetitions, window 70-170 ms) of a tuned neuroid.
REGION_RELIABILITY: Mapping[str, float] = {"V1": 0.85, "V4": 0.6, "IT": 0.75}
#: (start, end) ms of the 20-ms time bins: 10-30, ..., 190-210.
TIME_BINS: tuple[tuple[float, float], ...] = tuple((float(s), float(s + 20)) for s in range(10, 210, 20))
#: Bins inside this window (start <= bin start, bin end <= end) carry the stimulus signal.
RESPONSE_WINDOW: tuple[float, float] = (70.0, 170.0)
TRIAL_SD = 0.5  # per presentation, shared by its bins
BIN_SD = 1.0  # per presentation and bin
_DRIFT_SD = 0.3
_LATENT_DIM = 8
_IT_CATEGORY_SHARE = 0.75
_V4_CATEGORY_SHARE = 0.5
_V1_RF_SIGMA = 0.8  # edge-energy grid cells
_SS = 2  # supersampling factor of the renderer


@dataclass(frozen=True)
class DemoMacaque:
    """Paths and sizes of a written dataset (:func:`write_macaque_dataset`)."""

    root: Path
    assembly: Path
    stimulus_csv: Path
    stimulus_zip: Path
    truth: Path
    n_stimuli: int
    n_repetitions: int
    animals: tuple[str, ...]
    regions: tuple[str, ...]
    time_bins: tuple[tuple[float, float], ...]


def noise_variance(
    time_bins: Sequence[tuple[float, float]] = TIME_BINS, window: tuple[float, float] = RESPONSE_WINDOW
) -> float:
    """``v``: variance of the noise of one presentation's mean over the bins inside
    ``window`` (``TRIAL_SD^2 + BIN_SD^2 / m``), in squared response units before gain.
    Error: no bin inside the window."""
    m = int(sum(1 for s, e in time_bins if s >= window[0] and e <= window[1]))
    if m == 0:
        raise ValueError(f"no time bin lies inside the window {window} ms")
    return TRIAL_SD**2 + BIN_SD**2 / m


# ------------------------------------------------------------------------ files


def _png_bytes(img: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    return buf.getvalue()


def _write_zip(path: Path, members: Sequence[tuple[str, bytes]]) -> None:
    def write(tmp: Path) -> None:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:
            for name, data in sorted(members):
                info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
                info.external_attr = 0o644 << 16
                zf.writestr(info, data)

    _atomic_write(path, write)


# ----------------------------------------------------------------------- images


def _shape(name: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Mask of a unit-radius shape in object coordinates."""
    r, th = np.hypot(u, v), np.arctan2(v, u)
    if name == "disc":
        return r <= 1.0
    if name == "square":
        return (np.abs(u) <= 0.8) & (np.abs(v) <= 0.8)
    if name == "triangle":
        out = np.ones(u.shape, bool)
        for phi in (-np.pi / 2, np.pi / 6, 5 * np.pi / 6):
            out &= u * np.cos(phi) + v * np.sin(phi) <= 0.5
        return out
    if name == "star":
        return r <= 1.0 - 0.5 * (0.5 - 0.5 * np.cos(5 * th))
    if name == "ring":
        return (r <= 1.0) & (r >= 0.55)
    if name == "cross":
        au, av = np.abs(u), np.abs(v)
        return ((au <= 0.3) & (av <= 1.0)) | ((av <= 0.3) & (au <= 1.0))
    raise ValueError(f"unknown shape {name!r}")


def _render(rng: np.random.Generator, category: int, n_categories: int, size: int) -> np.ndarray:
    """One exemplar of ``category`` as (size, size, 3) uint8."""
    n = size * _SS
    c = (np.arange(n) + 0.5) / n * 2.0 - 1.0
    x, y = np.meshgrid(c, c)
    grey = rng.uniform(0.25, 0.75)
    canvas = np.empty((n, n, 3))
    canvas[:] = np.clip(grey + rng.normal(0, 0.04, 3), 0, 1)
    f, a, ph = rng.uniform(0.5, 1.5), rng.uniform(0, np.pi), rng.uniform(0, 2 * np.pi)
    canvas += 0.05 * np.sin(np.pi * f * (x * np.cos(a) + y * np.sin(a)) + ph)[..., None]  # smooth clutter
    tx, ty = rng.uniform(-0.25, 0.25, 2)
    scale, theta = rng.uniform(0.4, 0.62), rng.uniform(0, 2 * np.pi)
    dx, dy = x - tx, y - ty
    u = (np.cos(theta) * dx + np.sin(theta) * dy) / scale
    v = (-np.sin(theta) * dx + np.cos(theta) * dy) / scale
    mask = _shape(CATEGORIES[category], u, v)
    hue = (category / n_categories + rng.normal(0, 0.03)) % 1.0
    c1 = np.array(colorsys.hsv_to_rgb(hue, rng.uniform(0.5, 0.9), rng.uniform(0.6, 0.95)))
    c2 = c1 * (1.0 - rng.uniform(0.3, 0.8))
    freq, phi = rng.uniform(1.5, 4.5), rng.uniform(0, np.pi)  # stripes: cycles per object radius
    stripes = np.sin(2 * np.pi * freq * (u * np.cos(phi) + v * np.sin(phi)) + rng.uniform(0, 2 * np.pi)) > 0
    canvas = np.where(mask[..., None], np.where(stripes[..., None], c2, c1), canvas)
    img = canvas.reshape(size, _SS, size, _SS, 3).mean(axis=(1, 3)) + rng.normal(0, 0.015, (size, size, 3))
    return np.clip(np.round(img * 255.0), 0, 255).astype(np.uint8)


# ---------------------------------------------------------------------- signals


def _zscore(a: np.ndarray) -> np.ndarray:
    sd = a.std(axis=0)
    return (a - a.mean(axis=0)) / np.where(sd > 0, sd, 1.0)


def _v1_signals(rng: np.random.Generator, feats: np.ndarray, count: int) -> np.ndarray:
    """(n_stimuli, count): Gaussian-RF, orientation-tuned read-outs of edge energy (n, 8, 8, 8)."""
    n, n_chan, g, _ = feats.shape
    n_orient = n_chan // 2
    grid = np.arange(g)
    centres = rng.uniform(0.5, g - 1.5, size=(count, 2))
    gy = np.exp(-((grid[None] - centres[:, :1]) ** 2) / (2 * _V1_RF_SIGMA**2))
    gx = np.exp(-((grid[None] - centres[:, 1:]) ** 2) / (2 * _V1_RF_SIGMA**2))
    spatial = gy[:, :, None] * gx[:, None, :]
    pref = rng.integers(0, n_orient, count)
    dist = np.abs(np.arange(n_orient)[None] - pref[:, None])
    dist = np.minimum(dist, n_orient - dist)
    orient = np.where(dist == 0, 1.0, np.where(dist == 1, 0.3, 0.0))
    chan = np.concatenate([orient, 0.3 * orient], axis=1)  # (count, 2 wavelengths x orientations)
    w = chan[:, :, None, None] * spatial[:, None]
    return feats.reshape(n, -1) @ w.reshape(count, -1).T


def _signals(rng: np.random.Generator, region: str, count: int, feats: np.ndarray, coarse: np.ndarray,
             category_latent: np.ndarray, exemplar_latent: np.ndarray) -> np.ndarray:
    if region == "V1":
        sig = _v1_signals(rng, feats, count)
    elif region == "V4":
        low = _zscore(coarse @ rng.normal(0, 1, (coarse.shape[1], count)))
        high = _zscore(category_latent @ rng.normal(0, 1, (_LATENT_DIM, count)))
        sig = np.sqrt(1 - _V4_CATEGORY_SHARE) * low + np.sqrt(_V4_CATEGORY_SHARE) * high
    else:
        latent = np.sqrt(_IT_CATEGORY_SHARE) * category_latent + np.sqrt(1 - _IT_CATEGORY_SHARE) * exemplar_latent
        sig = latent @ rng.normal(0, 1, (_LATENT_DIM, count))
    return _zscore(sig)


# ------------------------------------------------------------------------ main


def _region_order(position: int) -> tuple[str, ...]:
    return REGIONS if position % 2 == 0 else ("V1", "IT", "V4")


def _check(n_categories, n_per_category, n_repetitions, counts, animals, reliability, untuned_fraction, image_size,
           dims, seed) -> None:
    if not 2 <= n_categories <= len(CATEGORIES):
        raise ValueError(
            f"n_categories must be 2..{len(CATEGORIES)} (one shape each: {', '.join(CATEGORIES)}); got {n_categories}")
    if n_per_category < 2:
        raise ValueError(f"need n_per_category >= 2; got {n_per_category}")
    if n_repetitions < 2:
        raise ValueError(f"need n_repetitions >= 2 (split-half reliability); got {n_repetitions}")
    unknown = sorted(set(counts) - set(REGIONS))
    if unknown or any(int(n) < 1 for n in counts.values()) or not counts:
        raise ValueError(f"neuroids_per_region: regions among {REGIONS} with >= 1 neuroid each; got {dict(counts)}")
    bad = {r: x for r, x in reliability.items() if not 0.0 < float(x) < 1.0}
    if bad or set(counts) - set(reliability):
        raise ValueError(f"region_reliability: a value in (0, 1) for every simulated region; got {dict(reliability)}")
    if not animals or len(set(animals)) != len(animals) or any(not str(a) for a in animals):
        raise ValueError(f"animals must be unique non-empty names; got {list(animals)}")
    if not 0.0 <= untuned_fraction < 0.5:
        raise ValueError(f"untuned_fraction must be in [0, 0.5); got {untuned_fraction}")
    if image_size < 16:
        raise ValueError(f"image_size must be >= 16; got {image_size}")
    if sorted(dims) != sorted((PRESENTATION, NEUROID, TIME_BIN)):
        raise ValueError(f"dims must order presentation, neuroid and time_bin; got {dims}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0; got {seed}")


def write_macaque_dataset(
    root: Path | str,
    *,
    n_categories: int = 6,
    n_per_category: int = 12,
    n_repetitions: int = 10,
    neuroids_per_region: Mapping[str, int] | None = None,
    animals: Sequence[str] = ANIMALS,
    region_reliability: Mapping[str, float] | None = None,
    untuned_fraction: float = 0.125,
    image_size: int = 96,
    dims: Sequence[str] = (PRESENTATION, NEUROID, TIME_BIN),
    seed: int = 0,
) -> DemoMacaque:
    """Write the simulated recording (assembly, stimulus set CSV and zip, truth TSV) under ``root``.

    Sizes: ``n_categories`` (2..6) x ``n_per_category`` stimuli, each presented
    ``n_repetitions`` times (each repetition one shuffled pass over all stimuli);
    per animal ``neuroids_per_region`` (region -> count; default V1 32, V4 24, IT 32);
    ``image_size`` px square images; time bins :data:`TIME_BINS`. ``region_reliability``:
    designed reliability of a tuned neuroid per region (default
    :data:`REGION_RELIABILITY`); ``untuned_fraction``: share of neuroids per region and
    animal without signal (rounded). ``dims``: the on-disk order of the assembly's
    dimensions (MajajHong2015 has neuroid first, FreemanZiemba2013 time_bin in the
    middle). The model and its closed-form reliability are in the module docstring.

    Returns a :class:`DemoMacaque`. Deterministic in all arguments (byte-identical
    files); every file is written to a temporary name and renamed. Errors
    (``ValueError``): sizes out of range, unknown regions, reliabilities outside
    (0, 1), duplicate animals, dims that are not a permutation of the three.
    """
    counts = dict(DEFAULT_NEUROIDS_PER_REGION if neuroids_per_region is None else neuroids_per_region)
    reliability = dict(REGION_RELIABILITY if region_reliability is None else region_reliability)
    animals, dims = tuple(str(a) for a in animals), tuple(dims)
    _check(n_categories, n_per_category, n_repetitions, counts, animals, reliability, untuned_fraction, image_size,
           dims, seed)
    root = Path(root)

    # Stimuli: shared by the animals.
    world = _rng(seed, 0)
    n_stim = n_categories * n_per_category
    # file order interleaves the categories
    category = world.permutation(np.repeat(np.arange(n_categories), n_per_category))
    exemplar = np.zeros(n_stim, dtype=np.int64)
    for k in range(n_categories):
        exemplar[category == k] = np.arange(n_per_category)
    images = np.empty((n_stim, image_size, image_size, 3), np.uint8)
    members, ids, filenames = [], [], []
    for i in range(n_stim):
        key = (int(category[i]), int(exemplar[i]))
        images[i] = _render(_rng(seed, 1, *key), key[0], n_categories, image_size)
        data = _png_bytes(images[i])
        ids.append(hashlib.sha1(data).hexdigest())
        filenames.append(f"im{i:03d}.png")
        members.append((filenames[-1], data))
    if len(set(ids)) != n_stim:  # pragma: no cover - identical renders
        raise RuntimeError("two rendered stimuli are identical; choose another seed")
    names = np.array(CATEGORIES[:n_categories], dtype=object)[category]

    feats = edge_energy(images)
    coarse = feats.reshape(n_stim, feats.shape[1], 2, feats.shape[2] // 2, 2, feats.shape[3] // 2).mean(axis=(3, 5))
    coarse = _zscore(coarse.reshape(n_stim, -1))
    lat = _rng(seed, 2)
    category_latent = lat.normal(0, 1, (n_categories, _LATENT_DIM))[category]
    exemplar_latent = lat.normal(0, 1, (n_stim, _LATENT_DIM))

    # Presentations: repetition r is one shuffled pass over the stimuli.
    order = _rng(seed, 3)
    stim_of = np.concatenate([order.permutation(n_stim) for _ in range(n_repetitions)])
    rep_of = np.repeat(np.arange(n_repetitions), n_stim)
    n_pres = stim_of.size
    gate = np.array([1.0 if s >= RESPONSE_WINDOW[0] and e <= RESPONSE_WINDOW[1] else 0.0 for s, e in TIME_BINS])
    v = noise_variance()

    blocks, neuroid_rows = [], []
    for position, animal in enumerate(animals):
        rng = _rng(seed, 4, zlib.crc32(animal.encode()))
        next_id = 0
        for region in (r for r in _region_order(position) if r in counts):
            count = int(counts[region])
            signal = _signals(rng, region, count, feats, coarse, category_latent, exemplar_latent)
            tuned = np.ones(count, dtype=bool)
            tuned[rng.permutation(count)[: round(untuned_fraction * count)]] = False
            rho = np.where(tuned, float(reliability[region]), 0.0)
            amplitude = np.sqrt(rho / (1 - rho) * v / n_repetitions)
            baseline = rng.uniform(2.0, 10.0, count)
            gain = rng.lognormal(0.0, 0.3, count)
            drift = rng.normal(0, _DRIFT_SD, (n_repetitions, count))
            trial = rng.normal(0, TRIAL_SD, (n_pres, count))
            noise = rng.normal(0, BIN_SD, (n_pres, count, len(TIME_BINS)))
            stim = (amplitude * signal)[stim_of]  # (presentations, count)
            y = (baseline + drift[rep_of] + trial)[:, :, None] + gate * stim[:, :, None] + noise
            blocks.append((gain[:, None] * y).astype(np.float32))
            ids_here = np.arange(next_id, next_id + count, dtype=np.int64)
            next_id += count
            neuroid_rows.append(pd.DataFrame({"animal": animal, "neuroid_id": ids_here, "region": region,
                                              "tuned": tuned, "reliability": rho, "amplitude": amplitude}))
    data = np.concatenate(blocks, axis=1)  # presentation, neuroid, time_bin
    truth = pd.concat(neuroid_rows, ignore_index=True)

    assembly = root / f"assy_{ASSEMBLY_IDENTIFIER.replace('.', '_')}.nc"
    csv = root / f"stimulus_{STIMULUS_SET_IDENTIFIER.replace('.', '_')}.csv"
    archive = csv.with_suffix(".zip")
    truth_path = root / "demo_macaque_neuroids.tsv"
    write_assembly(
        assembly,
        np.ascontiguousarray(data.transpose([(PRESENTATION, NEUROID, TIME_BIN).index(d) for d in dims])),
        {"stimulus_id": np.array(ids, dtype=object)[stim_of], "repetition": rep_of.astype(np.int64),
         "category": names[stim_of]},
        {"neuroid_id": truth["neuroid_id"].to_numpy(), "region": truth["region"].to_numpy(dtype=object),
         "animal": truth["animal"].to_numpy(dtype=object)},
        list(TIME_BINS),
        dims=dims,
    )
    stimulus_table = pd.DataFrame({"stimulus_id": ids, "filename": filenames, "category": names, "exemplar": exemplar})
    _write_csv(csv, stimulus_table, ",")
    _write_zip(archive, members)
    _write_csv(truth_path, truth, "\t")
    return DemoMacaque(root, assembly, csv, archive, truth_path, n_stim, n_repetitions, animals,
                       tuple(r for r in REGIONS if r in counts), TIME_BINS)
