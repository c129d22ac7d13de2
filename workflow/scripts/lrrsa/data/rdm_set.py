"""Brain RDMs a user already has (dataset type ``rdm_set``): read, validate, feed the workflow.

An RDM set is one file, ``.npz`` (``numpy.savez``) or ``.h5``/``.hdf5`` (HDF5, e.g.
written with h5py), with these arrays at its top level:

``stimuli`` (required)
    ``n`` unique stimulus ids, text: the file names of the images (``dog_01b.jpg``,
    ``image_07.png``), without folders. Row ``i`` of every RDM is stimulus ``i``.
one array per ROI (any other name, e.g. ``EVC``, ``IT``)
    float, shape ``(subjects, n, n)``; a 2-D ``(n, n)`` array is one subject. Each
    ``[s]`` is a dissimilarity matrix: square, finite, symmetric and with a zero
    diagonal (both within ``1e-6`` of the largest absolute value; the matrix is then
    made exactly symmetric with an exact zero diagonal). A similarity matrix (diagonal
    1) is refused: convert it first (e.g. ``1 - r``).
``subjects`` (optional)
    text labels ``sub-01``, ``sub-02``, ... of the first axis, the same for every ROI
    array; without it subject ``s`` (0-based) is ``sub-{s+1:02d}``.
``concepts`` (optional)
    ``n`` text labels, the sub-folder of each image in the THINGS layout; without it
    the concept of ``dog_01b.jpg`` is ``dog`` (the part before the last underscore of
    the file's stem, or the whole stem).

The images of the stimuli lie in a folder, either flat (``<images_dir>/<id>``) or in the
THINGS layout (``<images_dir>/object_images/<concept>/<id>``).

:func:`prepare_rdm_set` validates the whole set against the configuration, writes the
stimulus table and links (or copies) the images into the THINGS layout the rest of the
workflow reads; :func:`write_rdms_from_set` writes one subject's RDM of each ROI in the
stimulus table's order. The group RDM is then the subjects' mean, as for THINGS-fMRI.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from lrrsa.data.stimuli import building_folder, image_path, read_stimulus_list, read_stimulus_table, write_stimulus_table

__all__ = [
    "RESERVED_NAMES",
    "RdmSet",
    "RdmSetError",
    "find_images",
    "prepare_rdm_set",
    "read_rdm_set",
    "read_subject_rdm",
    "read_subjects",
    "validate_rdm",
    "write_rdms_from_set",
]

log = logging.getLogger(__name__)

RESERVED_NAMES = ("stimuli", "subjects", "concepts")
SUFFIXES = (".npz", ".h5", ".hdf5")
RULES = ("all", "list")
_TOLERANCE = 1e-6
_SUBJECT = re.compile(r"^sub-[0-9]+$")
_PREVIEW = 5


class RdmSetError(ValueError):
    """An RDM set does not have the documented format or does not fit the configuration."""


def _preview(items: Sequence[object], n: int = _PREVIEW) -> str:
    items = list(items)
    shown = ", ".join(repr(x) for x in items[:n])
    return shown + (f", ... ({len(items)} in all)" if len(items) > n else "")


@dataclass(frozen=True)
class RdmSet:
    """What an RDM set file holds (the matrices themselves are read on demand)."""

    path: Path
    stimuli: tuple[str, ...]
    concepts: tuple[str, ...]
    subjects: tuple[str, ...]
    shapes: Mapping[str, tuple[int, ...]]  # ROI array name -> shape


# ------------------------------------------------------------------ file access


@contextmanager
def _arrays(path: Path) -> Iterator[dict]:
    """A name -> lazily read array mapping over an .npz or HDF5 file."""
    if not path.is_file():
        raise RdmSetError(f"{path}: RDM set not found")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        try:
            npz = np.load(path, allow_pickle=False)
        except Exception as exc:
            raise RdmSetError(f"{path}: cannot be read as an .npz file ({exc})") from None
        with npz:
            yield {name: _NpzArray(npz, name, path) for name in npz.files}
    elif suffix in (".h5", ".hdf5"):
        import h5py

        try:
            h5 = h5py.File(path, "r")
        except Exception as exc:
            raise RdmSetError(f"{path}: cannot be read as an HDF5 file ({exc})") from None
        with h5:
            yield {name: _H5Array(h5[name], path) for name in h5 if isinstance(h5[name], h5py.Dataset)}
    else:
        raise RdmSetError(f"{path}: an RDM set must be an .npz or .h5 file, not {suffix or 'a file without suffix'}")


class _NpzArray:
    def __init__(self, npz, name: str, path: Path) -> None:
        self.npz, self.name, self.path = npz, name, path
        fmt = np.lib.format
        with self.npz.zip.open(f"{name}.npy") as f:  # the header only, not the data
            version = fmt.read_magic(f)
            if version == (1, 0):
                shape, _, dtype = fmt.read_array_header_1_0(f)
            elif version == (2, 0):
                shape, _, dtype = fmt.read_array_header_2_0(f)
            else:  # a rare newer header: read the array to learn its shape
                array = self.read()
                shape, dtype = array.shape, array.dtype
        self.shape, self.dtype = tuple(shape), np.dtype(dtype)

    def read(self, index=None) -> np.ndarray:
        try:
            data = self.npz[self.name]
        except ValueError as exc:  # object arrays need pickle, which is refused
            raise RdmSetError(f"{self.path}: array {self.name!r} cannot be read without pickle ({exc}); store text as a numpy string array") from None
        return data if index is None else data[index]


class _H5Array:
    def __init__(self, ds, path: Path) -> None:
        self.ds, self.path, self.name = ds, path, ds.name.lstrip("/")
        self.shape, self.dtype = tuple(ds.shape), ds.dtype

    def read(self, index=None) -> np.ndarray:
        import h5py

        if h5py.check_string_dtype(self.ds.dtype) is not None:
            return self.ds.asstr()[()] if index is None else self.ds.asstr()[index]
        return self.ds[()] if index is None else self.ds[index]


def _text(array, what: str, path: Path) -> list[str]:
    values = array.read()
    if values.ndim != 1:
        raise RdmSetError(f"{path}: {what} must be a 1-D array of text, not shape {values.shape}")
    if values.dtype.kind == "S":
        values = np.char.decode(values, "utf-8")
    if values.dtype.kind not in "UO":
        raise RdmSetError(f"{path}: {what} must hold text, not {values.dtype}")
    return [str(v).strip() for v in values.tolist()]


def _concept_of(stimulus: str) -> str:
    stem = stimulus.rsplit(".", 1)[0] if "." in stimulus else stimulus
    return stem.rsplit("_", 1)[0] if "_" in stem and stem.rsplit("_", 1)[0] else stem


def read_rdm_set(path: Path | str) -> RdmSet:
    """Read and check the index of an RDM set: ids, concepts, subjects and the ROI arrays' shapes.

    Errors (naming the file): no ``stimuli``; ids empty, duplicated or with folders;
    ``concepts`` of the wrong length; subject labels not ``sub-NN`` or of the wrong
    length; an ROI array that is not ``(subjects, n, n)`` (or ``(n, n)``), not numeric,
    or whose subject count differs from the other arrays'.
    """
    path = Path(path)
    with _arrays(path) as arrays:
        if "stimuli" not in arrays:
            raise RdmSetError(f"{path}: no 'stimuli' array (the stimulus ids of the RDM rows); it has {_preview(sorted(arrays))}")
        stimuli = _text(arrays["stimuli"], "'stimuli'", path)
        n = len(stimuli)
        if n < 3:
            raise RdmSetError(f"{path}: {n} stimuli; RSA needs at least 3")
        empty = [i for i, s in enumerate(stimuli) if not s]
        if empty:
            raise RdmSetError(f"{path}: {len(empty)} empty stimulus id(s), at position(s) {_preview(empty)}")
        dup = pd.Series(stimuli)[pd.Series(stimuli).duplicated()].unique().tolist()
        if dup:
            raise RdmSetError(f"{path}: duplicate stimulus ids {_preview(sorted(dup))}")
        foldered = [s for s in stimuli if "/" in s or "\\" in s or s in (".", "..")]
        if foldered:
            raise RdmSetError(f"{path}: stimulus ids must be image file names without folders; got {_preview(foldered)}")
        if "concepts" in arrays:
            concepts = _text(arrays["concepts"], "'concepts'", path)
            if len(concepts) != n:
                raise RdmSetError(f"{path}: {len(concepts)} concepts for {n} stimuli")
            bad = [c for c in concepts if not c or "/" in c or "\\" in c or c in (".", "..")]
            if bad:
                raise RdmSetError(f"{path}: concepts must be plain folder names; got {_preview(bad)}")
        else:
            concepts = [_concept_of(s) for s in stimuli]
        shapes = {name: a.shape for name, a in arrays.items() if name not in RESERVED_NAMES}
        if not shapes:
            raise RdmSetError(f"{path}: no RDM array besides {', '.join(RESERVED_NAMES)}")
        for name, shape in shapes.items():
            dtype = arrays[name].dtype
            if dtype.kind not in "fiu":
                raise RdmSetError(f"{path}: RDM array {name!r} must be numeric, not {dtype}")
            if len(shape) not in (2, 3) or shape[-2:] != (n, n):
                raise RdmSetError(
                    f"{path}: RDM array {name!r} has shape {shape}; expected (subjects, {n}, {n}) for {n} stimuli "
                    f"(RDMs must be square, one row and column per stimulus)"
                )
        subjects = _subject_labels(arrays, shapes, path)
    return RdmSet(path=path, stimuli=tuple(stimuli), concepts=tuple(concepts), subjects=tuple(subjects), shapes=shapes)


def _subject_labels(arrays: Mapping, shapes: Mapping[str, tuple[int, ...]], path: Path) -> list[str]:
    """The labels of the subjects (first axis) of the RDM arrays with these ``shapes``:
    the ``subjects`` array, checked against the arrays, else ``sub-01``, ... by position."""
    counts = {name: (shape[0] if len(shape) == 3 else 1) for name, shape in shapes.items()}
    if "subjects" in arrays:
        subjects = _text(arrays["subjects"], "'subjects'", path)
        bad = [s for s in subjects if not _SUBJECT.match(s)]
        if bad:
            raise RdmSetError(f"{path}: subject labels must look like sub-01; got {_preview(bad)}")
        if len(set(subjects)) != len(subjects):
            raise RdmSetError(f"{path}: duplicate subject labels {_preview(subjects)}")
        wrong = {name: c for name, c in counts.items() if c != len(subjects)}
        if wrong:
            raise RdmSetError(f"{path}: {len(subjects)} subject labels, but RDM array(s) hold {_preview([f'{k}: {v}' for k, v in wrong.items()])} subjects")
        return subjects
    if len(set(counts.values())) > 1:
        raise RdmSetError(f"{path}: the RDM arrays hold different numbers of subjects: {counts}")
    return [f"sub-{s + 1:02d}" for s in range(next(iter(counts.values())))]


def read_subjects(path: Path | str) -> tuple[str, ...]:
    """The subjects of an RDM set, read with as little I/O as the workflow can afford when it
    loads its config: the ``subjects`` array if the file has one, else ``sub-01``, ... by
    position along the first axis of the ROI arrays, whose shapes come from their headers
    (.npz) or metadata (HDF5); no RDM is read. The same errors as :func:`read_rdm_set` for
    the subject labels, and for a file without a 2-D or 3-D array besides the reserved ones.
    """
    path = Path(path)
    with _arrays(path) as arrays:
        shapes = {name: a.shape for name, a in arrays.items() if name not in RESERVED_NAMES and len(a.shape) in (2, 3)}
        if not shapes:
            raise RdmSetError(f"{path}: no RDM array (subjects, n, n) besides {', '.join(RESERVED_NAMES)}; "
                              f"it has {_preview(sorted(arrays))}")
        return tuple(_subject_labels(arrays, shapes, path))


def validate_rdm(matrix: np.ndarray, *, where: str, tolerance: float = _TOLERANCE) -> np.ndarray:
    """Check one dissimilarity matrix and return it exactly symmetric with a zero diagonal (float64).

    Errors name ``where``: not square, not finite (NaN/inf, counted), not symmetric or a
    non-zero diagonal beyond ``tolerance`` times the largest absolute value (the worst
    entry is given), all off-diagonal values equal (RSA is undefined).
    """
    m = np.asarray(matrix, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise RdmSetError(f"{where}: an RDM must be a square matrix; got shape {m.shape}")
    n = m.shape[0]
    bad = ~np.isfinite(m)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise RdmSetError(f"{where}: {int(bad.sum())} NaN or infinite value(s), first at [{i}, {j}]")
    scale = float(np.abs(m).max()) or 1.0
    tol = tolerance * scale
    asym = np.abs(m - m.T)
    if asym.max() > tol:
        i, j = np.unravel_index(int(np.argmax(asym)), asym.shape)
        raise RdmSetError(
            f"{where}: not symmetric: [{i}, {j}] = {m[i, j]:.6g} but [{j}, {i}] = {m[j, i]:.6g} "
            f"({int((asym > tol).sum()) // 2} pair(s) differ by more than {tol:.3g})"
        )
    diag = np.abs(np.diag(m))
    if diag.max() > tol:
        i = int(np.argmax(diag))
        hint = " (a similarity matrix? convert it to dissimilarities, e.g. 1 - r)" if np.allclose(np.diag(m), 1.0) else ""
        raise RdmSetError(f"{where}: the diagonal must be 0; [{i}, {i}] = {m[i, i]:.6g}{hint}")
    off = m[~np.eye(n, dtype=bool)]
    if np.ptp(off) == 0:
        raise RdmSetError(f"{where}: all off-diagonal values are equal ({off[0]:.6g}); RSA is undefined")
    if (off < 0).any():
        log.warning("%s: %d negative dissimilarities", where, int((off < 0).sum()) // 2)
    out = (m + m.T) / 2.0
    np.fill_diagonal(out, 0.0)
    return out


def read_subject_rdm(rdm_set: RdmSet, roi_array: str, subject: str) -> np.ndarray:
    """One subject's validated RDM of one ROI array, rows in the file's ``stimuli`` order."""
    if roi_array not in rdm_set.shapes:
        raise RdmSetError(f"{rdm_set.path}: no RDM array {roi_array!r}; it has {_preview(sorted(rdm_set.shapes))}")
    if subject not in rdm_set.subjects:
        raise RdmSetError(f"{rdm_set.path}: no subject {subject}; it has {', '.join(rdm_set.subjects)}")
    s = rdm_set.subjects.index(subject)
    with _arrays(rdm_set.path) as arrays:
        array = arrays[roi_array]
        matrix = array.read() if len(array.shape) == 2 else array.read(s)
    return validate_rdm(matrix, where=f"{rdm_set.path}: {roi_array}, {subject}")


# ---------------------------------------------------------------------- images


def find_images(images_dir: Path | str, stimuli: Sequence[str], concepts: Sequence[str]) -> list[Path]:
    """Each stimulus's image: ``images_dir/<id>``, else ``images_dir/object_images/<concept>/<id>``.

    Error naming the folder, the count and the first few ids without an image.
    """
    images_dir = Path(images_dir)
    if not images_dir.is_dir():
        raise FileNotFoundError(f"{images_dir}: images folder not found")
    paths, missing = [], []
    for stimulus, concept in zip(stimuli, concepts):
        flat = images_dir / stimulus
        things = image_path(images_dir, stimulus, concept)
        if flat.is_file():
            paths.append(flat)
        elif things.is_file():
            paths.append(things)
        else:
            missing.append(stimulus)
    if missing:
        raise FileNotFoundError(
            f"{images_dir}: {len(missing)} of {len(stimuli)} stimulus ids have no image (looked for <id> and "
            f"object_images/<concept>/<id>): {_preview(missing)}"
        )
    return paths


def _link_or_copy(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dest)
    except OSError:  # another file system, or links not allowed
        shutil.copyfile(src, dest)


# -------------------------------------------------------------------- workflow


def prepare_rdm_set(
    rdm_file: Path | str,
    images_dir: Path | str,
    out_table: Path | str,
    out_images: Path | str,
    *,
    rois: Mapping[str, Sequence[str]],
    subjects: Sequence[str],
    rule: str = "all",
    list_file: Path | str | None = None,
) -> pd.DataFrame:
    """The ``rdm_set`` counterpart of stimulus selection; validates the set before anything runs.

    ``rois``: workflow ROI -> ``[array name]`` (exactly one array per ROI). Checks the
    file (:func:`read_rdm_set`), that every ROI array and every configured subject is
    there, every configured subject's RDM of every ROI (:func:`validate_rdm`), and that
    every selected id has an image. ``rule``: ``all`` (every stimulus of the set) or
    ``list`` (the ids in ``list_file``). Writes the stimulus table (sorted by id) and the
    images in the THINGS layout under ``out_images`` (hard links, else copies; built
    under a temporary name, then renamed). Returns the table.
    """
    rdm_set = read_rdm_set(rdm_file)
    path = rdm_set.path
    if rule not in RULES:
        raise RdmSetError(
            f"stimulus rule {rule!r} needs trial metadata, which an RDM set does not have; use one of {', '.join(RULES)}"
        )
    arrays = {}
    for roi, items in rois.items():
        items = [items] if isinstance(items, str) else list(items)
        if len(items) != 1:
            raise RdmSetError(f"ROI {roi}: an RDM set ROI names exactly one array of {path}, got {items}")
        arrays[roi] = items[0]
    missing = sorted({a for a in arrays.values() if a not in rdm_set.shapes})
    if missing:
        raise RdmSetError(f"{path}: no RDM array(s) {_preview(missing)}; it has {_preview(sorted(rdm_set.shapes))}")
    absent = [s for s in subjects if s not in rdm_set.subjects]
    if absent:
        raise RdmSetError(
            f"{path}: configured subject(s) {', '.join(absent)} not in the set, which holds {', '.join(rdm_set.subjects)} "
            f"(set brain_data.subjects)"
        )
    for roi, array in arrays.items():
        for subject in subjects:
            read_subject_rdm(rdm_set, array, subject)

    table = pd.DataFrame({"stimulus": rdm_set.stimuli, "concept": rdm_set.concepts})
    if rule == "list":
        if list_file is None:
            raise RdmSetError("rule 'list' needs a stimulus list file")
        names = read_stimulus_list(list_file)
        unknown = [s for s in names if s not in set(rdm_set.stimuli)]
        if unknown:
            raise RdmSetError(f"{list_file}: {len(unknown)} stimulus id(s) not in {path}: {_preview(unknown)}")
        table = table[table["stimulus"].isin(names)]
        if len(table) < 3:
            raise RdmSetError(f"{list_file}: {len(table)} stimuli selected; RSA needs at least 3")
    table = table.sort_values("stimulus", kind="stable").reset_index(drop=True)
    sources = find_images(images_dir, table["stimulus"].tolist(), table["concept"].tolist())

    with building_folder(out_images) as tmp:
        for src, stimulus, concept in zip(sources, table["stimulus"], table["concept"]):
            _link_or_copy(src, image_path(tmp, stimulus, concept))
    write_stimulus_table(out_table, table)
    log.info("%s: %d stimuli, ROIs %s, subjects %s -> %s, %s", path, len(table),
             ", ".join(f"{r}={a}" for r, a in arrays.items()), ", ".join(subjects), out_table, out_images)
    return table


def write_rdms_from_set(
    rdm_file: Path | str, roi_arrays: Sequence[str], subject: str, stimulus_table: Path | str, outs: Sequence[Path | str],
) -> None:
    """One subject's RDM of each ROI array (``outs[i]`` for ``roi_arrays[i]``), in the
    stimulus table's order, as workflow RDM files. Raises :class:`RdmSetError` naming the
    file and the stimuli the set lacks."""
    from lrrsa.rdm_io import save_rdm

    if len(roi_arrays) != len(outs):
        raise ValueError(f"{len(roi_arrays)} ROI arrays but {len(outs)} output files")
    rdm_set = read_rdm_set(rdm_file)
    stimuli = read_stimulus_table(stimulus_table)["stimulus"].tolist()
    position = {s: i for i, s in enumerate(rdm_set.stimuli)}
    unknown = [s for s in stimuli if s not in position]
    if unknown:
        raise RdmSetError(f"{stimulus_table}: {len(unknown)} stimuli not in {rdm_set.path}: {_preview(unknown)}")
    order = np.array([position[s] for s in stimuli])
    for roi_array, out in zip(roi_arrays, outs):
        matrix = read_subject_rdm(rdm_set, roi_array, subject)[np.ix_(order, order)]
        save_rdm(out, matrix, stimuli)
        log.info("%s: %s of %s, %d stimuli -> %s", rdm_set.path, roi_array, subject, len(stimuli), out)
