"""Recordings on THINGS images (Papale2025, the THINGS Ventral Stream Spiking Dataset).

Brain-Score's stimulus sets of TVSD are not public, but its stimuli are THINGS images
and an assembly's ``stimulus_id`` is the THINGS file stem: ``aardvark_01b`` is the image
``object_images/aardvark/aardvark_01b.jpg`` of ``images_THINGS.zip``, of the concept
``aardvark`` (concepts may hold underscores: ``baby_buggy_02s``). So the stimulus set is
rebuilt from the ids (:func:`write_things_stimulus_set`: the brainio CSV the readers of
:mod:`lrrsa.data.brainio_rdms` take, ``stimulus_id, filename, category``), and the chosen
images are taken from the THINGS images archive, as a THINGS-fMRI run takes its own, or
from an unpacked THINGS images folder (:func:`prepare_things_stimuli`).

Source of the id convention: THINGS (Hebart et al. 2019, doi:10.1371/journal.pone.0223792)
names each image ``<concept>_<two digits><letter>.jpg``; Brain-Score's packaging of TVSD
(brainscore_vision/data/papale2025/data_packaging) keeps the file stem as stimulus_id.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from lrrsa.data.archives import extract_stimulus_images
from lrrsa.data.brainio import assembly_info
from lrrsa.data.brainio_rdms import brainio_stimulus_table
from lrrsa.data.stimuli import building_folder, check_images, image_path, write_stimulus_table

__all__ = ["IMAGE_SUFFIX", "prepare_things_stimuli", "things_concept", "write_things_stimulus_set"]

log = logging.getLogger(__name__)

#: The file name extension of every THINGS image.
IMAGE_SUFFIX = ".jpg"
_STEM = re.compile(r"(?P<concept>[^/\\]+?)_[0-9]+[a-z]?")
_PREVIEW = 5


def _preview(items: Sequence[object]) -> str:
    items = list(items)
    shown = ", ".join(repr(x) for x in items[:_PREVIEW])
    return shown + (f", ... ({len(items)} in all)" if len(items) > _PREVIEW else "")


def things_concept(stimulus_id: str) -> str:
    """The concept of a THINGS file stem (``baby_buggy_02s`` -> ``baby_buggy``); ValueError
    for an id that is not ``<concept>_<digits>[<letter>]``."""
    match = _STEM.fullmatch(str(stimulus_id))
    if match is None or match["concept"] in (".", ".."):
        raise ValueError(f"{stimulus_id!r} is not a THINGS file stem (<concept>_<number><letter>, e.g. aardvark_01b)")
    return match["concept"]


def write_things_stimulus_set(assembly: Path | str, out_csv: Path | str) -> pd.DataFrame:
    """Write the stimulus set of an assembly on THINGS images: one row per stimulus id it
    presents (sorted), ``stimulus_id``, ``filename`` (``<id>.jpg``) and ``category`` (the
    concept). Written to a temporary name and renamed. Returns the table.

    ValueError naming the assembly and the first ids that are not THINGS file stems."""
    info = assembly_info(assembly)
    ids = sorted(pd.unique(info.presentations["stimulus_id"].astype(str)))
    concepts, bad = [], []
    for stimulus_id in ids:
        try:
            concepts.append(things_concept(stimulus_id))
        except ValueError:
            bad.append(stimulus_id)
    if bad:
        raise ValueError(f"{info.path}: {len(bad)} stimulus id(s) are not THINGS file stems (<concept>_<number>"
                         f"<letter>, e.g. aardvark_01b), so their images cannot be found in the THINGS images: "
                         f"{_preview(bad)}")
    table = pd.DataFrame({"stimulus_id": ids, "filename": [i + IMAGE_SUFFIX for i in ids], "category": concepts})
    out_csv = Path(out_csv)
    out_csv.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_csv.with_name(f".{out_csv.name}.{os.getpid()}.tmp")
    try:
        table.to_csv(tmp, index=False, lineterminator="\n")
        os.replace(tmp, out_csv)
    finally:
        tmp.unlink(missing_ok=True)
    log.info("%s: %d THINGS stimuli of %d concepts -> %s", info.path, len(table), table["category"].nunique(), out_csv)
    return table


def _copy_from_folder(images_dir: Path, table: pd.DataFrame, out_images: Path) -> None:
    """Copy each image ``images_dir/object_images/<concept>/<stimulus>`` into ``out_images``
    in the same layout, under a temporary folder renamed at the end."""
    sources = check_images(images_dir, table)  # every missing image named at once
    with building_folder(out_images) as tmp:
        for source, stimulus, concept in zip(sources, table["stimulus"], table["concept"]):
            dest = image_path(tmp, stimulus, concept)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, dest)


def prepare_things_stimuli(
    assembly: Path | str,
    stimulus_csv: Path | str,
    out_table: Path | str,
    out_images: Path | str,
    *,
    images: Path | str,
    password: str | None = None,
    stimulus_ids: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Write the stimulus table (``out_table``: ``stimulus, concept``, sorted by file name)
    and the chosen stimuli's images in the THINGS layout
    ``out_images/object_images/<concept>/<stimulus>``, as
    :func:`lrrsa.data.brainio_rdms.prepare_brainio_stimuli` does for a published stimulus set.

    ``stimulus_csv``: :func:`write_things_stimulus_set`'s table. ``images``: the THINGS
    images archive (``images_THINGS.zip``; ``password`` decrypts it) or a folder holding
    ``object_images/<concept>/<file>``. ``stimulus_ids``: the stimuli (each must be
    presented), default every stimulus of the assembly. Errors: those of
    :func:`lrrsa.data.brainio_rdms.brainio_stimulus_table`; images absent from the archive
    or folder, all named at once (:func:`lrrsa.data.archives.extract_stimulus_images`,
    :func:`lrrsa.data.stimuli.check_images`). An interrupted job leaves no images folder.
    """
    table = brainio_stimulus_table(assembly, stimulus_csv, stimulus_ids=stimulus_ids)
    write_stimulus_table(out_table, table[["stimulus", "concept"]])
    images = Path(images)
    if images.is_dir():
        _copy_from_folder(images, table, Path(out_images))
    else:
        extract_stimulus_images(images, out_table, out_images, password=password)
    log.info("%s: %d THINGS stimuli (%d concepts) from %s -> %s, %s", assembly, len(table), table["concept"].nunique(),
             images, out_table, out_images)
    return table
