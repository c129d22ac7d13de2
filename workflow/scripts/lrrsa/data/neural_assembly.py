"""The ``neural_assembly`` brain dataset type: a recording in Brain-Score's brainio form
(an assembly ``.nc`` plus its stimulus set, a CSV and the images) as a brain dataset of
the workflow. What the workflow needs to plan a run from ``brain_data``:

- :func:`dataset_files`: where the run reads the assembly, the stimulus CSV and the
  images, per ``source``: ``demo`` (the simulated recording of
  :mod:`lrrsa.data.demo_macaque`, generated under ``resources/demo/macaque``),
  ``download`` (a dataset of :mod:`lrrsa.data.brainio_catalog`, fetched into
  ``resources/brainio/<dataset>``; the files of an ``assembly_dir`` are checked against
  their sha1 and linked there instead) or ``local`` (``assembly_file``, ``stimulus_csv`` and ``images_zip`` or
  ``images_dir``).
- :func:`animals`: the recording's animals, which are the run's subjects: the demo's
  two, the catalog's list for a download (checked against the file when a job reads
  it), the file's own for local files. A recording without an animal coordinate
  (FreemanZiemba2013) is one subject, :data:`POOLED_SUBJECT`, that pools every neuroid.
- :func:`time_window`, :func:`reliability_threshold`: the config's value, else the
  dataset's published preprocessing (the catalog's; the demo's response window), else
  every time bin and every neuroid.

Responses are used as Brain-Score uses them: not z-scored, the mean over the time
window's bins, then over each stimulus's repetitions (:mod:`lrrsa.data.brainio_rdms`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lrrsa.data import demo_macaque
from lrrsa.data.brainio_catalog import brainio_dataset

__all__ = ["DEMO_DIR", "DOWNLOAD_DIR", "POOLED_SUBJECT", "animal_of", "animals", "dataset_files",
           "local_recording_problems", "reliability_threshold", "time_window"]

#: Where the simulated recording is generated (source demo).
DEMO_DIR = "resources/demo/macaque"
#: Where a catalog dataset is downloaded, per dataset name (source download).
DOWNLOAD_DIR = "resources/brainio"
#: The subject of a recording without an animal coordinate: every neuroid pooled.
POOLED_SUBJECT = "pooled"
#: The catalog datasets a run can use: those whose stimulus images are public.
_ROLES = ("assembly", "stimulus_csv", "stimulus_zip")


def _demo_files() -> dict[str, str]:
    assembly = f"assy_{demo_macaque.ASSEMBLY_IDENTIFIER.replace('.', '_')}.nc"
    csv = f"stimulus_{demo_macaque.STIMULUS_SET_IDENTIFIER.replace('.', '_')}.csv"
    return {"assembly": f"{DEMO_DIR}/{assembly}", "stimulus_csv": f"{DEMO_DIR}/{csv}",
            "images": f"{DEMO_DIR}/{csv[:-4]}.zip"}


def catalog_entry(brain: Mapping[str, Any]):
    """The :class:`lrrsa.data.brainio_catalog.BrainioDataset` of ``brain_data.dataset``.
    ValueError naming the key when its stimulus images are not public (Papale2025's are
    THINGS images, not yet taken from the THINGS archive here) or it lacks a stimulus set."""
    entry = brainio_dataset(brain["dataset"])
    missing = [role for role in _ROLES if role not in entry.roles]
    if not entry.stimuli_public or missing:
        raise ValueError(f"config key brain_data.dataset: {entry.name} has no public stimulus set "
                         f"({entry.stimulus_note}); not supported yet")
    return entry


def dataset_files(brain: Mapping[str, Any]) -> dict[str, str]:
    """``{"assembly", "stimulus_csv", "images"}`` -> the path the run reads (relative to
    Snakemake's working directory unless the config gave an absolute one). ``images`` is
    the stimulus set's zip, or a folder of its files (local ``images_dir``)."""
    source = brain["source"]
    if source == "demo":
        return _demo_files()
    if source == "local":
        return {"assembly": brain["assembly_file"], "stimulus_csv": brain["stimulus_csv"],
                "images": brain["images_zip"] or brain["images_dir"]}
    entry = catalog_entry(brain)
    folder = f"{DOWNLOAD_DIR}/{entry.name}"  # an assembly_dir's files are checked and linked there
    names = {role: entry.file(role).file_name for role in _ROLES}
    return {"assembly": f"{folder}/{names['assembly']}", "stimulus_csv": f"{folder}/{names['stimulus_csv']}",
            "images": f"{folder}/{names['stimulus_zip']}"}


def animals(brain: Mapping[str, Any], root: Path = Path(".")) -> list[str]:
    """The recording's animals, sorted; ``[POOLED_SUBJECT]`` for one without an animal
    coordinate. ``root``: what relative local paths are resolved against."""
    source = brain["source"]
    if source == "demo":
        return sorted(demo_macaque.ANIMALS)
    if source == "download":
        entry = catalog_entry(brain)
        return sorted(entry.animals) if entry.animal_coord else [POOLED_SUBJECT]
    from lrrsa.data.brainio import assembly_info

    info = assembly_info(root / brain["assembly_file"])
    if info.animal_coord is None:
        return [POOLED_SUBJECT]
    return sorted(str(a) for a in info.neuroids[info.animal_coord].unique())


def local_recording_problems(brain: Mapping[str, Any], root: Path = Path(".")) -> list[str]:
    """What the config asks of a local recording (source local) that its assembly does not
    have, each naming the config key: ROI regions absent from the neuroid coordinate
    ``region``, a ``time_window`` holding no time bin, ``stimulus_list`` ids without a
    presentation. Read when the workflow loads the config, so that the mistake stops the
    run before any job (only the assembly's coordinates are read)."""
    from lrrsa.data.brainio import assembly_info, window_bins

    info = assembly_info(root / brain["assembly_file"])
    problems = []
    regions = set(info.neuroids["region"].astype(str)) if "region" in info.neuroids.columns else set()
    for roi, items in brain["rois"].items():
        absent = [item for item in items if item not in regions]
        if absent:
            problems.append(f"config key brain_data.rois.{roi}: region(s) {', '.join(absent)} not in "
                            f"{info.path} (its regions: {', '.join(sorted(regions)) or 'none'})")
    try:
        window_bins(info, time_window(brain))
    except ValueError as error:
        problems.append(f"config key brain_data.time_window: {error}")
    if brain["stimuli"] == "list":
        from lrrsa.data.stimuli import read_stimulus_list

        listed = read_stimulus_list(root / brain["stimulus_list"])
        known = set(info.presentations["stimulus_id"])
        unknown = [s for s in listed if s not in known]
        if unknown:
            preview = ", ".join(unknown[:5]) + (", ..." if len(unknown) > 5 else "")
            problems.append(f"config key brain_data.stimulus_list: {len(unknown)} id(s) of "
                            f"{(root / brain['stimulus_list']).resolve()} have no presentation in {info.path} "
                            f"(stimulus_id values): {preview}")
    return problems


def animal_of(subject: str) -> str:
    """The animal name :mod:`lrrsa.data.brainio_rdms` reads for a subject of the run."""
    from lrrsa.data.brainio_rdms import POOLED

    return POOLED if subject == POOLED_SUBJECT else subject


def time_window(brain: Mapping[str, Any]) -> list[float] | None:
    """[start, end) in ms of the bins averaged per presentation; None: every bin."""
    if brain["time_window"] is not None:
        return list(brain["time_window"])
    if brain["source"] == "demo":
        return list(demo_macaque.RESPONSE_WINDOW)
    if brain["source"] == "download":
        window = catalog_entry(brain).time_window
        return None if window is None else list(window)
    return None


def reliability_threshold(brain: Mapping[str, Any]) -> float | None:
    """Neuroids kept when their split-half reliability exceeds this; None keeps all."""
    if brain["reliability_threshold"] is not None:
        return brain["reliability_threshold"]
    if brain["source"] == "download":
        return catalog_entry(brain).reliability_threshold
    return None
