"""Each subject's ROI responses to the encoding images, and the voxels' ceilings.

THINGS-fMRI single trials are read and z-scored as for the RDMs
(:func:`lrrsa.data.things_fmri.split_half_patterns`: every voxel over all the subject's
trials, when ``zscore`` is on), then averaged per image: a train image's single trial, a
test image's mean over its repetitions. The odd- and even-session means of the repeated
images give split-half ceilings (``kfold``); ``nc_testset`` gives THINGS-fMRI's own
(``train_test``).

File ``encoding/responses/<subject>.h5``, one group per ROI: ``responses`` (n_images,
n_voxels) float32 in the encoding stimulus table's order, ``ceiling`` (n_voxels,) on
the r scale, ``voxel_ids``; attributes ``ceiling_source`` and ``n_voxels``. An ROI
without voxels in this subject has ``n_voxels`` 0 and empty datasets.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from lrrsa.data.things_fmri import (EmptyRoiError, read_voxel_metadata, split_half_patterns, subject_files,
                                    subject_label)
from lrrsa.encoding.ceilings import ceiling_from_nc_testset, ceiling_from_split_halves

log = logging.getLogger(__name__)

#: Where each protocol's ceilings come from.
CEILING_SOURCES = {"train_test": "nc_testset", "kfold": "split_halves"}


@dataclass(frozen=True)
class RoiResponses:
    """One subject's responses in one ROI: ``responses`` (n_images, v), ``ceiling`` (v,)
    r scale, ``voxel_ids`` (v,)."""

    responses: np.ndarray
    ceiling: np.ndarray
    voxel_ids: np.ndarray


def _mean_of_halves(split) -> np.ndarray:
    """Every image's mean over all its trials, from the odd- and even-session means."""
    n_odd, n_even = split.n_trials_odd[:, None], split.n_trials_even[:, None]
    total = np.nan_to_num(split.odd) * n_odd + np.nan_to_num(split.even) * n_even
    with np.errstate(invalid="ignore", divide="ignore"):
        return total / (n_odd + n_even)


def roi_responses(betas_dir: Path | str, subject: str, roi_columns: Sequence[str], table: pd.DataFrame, *,
                  protocol: str, zscore: bool = True, min_nc_testset: float | None = None) -> RoiResponses | None:
    """A subject's :class:`RoiResponses` to the images of ``table`` (the encoding stimulus
    table), or None when the ROI has no (selected) voxel in this subject. Ceilings per
    :data:`CEILING_SOURCES`. Raises ValueError naming the file for an image without trials
    and the errors of :func:`split_half_patterns`."""
    try:
        split = split_half_patterns(betas_dir, subject, roi_columns, table["stimulus"].tolist(), zscore=zscore,
                                    min_nc_testset=min_nc_testset)
    except EmptyRoiError as error:
        log.warning("%s: %s", subject, error)
        return None
    responses = _mean_of_halves(split)
    files = subject_files(betas_dir, subject)
    if not np.isfinite(responses).all():
        raise ValueError(f"{files.stimulus_metadata}: an encoding image has no trial for {subject}")
    if CEILING_SOURCES[protocol] == "nc_testset":
        vox = read_voxel_metadata(files.voxel_metadata, ["nc_testset"]).set_index("voxel_id")
        ceiling = ceiling_from_nc_testset(vox.loc[split.voxel_ids, "nc_testset"].to_numpy(dtype=np.float64))
    else:
        both = (split.n_trials_odd > 0) & (split.n_trials_even > 0)
        if both.sum() < 3:
            raise ValueError(f"{files.stimulus_metadata}: split-half ceilings need at least 3 images with trials in "
                             f"odd and even sessions, found {int(both.sum())}")
        ceiling = ceiling_from_split_halves(split.odd[both], split.even[both])
    return RoiResponses(responses=responses, ceiling=ceiling, voxel_ids=split.voxel_ids)


def write_subject_responses(path: Path | str, betas_dir: Path | str, subject: str,
                            rois: Mapping[str, Sequence[str]], table: pd.DataFrame, *, protocol: str,
                            zscore: bool = True, min_nc_testset: float | None = None) -> None:
    """The prepare_encoding_responses job: every ROI of one subject into one HDF5 file,
    written under a temporary name and renamed when complete."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with h5py.File(tmp, "w") as h5:
        h5.attrs.update({"subject": subject_label(subject), "protocol": protocol,
                         "ceiling_source": CEILING_SOURCES[protocol]})
        h5.create_dataset("stimuli", data=table["stimulus"].to_numpy(dtype=object), dtype=h5py.string_dtype())
        for roi, columns in rois.items():
            found = roi_responses(betas_dir, subject, columns, table, protocol=protocol, zscore=zscore,
                                  min_nc_testset=min_nc_testset)
            group = h5.create_group(roi)
            if found is None:
                found = RoiResponses(np.zeros((len(table), 0)), np.zeros(0), np.zeros(0, dtype=np.int64))
            group.attrs["n_voxels"] = found.voxel_ids.size
            group.create_dataset("responses", data=found.responses.astype(np.float32))
            group.create_dataset("ceiling", data=found.ceiling)
            group.create_dataset("voxel_ids", data=found.voxel_ids.astype(np.int64))
            log.info("%s %s: %d voxels, median ceiling r %.3f", subject, roi, found.voxel_ids.size,
                     np.nanmedian(found.ceiling) if found.ceiling.size else np.nan)
    os.replace(tmp, path)


def read_subject_responses(path: Path | str, stimuli: Sequence[str]) -> dict[str, RoiResponses]:
    """ROI -> :class:`RoiResponses` of a file written by :func:`write_subject_responses`;
    ValueError naming the file if its images differ from ``stimuli``."""
    with h5py.File(path, "r") as h5:
        stored = [s.decode() if isinstance(s, bytes) else s for s in h5["stimuli"][()]]
        if stored != list(stimuli):
            raise ValueError(f"{path}: its images differ from the encoding stimulus table's")
        return {roi: RoiResponses(group["responses"][()].astype(np.float64), group["ceiling"][()],
                                  group["voxel_ids"][()])
                for roi, group in h5.items() if isinstance(group, h5py.Group)}
