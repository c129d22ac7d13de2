"""The RDM jobs: per model layer, per brain ROI and subject, the group average, and pixels."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np

from lrrsa.images import load_images
from lrrsa.data.stimuli import image_path, read_stimulus_table
from lrrsa.data.things_fmri import stimulus_patterns
from lrrsa.rdm_io import load_matching, save_rdm
from lrrsa.rsa import rdm

log = logging.getLogger(__name__)


def write_roi_rdm(
    betas_dir: Path, subject: str, roi_columns: Sequence[str], stimulus_table: Path, out: Path,
    *, zscore: bool, min_nc_testset: float | None, metric: str,
) -> None:
    """RDM of one subject's ROI over the stimulus table's stimuli (trial-averaged patterns)."""
    stimuli = read_stimulus_table(stimulus_table)["stimulus"].tolist()
    patterns = stimulus_patterns(
        Path(betas_dir), subject, roi_columns, stimuli, zscore=zscore, min_nc_testset=min_nc_testset
    )
    log.info("%s %s: %d voxels, %d stimuli", subject, "|".join(roi_columns), patterns.patterns.shape[1], len(stimuli))
    save_rdm(out, rdm(patterns.patterns, metric), stimuli)


def write_group_rdm(subject_rdms: Sequence[Path], stimulus_table: Path, out: Path) -> None:
    """The mean of the subjects' RDMs (the paper's group RDM)."""
    stimuli = read_stimulus_table(stimulus_table)["stimulus"].tolist()
    save_rdm(out, np.mean(load_matching(subject_rdms, stimuli), axis=0), stimuli)


def write_pixel_rdm(stimulus_table: Path, images_dir: Path, out: Path, *, image_size: int, metric: str) -> None:
    """RDM of the stimuli's RGB pixels at the models' input size: the low-level control."""
    table = read_stimulus_table(stimulus_table)
    paths = [image_path(Path(images_dir), s, c) for s, c in zip(table["stimulus"], table["concept"])]
    pixels = load_images(paths, image_size).reshape(len(paths), -1).astype(np.float32)
    save_rdm(out, rdm(pixels, metric), table["stimulus"].tolist())


def write_model_rdm(activations: Path, layer: str, out: Path, *, metric: str) -> None:
    """RDM of one cached layer, streamed from the HDF5 file (never loaded whole)."""
    with h5py.File(activations, "r") as h5:
        if layer not in h5:
            raise KeyError(f"{activations}: no layer {layer!r}; it has {sorted(k for k in h5 if k != 'stimuli')}")
        stimuli = h5["stimuli"].asstr()[()].tolist()
        save_rdm(out, rdm(h5[layer], metric), stimuli)
