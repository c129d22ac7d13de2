"""RDM files: one ``.npz`` per RDM with the matrix and the stimulus ids of its rows."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np


def save_rdm(path: str | Path, rdm: np.ndarray, stimuli: Sequence[str]) -> None:
    """Write atomically, so an interrupted job leaves no file that looks complete."""
    path = Path(path)
    if rdm.shape != (len(stimuli), len(stimuli)):
        raise ValueError(f"{path}: RDM shape {rdm.shape} does not match {len(stimuli)} stimuli")
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, rdm=rdm.astype(np.float64), stimuli=np.asarray(stimuli, dtype=str))
    os.replace(tmp, path)


def load_rdm(path: str | Path) -> tuple[np.ndarray, list[str]]:
    with np.load(path) as data:
        return data["rdm"], data["stimuli"].tolist()


def load_matching(paths: Sequence[str | Path], stimuli: Sequence[str]) -> list[np.ndarray]:
    """Load RDMs and check that their rows are the expected stimuli, in order."""
    rdms = []
    for path in paths:
        rdm, ids = load_rdm(path)
        if list(ids) != list(stimuli):
            raise ValueError(f"{path}: its stimuli differ from the stimulus table's (order or ids)")
        rdms.append(rdm)
    return rdms
