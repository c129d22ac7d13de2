"""The three files of a THINGS-fMRI subject in a ``betas_csv/`` folder and subject labels
(``sub-01`` from ``1``, ``01`` or ``sub-01``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class SubjectFiles:
    """The three files of one subject in a ``betas_csv/`` folder."""

    response: Path
    voxel_metadata: Path
    stimulus_metadata: Path


def subject_label(subject: str | int) -> str:
    """``"sub-01"`` from ``"sub-01"``, ``"01"``, ``"1"`` or ``1``."""
    text = str(subject).strip()
    if text.startswith("sub-"):
        text = text[4:]
    if not text:
        raise ValueError(f"empty subject label: {subject!r}")
    if text.isdigit():
        return f"sub-{int(text):02d}"
    if not re.fullmatch(r"[A-Za-z0-9]+", text):
        raise ValueError(f"subject label must be alphanumeric (like 'sub-01'): {subject!r}")
    return f"sub-{text}"


def subject_files(betas_dir: Path | str, subject: str | int) -> SubjectFiles:
    """Paths of a subject's files in ``betas_dir``; error naming every missing one."""
    betas_dir = Path(betas_dir)
    sub = subject_label(subject)
    files = SubjectFiles(
        response=betas_dir / f"{sub}_ResponseData.h5",
        voxel_metadata=betas_dir / f"{sub}_VoxelMetadata.csv",
        stimulus_metadata=betas_dir / f"{sub}_StimulusMetadata.csv",
    )
    missing = [str(p) for p in (files.response, files.voxel_metadata, files.stimulus_metadata) if not p.is_file()]
    if missing:
        raise FileNotFoundError(
            f"THINGS-fMRI files of {sub} not found: {', '.join(missing)} "
            f"(betas_dir must be the unzipped 'betas_csv' folder)"
        )
    return files
