"""Stimulus selection: the one table that fixes the stimulus order for the whole workflow.

A stimulus table has two text columns, ``stimulus`` (the THINGS image file name, e.g.
``acorn_01b.jpg``) and ``concept`` (its THINGS concept, e.g. ``acorn``), one row per
stimulus, sorted by ``stimulus``. Model activations, brain patterns and RDMs all use
its row order. It is written once as TSV (:func:`write_stimulus_table`) and read back
everywhere else (:func:`read_stimulus_table`).

Rules (:func:`select_stimuli`), applied to a subject's StimulusMetadata:

``first_exemplar``
    The paper's 720: for each concept, the alphabetically first *train* stimulus
    (exemplar 01, e.g. ``acorn_01b.jpg``). Each is one single trial.
``test``
    The distinct test-trial images (THINGS-fMRI: 100 images, 12 trials each).
``list``
    The stimuli named in a text file, one per line (blank lines, ``#`` comments and a
    ``stimulus`` header line are skipped).
``all``
    Every distinct stimulus of the metadata, train and test.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

log = logging.getLogger(__name__)

__all__ = [
    "building_folder",
    "RULES",
    "TABLE_COLUMNS",
    "check_images",
    "concepts_of",
    "image_path",
    "read_stimulus_list",
    "read_stimulus_table",
    "select_stimuli",
    "write_selected_stimuli",
    "write_stimulus_table",
]

RULES = ("first_exemplar", "test", "list", "all")
TABLE_COLUMNS = ("stimulus", "concept")
_PREVIEW = 5


def _preview(items: Sequence[object], n: int = _PREVIEW) -> str:
    items = list(items)
    shown = ", ".join(repr(x) for x in items[:n])
    return shown + (f", ... ({len(items)} in all)" if len(items) > n else "")


def concepts_of(metadata: pd.DataFrame) -> pd.Series:
    """The concept of every row: the ``concept`` column, else ``stimulus.rsplit('_', 1)[0]``.

    Concept names can contain digits and hyphens (``stove1``, ``t-shirt``), so they are
    never parsed out of the stimulus name by a pattern; the fallback (no column, or an
    empty/missing cell) only drops the exemplar suffix after the last underscore.
    """
    stimulus = metadata["stimulus"].astype(str)
    derived = stimulus.map(lambda s: s.rsplit("_", 1)[0])
    if "concept" not in metadata.columns:
        return derived.rename("concept")
    concept = metadata["concept"]
    missing = concept.isna() | (concept.astype(str).str.strip() == "")
    return concept.astype(str).str.strip().where(~missing, derived).rename("concept")


def _stimulus_concept_table(metadata: pd.DataFrame, rows: pd.Series | None = None) -> pd.DataFrame:
    if "stimulus" not in metadata.columns:
        raise ValueError("stimulus metadata has no 'stimulus' column")
    table = pd.DataFrame({"stimulus": metadata["stimulus"].astype(str).str.strip(), "concept": concepts_of(metadata)})
    if rows is not None:
        table = table[rows.to_numpy()]
    table = table.drop_duplicates()
    clash = table["stimulus"].duplicated(keep=False)
    if clash.any():
        raise ValueError(f"stimuli with more than one concept in the metadata: {_preview(sorted(set(table['stimulus'][clash])))}")
    return table.sort_values("stimulus", kind="stable").reset_index(drop=True)


def read_stimulus_list(list_file: Path | str) -> list[str]:
    """Stimulus names from a one-column text file, in file order, without duplicates.

    Blank lines, lines starting with ``#`` and a first line ``stimulus`` (a header)
    are skipped; surrounding whitespace is dropped. Error if no name is left.
    """
    list_file = Path(list_file)
    names: list[str] = []
    for i, line in enumerate(list_file.read_text(encoding="utf-8").splitlines()):
        name = line.strip()
        if not name or name.startswith("#") or (not names and name == "stimulus"):
            continue
        if "\t" in name or "," in name:
            raise ValueError(f"{list_file}: line {i + 1} has more than one column: {name!r}")
        names.append(name)
    if not names:
        raise ValueError(f"{list_file}: no stimulus names")
    return list(dict.fromkeys(names))


def select_stimuli(metadata: pd.DataFrame, rule: str, *, list_file: Path | str | None = None) -> pd.DataFrame:
    """The stimulus table (``stimulus, concept``, sorted by stimulus) chosen by ``rule``.

    ``metadata`` is a subject's StimulusMetadata (one row per trial; see
    :func:`lrrsa.data.things_fmri.read_stimulus_metadata`). Rules: ``first_exemplar``
    (per concept the alphabetically first train stimulus: the paper's 720),
    ``test`` (the distinct test images), ``list`` (the names in ``list_file``; an
    error names the file and every unknown name, first few + count), ``all`` (every
    distinct stimulus).
    """
    if rule not in RULES:
        raise ValueError(f"unknown stimulus rule {rule!r}; choose one of {', '.join(RULES)}")
    if rule != "list" and list_file is not None:
        raise ValueError(f"list_file is only used by rule 'list', not {rule!r}")
    missing = [c for c in ("stimulus", "trial_type") if c not in metadata.columns]
    if missing:
        raise ValueError(f"stimulus metadata lacks column(s) {', '.join(missing)}")
    trial_type = metadata["trial_type"].astype(str).str.strip()

    if rule == "first_exemplar":
        train = _stimulus_concept_table(metadata, trial_type == "train")
        if train.empty:
            raise ValueError("no train trials in the stimulus metadata")
        # train is sorted by stimulus, so the first row of each concept is its first exemplar
        table = train.drop_duplicates("concept", keep="first")
    elif rule == "test":
        table = _stimulus_concept_table(metadata, trial_type == "test")
        if table.empty:
            raise ValueError("no test trials in the stimulus metadata")
    elif rule == "all":
        table = _stimulus_concept_table(metadata)
    else:
        if list_file is None:
            raise ValueError("rule 'list' needs list_file")
        names = read_stimulus_list(list_file)
        known = _stimulus_concept_table(metadata)
        known_names = set(known["stimulus"])
        unknown = [n for n in names if n not in known_names]
        if unknown:
            raise ValueError(f"{list_file}: {len(unknown)} stimulus name(s) not in the stimulus metadata: {_preview(unknown)}")
        table = known[known["stimulus"].isin(names)]
    return table.sort_values("stimulus", kind="stable").reset_index(drop=True)


def _safe_part(name: str, what: str) -> str:
    if not name or name in (".", "..") or "/" in name or "\\" in name:
        raise ValueError(f"{what} {name!r} is not a plain file or folder name")
    return name


def image_path(images_root: Path | str, stimulus: str, concept: str) -> Path:
    """``images_root/object_images/<concept>/<stimulus>`` (the THINGS image layout).

    ``images_root`` is the folder that contains ``object_images/`` (the unzipped
    ``images_THINGS.zip``).
    """
    return Path(images_root) / "object_images" / _safe_part(str(concept), "concept") / _safe_part(str(stimulus), "stimulus")


def check_images(images_root: Path | str, table: pd.DataFrame) -> list[Path]:
    """Paths of every image of ``table`` (in table order); error naming the missing ones.

    The error gives the first few missing paths and their count, and says when
    ``images_root`` has no ``object_images`` folder at all.
    """
    images_root = Path(images_root)
    _check_columns(table, "stimulus table")
    paths = [image_path(images_root, s, c) for s, c in zip(table["stimulus"], table["concept"])]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        hint = ""
        if not (images_root / "object_images").is_dir():
            hint = f" ({images_root / 'object_images'} does not exist: images_root must be the folder containing object_images/)"
        raise FileNotFoundError(
            f"{len(missing)} of {len(paths)} stimulus images missing under {images_root}{hint}: "
            f"{_preview([str(p) for p in missing])}"
        )
    return paths


def _check_columns(table: pd.DataFrame, what: str) -> None:
    missing = [c for c in TABLE_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{what} lacks column(s) {', '.join(missing)}")


def _validate_table(table: pd.DataFrame, what: str) -> pd.DataFrame:
    _check_columns(table, what)
    table = table[list(TABLE_COLUMNS)].astype(str).reset_index(drop=True)
    if table.empty:
        raise ValueError(f"{what} has no stimuli")
    for col in TABLE_COLUMNS:
        empty = table[col].str.strip() == ""
        if empty.any():
            raise ValueError(f"{what}: {int(empty.sum())} empty value(s) in column {col}")
    dup = table["stimulus"].duplicated()
    if dup.any():
        raise ValueError(f"{what}: duplicate stimuli {_preview(sorted(set(table['stimulus'][dup])))}")
    return table


@contextmanager
def building_folder(out: Path | str) -> Iterator[Path]:
    """A temporary folder beside ``out`` to fill; on success it replaces ``out`` as a
    whole, on any error it is removed: an interrupted job leaves no folder that looks
    complete."""
    out = Path(out)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.part")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        yield tmp
        if out.exists():
            shutil.rmtree(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_stimulus_table(path: Path | str, table: pd.DataFrame) -> None:
    """Write ``table`` (``stimulus, concept``; row order kept) as TSV, creating parent folders.

    Written to a temporary name and renamed, so an interrupted job leaves no table.
    """
    path = Path(path)
    table = _validate_table(table, "stimulus table")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        table.to_csv(tmp, sep="\t", index=False, lineterminator="\n")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def read_stimulus_table(path: Path | str) -> pd.DataFrame:
    """Read a table written by :func:`write_stimulus_table`, in file order, names verbatim."""
    path = Path(path)
    table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, na_filter=False)
    return _validate_table(table, str(path))


def write_selected_stimuli(
    betas_dir: Path | str,
    images_dir: Path | str | None,
    subjects: Sequence[str],
    out: Path | str,
    *,
    rule: str,
    list_file: Path | str | None = None,
    check: bool = True,
) -> pd.DataFrame:
    """Select the stimuli by ``rule`` for every subject, check they agree, write the table.

    Reads ``betas_dir/<subject>_StimulusMetadata.csv`` of each subject, applies
    :func:`select_stimuli`, and requires the same table for every subject (error
    naming the subjects and the differing stimuli otherwise). With ``check``, every
    image must exist under ``images_dir`` (:func:`check_images`); without it (the
    images are extracted from their archive after the selection, which checks them
    there) ``images_dir`` is not used. Writes ``out`` (TSV) and returns the table.
    """
    from lrrsa.data.things_fmri import read_stimulus_metadata, subject_label

    subjects = list(subjects)
    if not subjects:
        raise ValueError("no subjects given")
    tables: dict[str, pd.DataFrame] = {}
    for subject in subjects:
        sub = subject_label(subject)
        path = Path(betas_dir) / f"{sub}_StimulusMetadata.csv"
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found (betas_dir must be the 'betas_csv' folder)")
        tables[sub] = select_stimuli(read_stimulus_metadata(path), rule, list_file=list_file)
    (first, table), *rest = tables.items()
    for sub, other in rest:
        if not table.equals(other):
            mine, theirs = set(zip(table["stimulus"], table["concept"])), set(zip(other["stimulus"], other["concept"]))
            diff = sorted(s for s, _ in mine ^ theirs)
            raise ValueError(
                f"rule {rule!r} selects different stimuli for {first} ({len(table)}) and {sub} ({len(other)}); "
                f"{len(diff)} differ: {_preview(diff)}"
            )
    if check:
        if images_dir is None:
            raise ValueError("check=True needs images_dir")
        check_images(images_dir, table)
    write_stimulus_table(out, table)
    log.info("rule %s: %d stimuli (%d concepts) for %s -> %s", rule, len(table), table["concept"].nunique(), ", ".join(tables), out)
    return table
