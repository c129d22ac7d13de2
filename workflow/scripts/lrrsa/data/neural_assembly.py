"""The ``neural_assembly`` brain dataset type: a recording in Brain-Score's brainio form
(an assembly ``.nc`` plus its stimulus set, a CSV and the images) as a brain dataset of
the workflow. What the workflow needs to plan a run from ``brain_data``:

- :func:`dataset_files`: where the run reads the assembly, the stimulus CSV and the
  images, per ``source``: ``demo`` (the simulated recording of
  :mod:`lrrsa.data.demo_macaque`, generated under ``resources/demo/macaque``),
  ``download`` (a dataset of :mod:`lrrsa.data.brainio_catalog`, fetched into
  ``resources/brainio/<dataset>``; the files of an ``assembly_dir`` are checked against
  their sha1 and linked there instead) or ``local`` (``assembly_file``, ``stimulus_csv`` and ``images_zip`` or
  ``images_dir``). A recording on THINGS images (:func:`things_images`: Papale2025, or
  ``things_images: true``) has no published stimulus set: its CSV is rebuilt from the
  assembly's ids (:mod:`lrrsa.data.brainio_things`) and its images come from the THINGS
  images archive (downloaded once per run, or ``images_zip``) or an unpacked THINGS
  images folder (``images_dir``).
- :func:`downloaded_files`: the files the download job writes (Papale2025: only the
  test assembly, the one with repetitions, :attr:`BrainioDataset.analysis_role`).
- :func:`animals`: the recording's animals, which are the run's subjects: the demo's
  two, the catalog's list for a download (checked against the file when a job reads
  it), the file's own for local files. A recording without an animal coordinate
  (FreemanZiemba2013) is one subject, :data:`POOLED_SUBJECT`, that pools every neuroid.
- :func:`time_window`, :func:`reliability_threshold`: the config's value, else the
  dataset's published preprocessing (the catalog's; the demo's response window), else
  every time bin and every neuroid; :func:`reliability_method`: the published
  reliability where the dataset stores one (Papale2025's ``reliability``, as Brain-Score
  compares it), else the split-half internal consistency computed from the repetitions.

Responses are used as Brain-Score uses them: not z-scored, the mean over the time
window's bins, then over each stimulus's repetitions (:mod:`lrrsa.data.brainio_rdms`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lrrsa.data.shared_downloads import THINGS_ARCHIVE_FILES
from lrrsa.data import demo_macaque
from lrrsa.data.brainio_catalog import brainio_dataset

__all__ = ["DEMO_DIR", "DOWNLOAD_DIR", "POOLED_SUBJECT", "THINGS_IMAGES_ZIP", "animal_of", "animals", "dataset_files",
           "download_roles", "downloaded_files", "local_recording_problems", "reliability_method", "reliability_threshold",
           "things_images", "time_window"]

#: Where the simulated recording is generated (source demo).
DEMO_DIR = "resources/demo/macaque"
#: Where a catalog dataset is downloaded, per dataset name (source download).
DOWNLOAD_DIR = "resources/brainio"
#: The subject of a recording without an animal coordinate: every neuroid pooled.
POOLED_SUBJECT = "pooled"
#: Where a run downloads the THINGS images archive (shared with THINGS-fMRI datasets).
THINGS_IMAGES_ZIP = THINGS_ARCHIVE_FILES["images"]
#: The files of a published stimulus set.
_ROLES = ("assembly", "stimulus_csv", "stimulus_zip")


def _demo_files() -> dict[str, str]:
    assembly = f"assy_{demo_macaque.ASSEMBLY_IDENTIFIER.replace('.', '_')}.nc"
    csv = f"stimulus_{demo_macaque.STIMULUS_SET_IDENTIFIER.replace('.', '_')}.csv"
    return {"assembly": f"{DEMO_DIR}/{assembly}", "stimulus_csv": f"{DEMO_DIR}/{csv}",
            "images": f"{DEMO_DIR}/{csv[:-4]}.zip"}


def catalog_entry(brain: Mapping[str, Any]):
    """The :class:`lrrsa.data.brainio_catalog.BrainioDataset` of ``brain_data.dataset``.
    ValueError naming the key when the workflow cannot find its images: neither a
    public stimulus set nor THINGS images."""
    entry = brainio_dataset(brain["dataset"])
    missing = [role for role in _ROLES if role not in entry.roles]
    if not entry.things_images and (not entry.stimuli_public or missing):
        raise ValueError(f"config key brain_data.dataset: {entry.name} has no public stimulus set "
                         f"({entry.stimulus_note}); not supported")
    return entry


def things_images(brain: Mapping[str, Any]) -> bool:
    """Whether the recording's stimuli are THINGS images found by their id (Papale2025,
    or a recording whose config says ``things_images: true``)."""
    if brain["source"] == "download":
        return catalog_entry(brain).things_images
    return bool(brain.get("things_images"))


def dataset_files(brain: Mapping[str, Any], results_dir: str | None = None) -> dict[str, str]:
    """``{"assembly", "stimulus_csv", "images"}`` -> the path the run reads (relative to
    Snakemake's working directory unless the config gave an absolute one). ``images`` is
    the stimulus set's zip, or a folder of its files (local ``images_dir``). For THINGS
    images (:func:`things_images`) ``images`` is the THINGS images archive or folder and
    ``stimulus_csv`` the set rebuilt from the ids, ``<results_dir>/data/stimulus_set.csv``
    (``results_dir``: the dataset's results folder; ValueError without one)."""
    source = brain["source"]
    if source == "demo":
        return _demo_files()
    if things_images(brain):
        if results_dir is None:
            raise ValueError("a recording on THINGS images needs the dataset's results folder for its stimulus set")
        assembly = brain["assembly_file"] if source == "local" else _catalog_assembly(brain)
        return {"assembly": assembly, "stimulus_csv": f"{results_dir}/data/stimulus_set.csv",
                "images": brain["images_zip"] or brain["images_dir"] or THINGS_IMAGES_ZIP}
    if source == "local":
        return {"assembly": brain["assembly_file"], "stimulus_csv": brain["stimulus_csv"],
                "images": brain["images_zip"] or brain["images_dir"]}
    entry = catalog_entry(brain)
    folder = f"{DOWNLOAD_DIR}/{entry.name}"
    names = {role: entry.file(role).file_name for role in _ROLES}
    return {"assembly": _catalog_assembly(brain), "stimulus_csv": f"{folder}/{names['stimulus_csv']}",
            "images": f"{folder}/{names['stimulus_zip']}"}


def _catalog_assembly(brain: Mapping[str, Any]) -> str:
    """Where a catalog dataset's analysed assembly is downloaded (an assembly_dir's files
    are checked and linked there)."""
    entry = catalog_entry(brain)
    return f"{DOWNLOAD_DIR}/{entry.name}/{entry.file(entry.analysis_role).file_name}"


def downloaded_files(brain: Mapping[str, Any]) -> dict[str, str]:
    """The files the download job of a catalog dataset writes, by role: ``assembly`` and,
    for a published stimulus set, ``stimulus_csv`` and ``stimulus_zip``; their catalog
    roles are :func:`download_roles`'s, in the same order."""
    entry = catalog_entry(brain)
    files = {"assembly": _catalog_assembly(brain)}
    if not entry.things_images:
        folder = f"{DOWNLOAD_DIR}/{entry.name}"
        files.update({role: f"{folder}/{entry.file(role).file_name}" for role in _ROLES[1:]})
    return files


def download_roles(brain: Mapping[str, Any]) -> list[str]:
    """The catalog roles of :func:`downloaded_files`, in its order."""
    entry = catalog_entry(brain)
    return [entry.analysis_role] if entry.things_images else [entry.analysis_role, "stimulus_csv", "stimulus_zip"]


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
    if "region" not in info.neuroids.columns:
        problems.append(f"config key brain_data.rois: {info.path} has no neuroid coordinate 'region' (its neuroid "
                        f"coordinates: {', '.join(map(str, info.neuroids.columns)) or 'none'}); a neural_assembly ROI "
                        "names values of it")
    regions = set(info.neuroids["region"].astype(str)) if "region" in info.neuroids.columns else None
    for roi, items in brain["rois"].items():
        absent = [item for item in items if regions is not None and item not in regions]
        if absent:
            problems.append(f"config key brain_data.rois.{roi}: region(s) {', '.join(absent)} not in "
                            f"{info.path} (its regions: {', '.join(sorted(regions)) or 'none'})")
    try:
        window_bins(info, time_window(brain))
    except ValueError as error:
        message = str(error).replace("pass time_window=None", "set brain_data.time_window: null")
        problems.append(f"config key brain_data.time_window: {message}")
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


def reliability_method(brain: Mapping[str, Any]) -> str:
    """How a neuroid's reliability is had: ``"coordinate"``, the value a catalog dataset
    stores and Brain-Score compares (Papale2025's ``reliability``), else ``"split_half"``
    (:func:`lrrsa.data.brainio_reliability.reliable_neuroids`)."""
    if brain["source"] == "download" and catalog_entry(brain).reliability_coord:
        return "coordinate"
    return "split_half"


def reliability_threshold(brain: Mapping[str, Any]) -> float | None:
    """Neuroids kept when their split-half reliability exceeds this; None keeps all."""
    if brain["reliability_threshold"] is not None:
        return brain["reliability_threshold"]
    if brain["source"] == "download":
        return catalog_entry(brain).reliability_threshold
    return None
