"""Selective, safe and atomic extraction from the THINGS zip archives.

The workflow never unpacks a whole archive. ``betas_csv.zip`` (about 43 GB) is read
for the three files of each configured subject (:func:`extract_things_betas`);
``images_THINGS.zip`` (about 4.7 GB, ZipCrypto-encrypted with a published password)
only for the images of the selected stimuli (:func:`extract_stimulus_images`).

Rules that every extraction follows:

- members under ``__MACOSX/`` and AppleDouble ``._*`` files are ignored;
- a member whose path is absolute or climbs out with ``..`` is refused
  (:class:`ArchiveError`), never written;
- each file goes to a temporary name next to its destination and is renamed into
  place only after it was read to the end, so that :mod:`zipfile` has checked its
  CRC-32 and its size; a folder of images is built in a temporary folder and renamed
  as a whole. An interrupted or failed extraction leaves nothing that looks complete;
- every error names the archive, the member and the problem: a file that is not a zip
  (an HTML error page, a truncated download), a zip that is not the expected archive,
  a corrupt member, a wrong password.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
import zipfile
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath

from lrrsa.data.things_fmri import subject_label

__all__ = [
    "BETAS_FILES",
    "ArchiveError",
    "check_zip",
    "download_archive",
    "extract_member",
    "extract_stimulus_images",
    "extract_things_betas",
    "member_parts",
    "open_zip",
    "usable_members",
]

log = logging.getLogger(__name__)

#: The files of one subject in ``betas_csv.zip``, by kind (the workflow extracts the
#: small metadata files and the large response table in separate jobs).
BETAS_FILES = {
    "metadata": ("StimulusMetadata.csv", "VoxelMetadata.csv"),
    "response": ("ResponseData.h5",),
}
_PREVIEW = 5


class ArchiveError(ValueError):
    """An archive is missing, not a zip, not the expected archive, or damaged."""


def _preview(items: Iterable[object], n: int = _PREVIEW) -> str:
    items = list(items)
    shown = ", ".join(repr(x) for x in items[:n])
    return shown + (f", ... ({len(items)} in all)" if len(items) > n else "")


def _first_bytes(path: Path, n: int = 60) -> str:
    try:
        with open(path, "rb") as f:
            head = f.read(n)
    except OSError:
        return ""
    return head.decode("latin-1").encode("unicode_escape").decode("ascii")


def check_zip(path: Path | str, *, what: str = "zip archive") -> None:
    """Raise :class:`ArchiveError` unless ``path`` is a readable zip (its central directory).

    Cheap: only the end of the file is read. A truncated download or a web page saved
    in place of the archive fails here, with the file's first bytes in the message.
    """
    with open_zip(path, what=what):
        pass


def open_zip(path: Path | str, *, what: str = "zip archive") -> zipfile.ZipFile:
    """Open ``path`` as a zip; errors name the file and say what was expected."""
    path = Path(path)
    if not path.is_file():
        raise ArchiveError(f"{path}: {what} not found")
    try:
        return zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        size = path.stat().st_size
        raise ArchiveError(
            f"{path}: not a complete zip archive ({exc}; {size:,} bytes, starting {_first_bytes(path)!r}); "
            f"expected the {what}. A truncated download or a web page saved in its place looks like this: "
            f"delete the file and download it again, or check the URL"
        ) from None


def member_parts(name: str, *, archive: Path | str) -> tuple[str, ...]:
    """The path components of a member name; :class:`ArchiveError` if it leaves the target folder.

    Absolute names (``/etc/x``, ``C:/x``), backslash paths and ``..`` components are
    refused; empty and ``.`` components are dropped.
    """
    if "\\" in name or name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise ArchiveError(f"{archive}: member {name!r} has an absolute or non-portable path; refusing to extract it")
    parts = tuple(p for p in PurePosixPath(name).parts if p not in ("", "."))
    if ".." in parts:
        raise ArchiveError(f"{archive}: member {name!r} has a path that leaves the target folder; refusing to extract it")
    return parts


def _ignored(name: str) -> bool:
    parts = PurePosixPath(name).parts
    return "__MACOSX" in parts or (bool(parts) and parts[-1].startswith("._"))


def usable_members(zf: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    """The file members of an archive, without folders, ``__MACOSX/`` and ``._*`` files."""
    return [info for info in zf.infolist() if not info.is_dir() and not _ignored(info.filename)]


def extract_member(
    zf: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    dest: Path,
    *,
    archive: Path | str,
    pwd: bytes | None = None,
    chunk_size: int = 1 << 20,
) -> Path:
    """Copy one member to ``dest`` through a temporary file; verified by CRC-32 and size.

    The member's own path is checked (:func:`member_parts`) even though ``dest`` is
    chosen by the caller. ``dest`` appears only once the whole member was read.
    """
    member_parts(info.filename, archive=archive)
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.part")
    try:
        with zf.open(info, pwd=pwd) as src, open(tmp, "wb") as out:
            shutil.copyfileobj(src, out, chunk_size)
        written = tmp.stat().st_size
        if written != info.file_size:
            raise ArchiveError(f"{archive}: member {info.filename} gave {written} bytes, the archive says {info.file_size}")
        os.replace(tmp, dest)
    except RuntimeError as exc:  # zipfile: encrypted without password, or a bad password
        text = str(exc).lower()
        if "bad password" in text:
            raise ArchiveError(f"{archive}: wrong password for the encrypted member {info.filename} (check the configured password)") from None
        if "password required" in text:
            raise ArchiveError(f"{archive}: member {info.filename} is encrypted and no password was given") from None
        raise
    except NotImplementedError as exc:  # AES encryption or an exotic compression method
        raise ArchiveError(
            f"{archive}: member {info.filename} cannot be read by Python's zipfile ({exc}); unzip the archive "
            f"with another tool and point the workflow at the unzipped folder"
        ) from None
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        hint = " (or the password is wrong)" if info.flag_bits & 0x1 else ""
        raise ArchiveError(
            f"{archive}: member {info.filename} is corrupt ({exc}){hint}; the archive is damaged: "
            f"delete it and download it again"
        ) from None
    finally:
        tmp.unlink(missing_ok=True)
    return dest


# ------------------------------------------------------------------ THINGS-fMRI


def extract_things_betas(
    archive: Path | str,
    out_dir: Path | str,
    subject: str,
    kinds: Sequence[str] = ("metadata", "response"),
) -> list[Path]:
    """Extract one subject's files of ``betas_csv.zip`` into ``out_dir`` (flat, as in ``betas_csv/``).

    ``kinds``: ``metadata`` (StimulusMetadata.csv, VoxelMetadata.csv) and/or
    ``response`` (ResponseData.h5). Members are found by their file name
    (``sub-01_ResponseData.h5``), preferably inside a ``betas_csv`` folder; a name
    found twice outside it is an error. Returns the written paths.
    """
    archive = Path(archive)
    out_dir = Path(out_dir)
    sub = subject_label(subject)
    unknown = [k for k in kinds if k not in BETAS_FILES]
    if unknown or not kinds:
        raise ValueError(f"kinds must be some of {', '.join(BETAS_FILES)}; got {list(kinds)}")
    wanted = [f"{sub}_{name}" for kind in kinds for name in BETAS_FILES[kind]]
    with open_zip(archive, what="THINGS-fMRI betas_csv.zip") as zf:
        members = usable_members(zf)
        by_name: dict[str, list[zipfile.ZipInfo]] = {}
        for info in members:
            base = PurePosixPath(info.filename).name
            if base in wanted:
                by_name.setdefault(base, []).append(info)
        missing = [name for name in wanted if name not in by_name]
        if missing:
            subjects = sorted({PurePosixPath(i.filename).name.split("_", 1)[0] for i in members
                               if PurePosixPath(i.filename).name.startswith("sub-")})
            raise ArchiveError(
                f"{archive}: not the expected THINGS-fMRI archive: no member betas_csv/{', betas_csv/'.join(missing)} "
                f"(it holds {len(members)} file(s), e.g. {_preview([i.filename for i in members])}"
                + (f"; subjects {', '.join(subjects)}" if subjects else "") + ")"
            )
        chosen = []
        for name in wanted:
            infos = by_name[name]
            if len(infos) > 1:
                inside = [i for i in infos if PurePosixPath(i.filename).parent.name == "betas_csv"]
                if len(inside) != 1:
                    raise ArchiveError(f"{archive}: {name} is in the archive {len(infos)} times: {_preview([i.filename for i in infos])}")
                infos = inside
            chosen.append(infos[0])
        out = []
        for info in chosen:
            started = time.monotonic()
            dest = extract_member(zf, info, out_dir / PurePosixPath(info.filename).name, archive=archive)
            log.info("extracted %s (%.1f MB) from %s in %.1f s", dest, info.file_size / 1e6, archive, time.monotonic() - started)
            out.append(dest)
    return out


# ------------------------------------------------------------------------ images


def _image_index(members: Sequence[zipfile.ZipInfo]) -> tuple[dict[tuple[str, str], list[zipfile.ZipInfo]], dict[str, list[zipfile.ZipInfo]]]:
    """(concept, file) -> members under ``object_images/``, and file -> members anywhere."""
    by_key: dict[tuple[str, str], list[zipfile.ZipInfo]] = {}
    by_file: dict[str, list[zipfile.ZipInfo]] = {}
    for info in members:
        parts = PurePosixPath(info.filename).parts
        by_file.setdefault(parts[-1], []).append(info)
        if len(parts) >= 3 and parts[-3] == "object_images":
            by_key.setdefault((parts[-2], parts[-1]), []).append(info)
    return by_key, by_file


def extract_stimulus_images(
    archive: Path | str,
    stimulus_table: Path | str,
    out_dir: Path | str,
    *,
    password: str | None = None,
    log_interval: float = 10.0,
) -> list[Path]:
    """Extract the images of a stimulus table from ``images_THINGS.zip`` into ``out_dir``.

    Writes ``out_dir/object_images/<concept>/<stimulus>`` (the layout of
    :func:`lrrsa.data.stimuli.image_path`) for every row of the table, and nothing
    else. A stimulus is looked up as ``object_images/<concept>/<stimulus>`` (any
    leading folder), else by its file name alone when that is unique in the archive.
    Every missing image is named in one error (count and first few). The folder is
    assembled under a temporary name and renamed into place at the end. ``password``
    decrypts ZipCrypto members (the THINGS archive's password is published with it).
    """
    from lrrsa.data.stimuli import image_path, read_stimulus_table

    archive = Path(archive)
    out_dir = Path(out_dir)
    table = read_stimulus_table(stimulus_table)
    pwd = password.encode("utf-8") if password else None
    with open_zip(archive, what="THINGS images archive (images_THINGS.zip)") as zf:
        members = usable_members(zf)
        by_key, by_file = _image_index(members)
        if not by_key:
            raise ArchiveError(
                f"{archive}: not the expected THINGS images archive: no member object_images/<concept>/<image> "
                f"(it holds {len(members)} file(s), e.g. {_preview([i.filename for i in members])})"
            )
        chosen: list[tuple[zipfile.ZipInfo, Path]] = []
        missing, by_name_only = [], 0
        for stimulus, concept in zip(table["stimulus"], table["concept"]):
            infos = by_key.get((concept, stimulus))
            if not infos:
                infos = by_file.get(stimulus)
                if infos and len(infos) == 1:
                    by_name_only += 1
                else:
                    missing.append(f"object_images/{concept}/{stimulus}")
                    continue
            if len(infos) > 1:
                raise ArchiveError(f"{archive}: image {stimulus} is in the archive {len(infos)} times: {_preview([i.filename for i in infos])}")
            chosen.append((infos[0], image_path(Path("."), stimulus, concept)))
        if missing:
            raise ArchiveError(
                f"{archive}: {len(missing)} of {len(table)} selected stimuli (from {stimulus_table}) have no image "
                f"in the archive: {_preview(missing)}"
            )
        if by_name_only:
            log.warning("%d image(s) found by file name outside object_images/<concept>/", by_name_only)

        tmp = out_dir.with_name(f".{out_dir.name}.{os.getpid()}.part")
        shutil.rmtree(tmp, ignore_errors=True)
        started = last = time.monotonic()
        nbytes = 0
        try:
            for k, (info, rel) in enumerate(chosen, start=1):
                extract_member(zf, info, tmp / rel, archive=archive, pwd=pwd)
                nbytes += info.file_size
                now = time.monotonic()
                if now - last >= log_interval:
                    log.info("%d of %d images (%.1f MB, %.2f MB/s)", k, len(chosen), nbytes / 1e6,
                             nbytes / 1e6 / max(now - started, 1e-9))
                    last = now
            if out_dir.exists():
                shutil.rmtree(out_dir)
            out_dir.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, out_dir)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    log.info("extracted %d images (%.1f MB) from %s into %s in %.1f s", len(chosen), nbytes / 1e6, archive, out_dir,
             time.monotonic() - started)
    return [out_dir / rel for _, rel in chosen]


# --------------------------------------------------------------------- download


def download_archive(
    url: str,
    dest: Path | str,
    *,
    md5: str | None = None,
    size: int | None = None,
    what: str = "zip archive",
    **download_options,
) -> Path:
    """Download a zip (resuming, retrying, verifying: :func:`lrrsa.data.download.download`),
    then check that it is a zip at all.

    A file that verifies but is not a zip (a login or error page served with status
    200, when no md5 or size is configured) is deleted and reported with its first
    bytes, so that the next run downloads again once the URL is fixed.
    """
    from lrrsa.data.download import download

    dest = Path(dest)
    download(url, dest, md5=md5, size=size, **download_options)
    try:
        check_zip(dest, what=what)
    except ArchiveError as exc:
        dest.unlink(missing_ok=True)
        raise ArchiveError(f"{exc} (downloaded from {url}; deleted)") from None
    return dest
