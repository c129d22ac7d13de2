"""Stimulus sets in Brain-Score's brainio format: a CSV and a flat zip (or folder) of images.

The CSV (``stimulus_<identifier>.csv``) has one row per stimulus: ``stimulus_id`` (old
files: ``image_id``), ``filename`` (old files: ``image_file_name``) and any other
columns (category, object, ...). The images are in a flat zip
(``stimulus_<identifier>.zip``) or a folder; a stimulus's image is found through its
``filename``, never from its id (MajajHong2015's file names are not its ids).

Safety: a file name must be a plain name (no folder part, not absolute, not ``.`` or
``..``, no backslash or NUL); a zip member is read only when it is a file whose name
is exactly that name, once in the archive; a folder image must resolve (symlinks
followed) to a file inside the folder. Every error names the CSV or the archive.
"""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

__all__ = [
    "StimulusSet",
    "check_stimulus_files",
    "extract_stimuli",
    "open_stimulus_image",
    "read_stimulus_bytes",
    "read_stimulus_set",
    "stimulus_filenames",
]

_ID_COLUMNS = ("stimulus_id", "image_id")
_FILE_COLUMNS = ("filename", "image_file_name")
_PREVIEW = 5


def _preview(items: Sequence[object], n: int = _PREVIEW) -> str:
    items = list(items)
    shown = ", ".join(repr(x) for x in items[:n])
    return shown + (f", ... ({len(items)} in all)" if len(items) > n else "")


def _is_plain_name(name: str) -> bool:
    """A file name without any folder part: safe to join to a folder or look up in a zip."""
    return bool(name) and name not in (".", "..") and not any(c in name for c in "/\\\0") and not (len(name) > 1 and name[1] == ":")


@dataclass(frozen=True, eq=False)
class StimulusSet:
    """A stimulus set: ``table`` has one row per stimulus in CSV order, with
    ``stimulus_id`` and ``filename`` as text plus the CSV's other columns; ``images``
    is a zip file or a folder."""

    csv: Path
    images: Path
    table: pd.DataFrame

    @property
    def is_zip(self) -> bool:
        return self.images.is_file()


def _first(columns: Sequence[str], names: Sequence[str]) -> str | None:
    return next((n for n in names if n in columns), None)


def read_stimulus_set(csv_path: Path | str, images: Path | str | None = None) -> StimulusSet:
    """Read and check a stimulus set's CSV; ``images``: its zip or folder (default: the
    zip of the same name beside the CSV if there is one, else the CSV's folder).

    Ids and file names are read verbatim (``NA`` stays text). Errors, naming the CSV
    or the images: files missing, no id or filename column, empty or duplicated ids,
    unsafe file names (a folder part, absolute, ``..``).
    """
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise FileNotFoundError(f"{csv_path}: stimulus set CSV not found")
    if images is None:
        images = csv_path.with_suffix(".zip") if csv_path.with_suffix(".zip").is_file() else csv_path.parent
    images = Path(images)
    if not images.exists():
        raise FileNotFoundError(f"{images}: images of stimulus set {csv_path} not found (a zip file or a folder)")
    header = list(pd.read_csv(csv_path, nrows=0).columns)
    id_col, file_col = _first(header, _ID_COLUMNS), _first(header, _FILE_COLUMNS)
    if id_col is None or file_col is None:
        raise ValueError(f"{csv_path}: a stimulus set CSV needs columns stimulus_id and filename; found {_preview(header, 20)}")
    text = pd.read_csv(csv_path, usecols=[id_col, file_col], dtype=str, keep_default_na=False, na_filter=False)
    table = pd.read_csv(csv_path)
    table["stimulus_id"] = text[id_col].str.strip()
    table["filename"] = text[file_col].str.strip()
    ids = table["stimulus_id"]
    if (ids == "").any():
        raise ValueError(f"{csv_path}: {int((ids == '').sum())} empty stimulus id(s) (lines {_preview(list(ids.index[ids == ''] + 2))})")
    if ids.duplicated().any():
        raise ValueError(f"{csv_path}: stimulus_id is not unique: {_preview(sorted(set(ids[ids.duplicated()])))}")
    unsafe = [name for name in table["filename"] if not _is_plain_name(name)]
    if unsafe:
        raise ValueError(f"{csv_path}: file name(s) with a folder part, an absolute path or '..' (a stimulus set is flat): {_preview(unsafe)}")
    first = ["stimulus_id", "filename"]
    return StimulusSet(csv_path, images, table[first + [c for c in table.columns if c not in first]])


def stimulus_filenames(stimulus_set: StimulusSet, stimulus_ids: Sequence[str]) -> list[str]:
    """The file name of each stimulus id, in order; error naming the CSV and every id not in it."""
    lookup = pd.Series(stimulus_set.table["filename"].to_numpy(), index=stimulus_set.table["stimulus_id"].to_numpy())
    ids = [str(s) for s in stimulus_ids]
    missing = [s for s in ids if s not in lookup.index]
    if missing:
        raise ValueError(f"{stimulus_set.csv}: {len(missing)} stimulus id(s) not in the stimulus set: {_preview(missing)}")
    return [str(lookup[s]) for s in ids]


def _zip_index(zf: zipfile.ZipFile) -> dict[str, list[zipfile.ZipInfo]]:
    index: dict[str, list[zipfile.ZipInfo]] = {}
    for info in zf.infolist():
        index.setdefault(info.filename, []).append(info)
    return index


def _zip_member(index: dict[str, list[zipfile.ZipInfo]], name: str, archive: Path) -> zipfile.ZipInfo:
    matches = index.get(name, []) or index.get(name + "/", [])  # zips mark folders with a trailing '/'
    if not matches:
        raise FileNotFoundError(f"{archive}: no member {name!r} (the stimulus set's zip is flat: members are plain file names)")
    if len(matches) > 1:
        raise ValueError(f"{archive}: member {name!r} occurs {len(matches)} times; refusing an ambiguous archive")
    if matches[0].is_dir():
        raise ValueError(f"{archive}: member {name!r} is a folder, not an image")
    return matches[0]


def _folder_file(folder: Path, name: str) -> Path:
    path = folder / name
    resolved, root = path.resolve(), folder.resolve()
    if not resolved.is_relative_to(root):
        raise ValueError(f"{path}: resolves to {resolved}, outside the stimulus folder {folder}; refusing it")
    if not resolved.is_file():
        raise FileNotFoundError(f"{path}: stimulus image not found" + (" (it is a folder)" if resolved.is_dir() else ""))
    return resolved


def _read_many(stimulus_set: StimulusSet, stimulus_ids: Sequence[str]):
    """(stimulus id, file name, bytes) for each id, the zip opened once."""
    names = stimulus_filenames(stimulus_set, stimulus_ids)
    if stimulus_set.is_zip:
        try:
            zf = zipfile.ZipFile(stimulus_set.images)
        except zipfile.BadZipFile as exc:
            raise ValueError(f"{stimulus_set.images}: not a zip archive ({exc})") from None
        with zf:
            index = _zip_index(zf)
            for sid, name in zip(stimulus_ids, names):
                try:
                    yield sid, name, zf.read(_zip_member(index, name, stimulus_set.images))
                except zipfile.BadZipFile as exc:
                    raise ValueError(f"{stimulus_set.images}: member {name!r} is corrupt ({exc})") from None
    else:
        for sid, name in zip(stimulus_ids, names):
            yield sid, name, _folder_file(stimulus_set.images, name).read_bytes()


def read_stimulus_bytes(stimulus_set: StimulusSet, stimulus_id: str) -> bytes:
    """The image file of one stimulus, as bytes (the zip member or the folder's file)."""
    return next(_read_many(stimulus_set, [stimulus_id]))[2]


def open_stimulus_image(stimulus_set: StimulusSet, stimulus_id: str):
    """The image of one stimulus as a loaded PIL image (mode as stored). Error naming the
    file when it is not an image."""
    from PIL import Image, UnidentifiedImageError

    data = read_stimulus_bytes(stimulus_set, stimulus_id)
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"{stimulus_set.images}: image of stimulus {stimulus_id!r} cannot be decoded ({exc})") from None
    return image


def check_stimulus_files(stimulus_set: StimulusSet, stimulus_ids: Sequence[str] | None = None) -> None:
    """Check that every listed stimulus (default: all) has its image, without reading the
    images; one error naming the archive or folder and all the missing file names."""
    ids = list(stimulus_set.table["stimulus_id"]) if stimulus_ids is None else [str(s) for s in stimulus_ids]
    names = stimulus_filenames(stimulus_set, ids)
    if stimulus_set.is_zip:
        with zipfile.ZipFile(stimulus_set.images) as zf:
            files = {info.filename for info in zf.infolist() if not info.is_dir()}
    else:
        files = {p.name for p in stimulus_set.images.iterdir() if p.is_file()}
    missing = [n for n in names if n not in files]
    if missing:
        raise FileNotFoundError(f"{stimulus_set.images}: {len(missing)} image(s) of {stimulus_set.csv} missing: {_preview(missing)}")


def extract_stimuli(stimulus_set: StimulusSet, stimulus_ids: Sequence[str], dest: Path | str) -> list[Path]:
    """Write the images of ``stimulus_ids`` into the folder ``dest`` under their file
    names (each through a temporary file, then renamed); their paths, in order."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for _, name, data in _read_many(stimulus_set, [str(s) for s in stimulus_ids]):
        path = dest / name
        tmp = dest / f".{name}.{os.getpid()}.part"
        try:
            tmp.write_bytes(data)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        out.append(path)
    return out
