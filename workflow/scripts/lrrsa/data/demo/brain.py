"""The simulated THINGS-fMRI subjects: voxel coordinates in ROI blobs, early-ROI read-outs of
the edge energy and late-ROI read-outs of the latent concept embedding, the trial table
(StimulusMetadata), trial noise, the VoxelMetadata columns (noise ceilings, pRFs, ROI and
Glasser labels) and the ResponseData.h5 file in the real pandas layout.
"""

from __future__ import annotations

import re
import warnings
import zlib
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from lrrsa.data.demo.edge_features import _EE_GRID, _EE_N_ORIENT
from lrrsa.data.demo.files import _atomic_write
from lrrsa.data.demo.stimuli import _Stimulus
from lrrsa.data.demo.streams import _rng

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
