"""The RDM jobs: per model layer, per brain ROI and subject, the group average, and pixels."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import h5py
import numpy as np

from lrrsa.images import load_images
from lrrsa.data.stimuli import image_path, read_stimulus_table
from lrrsa.data.things_fmri import EmptyRoiError, stimulus_patterns
from lrrsa.rdm_io import load_matching, save_rdm
from lrrsa.rsa.rdm import rdm

log = logging.getLogger(__name__)


def write_subject_rdms(
    betas_dir: Path, subject: str, rois: Mapping[str, Sequence[str]], stimulus_table: Path, outs: Sequence[Path],
    *, zscore: bool, min_nc_testset: float | None, metric: str,
) -> None:
    """One subject's RDM of each ROI (``outs[i]`` for the i-th item of ``rois``, ROI name ->
    its columns or masks), as :func:`write_roi_rdm` writes them, in one job."""
    if len(rois) != len(outs):
        raise ValueError(f"{len(rois)} ROIs but {len(outs)} output files")
    for columns, out in zip(rois.values(), outs):
        write_roi_rdm(betas_dir, subject, columns, stimulus_table, out, zscore=zscore,
                      min_nc_testset=min_nc_testset, metric=metric)


def write_roi_rdm(
    betas_dir: Path, subject: str, roi_columns: Sequence[str], stimulus_table: Path, out: Path,
    *, zscore: bool, min_nc_testset: float | None, metric: str,
) -> None:
    """RDM of one subject's ROI over the stimulus table's stimuli (trial-averaged patterns).

    A subject with no voxels in the ROI (:class:`lrrsa.data.things_fmri.EmptyRoiError`)
    gets an RDM of NaN (diagonal 0): no dissimilarity is defined. The statistics leave
    such a subject out (``lrrsa.stats``) and ``roi_voxels.tsv`` counts 0 voxels; the
    other subjects and ROIs are computed as usual."""
    stimuli = read_stimulus_table(stimulus_table)["stimulus"].tolist()
    try:
        patterns = stimulus_patterns(
            Path(betas_dir), subject, roi_columns, stimuli, zscore=zscore, min_nc_testset=min_nc_testset
        )
    except EmptyRoiError as error:
        log.warning("%s: no voxels in ROI %s (%s): its RDM is NaN", subject, "|".join(roi_columns), error)
        empty = np.full((len(stimuli), len(stimuli)), np.nan)
        np.fill_diagonal(empty, 0.0)
        save_rdm(out, empty, stimuli)
        return
    log.info("%s %s: %d voxels, %d stimuli", subject, "|".join(roi_columns), patterns.patterns.shape[1], len(stimuli))
    save_rdm(out, rdm(patterns.patterns, metric), stimuli)


def write_group_rdm(subject_rdms: Sequence[Path], stimulus_table: Path, out: Path) -> None:
    """The mean of the subjects' RDMs (the paper's group RDM), over the subjects that have
    data: a subject RDM without any dissimilarity (no voxels in the ROI) is left out
    (logged); a pair missing (NaN) in any subject kept is missing in the mean. With no
    subject left the group RDM is NaN."""
    stimuli = read_stimulus_table(stimulus_table)["stimulus"].tolist()
    rdms = np.stack(load_matching(subject_rdms, stimuli))
    iu = np.triu_indices(len(stimuli), k=1)
    has_data = np.array([(~np.isnan(r[iu])).any() for r in rdms])
    if not has_data.all():
        log.warning("group RDM %s: left out %s (no dissimilarities: no voxels in the ROI?)", out,
                    [str(p) for p, h in zip(subject_rdms, has_data) if not h])
    if not has_data.any():
        save_rdm(out, rdms[0], stimuli)
        return
    save_rdm(out, rdms[has_data].mean(axis=0), stimuli)


def write_pixel_rdm(stimulus_table: Path, images_dir: Path, out: Path, *, image_size: int, metric: str) -> None:
    """RDM of the stimuli's RGB pixels at the models' input size: the low-level control."""
    table = read_stimulus_table(stimulus_table)
    paths = [image_path(Path(images_dir), s, c) for s, c in zip(table["stimulus"], table["concept"])]
    pixels = load_images(paths, image_size).reshape(len(paths), -1).astype(np.float32)
    save_rdm(out, rdm(pixels, metric), table["stimulus"].tolist())


def write_model_rdms(activations: Path, layers: Sequence[str], outs: Sequence[Path], *, metric: str) -> None:
    """RDM of each cached layer (``outs[i]`` for ``layers[i]``), each streamed from the
    HDF5 file (never loaded whole). Raises KeyError naming the file and its layers when
    a layer is not cached."""
    if len(layers) != len(outs):
        raise ValueError(f"{len(layers)} layers but {len(outs)} output files")
    with h5py.File(activations, "r") as h5:
        cached = sorted(k for k in h5 if k != "stimuli")
        missing = [layer for layer in layers if layer not in h5]
        if missing:
            raise KeyError(f"{activations}: no layer {missing}; it has {cached}")
        stimuli = h5["stimuli"].asstr()[()].tolist()
        for layer, out in zip(layers, outs):
            save_rdm(out, rdm(h5[layer], metric), stimuli)
            log.info("%s: %s, %d stimuli -> %s", activations, layer, len(stimuli), out)
