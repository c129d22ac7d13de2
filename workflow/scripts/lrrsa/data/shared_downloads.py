"""The downloads a run shares between its brain datasets: the THINGS archives.

``betas_csv.zip`` (THINGS-fMRI) and ``images_THINGS.zip`` (the THINGS images, which
THINGS-fMRI and the THINGS Ventral Stream Spiking Dataset, Papale2025, both show) are
downloaded once per run, into :data:`THINGS_ARCHIVE_FILES`, for every dataset that reads
them from the download (:func:`things_downloads`), with the ``brain_data.download``
settings of the first such dataset (:func:`things_download_settings`; the config's
validation makes every such dataset agree on url, size and md5).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["THINGS_ARCHIVES", "THINGS_ARCHIVE_FILES", "things_download_settings", "things_downloads"]

#: The THINGS archives a run may download: name -> the brain_data keys that replace it
#: with a local copy (a zip, or the folder it unpacks to).
THINGS_ARCHIVES = {"betas": ("betas_dir", "betas_zip"), "images": ("images_dir", "images_zip")}
#: Where a run downloads each THINGS archive, once for every dataset that reads it.
THINGS_ARCHIVE_FILES = {"betas": "resources/things-fmri/betas_csv.zip",
                        "images": "resources/things-images/images_THINGS.zip"}


def things_downloads(brain: Mapping[str, Any]) -> list[str]:
    """The THINGS archives (``betas``, ``images``; :data:`THINGS_ARCHIVES`) that one
    validated dataset (a ``brain_data`` with its defaults filled in) reads from the
    download: a things_fmri download without a local copy of that archive, and a
    recording on THINGS images (Papale2025, ``things_images``) without a local THINGS
    images zip or folder."""
    if brain["type"] == "things_fmri" and brain["source"] == "download":
        return [archive for archive, keys in THINGS_ARCHIVES.items() if not any(brain[key] for key in keys)]
    if brain["type"] == "neural_assembly" and brain["source"] != "demo":
        from lrrsa.data.neural_assembly import things_images

        if things_images(brain) and not any(brain[key] for key in THINGS_ARCHIVES["images"]):
            return ["images"]
    return []


def _datasets(config: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """A validated config's datasets: its one brain_data, or each named dataset in order."""
    brain = config["brain_data"]
    return [brain] if "type" in brain else list(brain.values())


def things_download_settings(config: Mapping[str, Any], archive: str) -> dict[str, Any] | None:
    """The ``brain_data.download`` settings of the THINGS ``archive`` (``betas`` or
    ``images``) in a validated config: those of the first dataset, in name order, that
    downloads it; None when none does."""
    for brain in _datasets(config):
        if archive in things_downloads(brain):
            return dict(brain["download"])
    return None
