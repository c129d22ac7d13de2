"""The brain side of the workflow from a macaque recording in Brain-Score's brainio format.

The THINGS-fMRI side's files, written from a brainio assembly and its stimulus set
instead, in exactly the same formats, so every later step reads them unchanged:

- :func:`prepare_brainio_stimuli`: the stimulus table (``stimuli.tsv``:
  ``stimulus, concept``, :func:`lrrsa.data.stimuli.write_stimulus_table`) and the
  images in the THINGS layout ``<out_images>/object_images/<concept>/<stimulus>``.
- :func:`write_brainio_rdms`: one animal's RDM of each ROI (``.npz`` of
  :func:`lrrsa.rdm_io.save_rdm`, as :func:`lrrsa.rdms.write_roi_rdm` writes them).
- :func:`write_brainio_split_half_rdms`: per ROI, each animal's RDMs from the odd and
  the even repetitions (the ``.npz`` of :func:`lrrsa.stats.split_half.write_split_half_rdms`:
  ``odd``, ``even`` (animals x n x n), ``stimuli``, ``subjects``), which
  :mod:`lrrsa.stats.noise_ceiling_table` reads.
- :func:`write_brainio_neuroid_counts`: neuroids per ROI and animal, in the columns of
  THINGS' ``roi_voxels.tsv`` (:func:`lrrsa.data.things_fmri.write_roi_voxel_counts`).

Conventions:

- **Stimuli.** The table's ``stimulus`` is the image's file name from the stimulus
  set CSV (``filename``), as THINGS' ``stimulus`` is the image file name; RDM rows and
  ``stimuli`` arrays are these names in table order (sorted by name). Stimulus ids map
  to file names through the CSV (never parsed; MajajHong2015's file names are not its
  ids), so the writers take the CSV too. File names must be unique among the chosen
  stimuli. ``concept``: the CSV column ``concept_column``; by default the first of
  :data:`CONCEPT_COLUMNS` the CSV has (``category``, ``category_name`` as in
  MajajHong2015's HVM set), or the constant :data:`DEFAULT_CONCEPT` (one image folder)
  when it has none.
- **Subjects are animals**: the neuroid coordinate ``animal`` (``subject`` in
  Papale2025; :data:`lrrsa.data.brainio.ANIMAL_COORDS`); neuroids are keyed by
  (animal, neuroid_id), since neuroid ids may restart per animal. :data:`POOLED`
  (``"all"``) as an animal name takes every neuroid, for files without an animal
  coordinate (FreemanZiemba2013).
- **ROIs**: ``rois`` maps each ROI name to the values of the neuroid coordinate
  ``region`` it pools (``{"IT": ["IT"], "ventral": ["V4", "IT"]}``; a string is one
  region). A region absent from the file is an error; a region present but without
  neuroids of one animal (or none left after the reliability threshold) gives that
  animal a NaN RDM (diagonal 0) and a count of 0, as an empty THINGS ROI does.
- **Responses** (:func:`lrrsa.data.brainio_responses.stimulus_responses`, read in
  slabs): each presentation's mean over the bins of ``time_window`` (ms; None: all
  bins; Brain-Score: MajajHong2015 (70, 170), FreemanZiemba2013 (50, 200)), then the
  mean over the stimulus's presentations. ``zscore``: first z-score each neuroid over
  the presentations of the table's stimuli (as the THINGS betas are z-scored per
  voxel over trials; Brain-Score does not, so the default is False). RDM: ``metric``
  of :func:`lrrsa.rsa.rdm.rdm` (``correlation``: 1 - Pearson r across neuroids).
- **Reliable neuroids** (``reliability_threshold``, None: all neuroids):
  :func:`lrrsa.data.brainio_reliability.reliable_neuroids` per animal (Brain-Score's
  Papale2025 benchmark keeps reliability > 0.3): split-half internal consistency over
  every presentation of the file in the time window (``n_splits``, ``seed``), or a
  stored neuroid coordinate (``reliability_method="coordinate"``). A neuroid's value
  does not depend on the other neuroids, so every job selects the same neuroids.
- **Split halves**: the repetition labels (``repetition`` coordinate, else each
  presentation's occurrence number within its stimulus), sorted; the 1st, 3rd, 5th,
  ... label form the ``odd`` half, the 2nd, 4th, ... the ``even`` one (as THINGS'
  sessions 1, 3, ... and 2, 4, ...). Stimuli: those of the table with presentations
  in both halves, in table order; fewer than 3 give empty (animals x 0 x 0) ``odd`` and
  ``even`` arrays (``stimuli`` still names them), as on the THINGS side.

Errors are ``ValueError`` (``FileNotFoundError`` for missing files) naming the file
and the offending key: unknown region, animal or ROI items, a window outside the
bins, stimuli without presentations or not in the stimulus set, duplicate file names.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from lrrsa.data.brainio import ANIMAL_COORDS, AssemblyInfo, assembly_info, window_bins
from lrrsa.data.brainio_reliability import reliable_neuroids, repetition_labels
from lrrsa.data.brainio_responses import group_means, stimulus_responses
from lrrsa.data.brainio_stimuli import StimulusSet, check_stimulus_files, extract_stimuli, read_stimulus_set
from lrrsa.data.stimuli import building_folder, image_path, read_stimulus_table, write_stimulus_table
from lrrsa.rdm_io import save_rdm
from lrrsa.tsv import write_table
from lrrsa.rsa.rdm import rdm

__all__ = [
    "CONCEPT_COLUMNS",
    "COUNT_COLUMNS",
    "DEFAULT_CONCEPT",
    "POOLED",
    "brainio_neuroid_counts",
    "brainio_stimulus_table",
    "prepare_brainio_stimuli",
    "write_brainio_neuroid_counts",
    "write_brainio_rdms",
    "write_brainio_split_half_rdms",
]

log = logging.getLogger(__name__)

#: Stimulus set columns taken as the concept, first found wins.
CONCEPT_COLUMNS = ("category", "category_name")
#: The concept (image folder) of every stimulus when the stimulus set has no concept column.
DEFAULT_CONCEPT = "stimuli"
#: Animal name meaning every neuroid (files without an animal coordinate).
POOLED = "all"
#: Columns of the neuroid counts, those of THINGS' roi_voxels.tsv (n_voxels: neuroids of the ROI;
#: n_selected: the reliable ones).
COUNT_COLUMNS = ("roi", "subject", "items", "n_voxels", "n_selected")
_MIN_STIMULI = 3
_PREVIEW = 5


def _preview(items: Sequence[object], n: int = _PREVIEW) -> str:
    items = list(items)
    shown = ", ".join(repr(x) for x in items[:n])
    return shown + (f", ... ({len(items)} in all)" if len(items) > n else "")


# ---------------------------------------------------------------------- stimuli


def _concept_column(stimulus_set: StimulusSet, concept_column: str | None) -> str | None:
    columns = list(stimulus_set.table.columns)
    if concept_column is None:
        return next((c for c in CONCEPT_COLUMNS if c in columns), None)
    if concept_column not in columns:
        raise ValueError(f"{stimulus_set.csv}: no concept column {concept_column!r}; columns: {_preview(columns, 20)}")
    return concept_column


def brainio_stimulus_table(
    assembly: Path | str,
    stimulus_csv: Path | str,
    *,
    images: Path | str | None = None,
    concept_column: str | None = None,
    stimulus_ids: Sequence[str] | None = None,
) -> pd.DataFrame:
    """The stimulus table of an assembly: columns ``stimulus`` (file name), ``concept``
    and ``stimulus_id``, one row per stimulus, sorted by ``stimulus``.

    Stimuli: ``stimulus_ids`` (each must have presentations), default every stimulus
    presented in the assembly. ``images``: the stimulus set's zip or folder (default
    as :func:`lrrsa.data.brainio_stimuli.read_stimulus_set`). Concepts: see the module
    docstring. Errors naming the assembly or the CSV: ids without presentations, ids
    not in the CSV, file names shared by two chosen stimuli, a missing concept
    column, an empty concept or one that is not a plain folder name.
    """
    info = assembly_info(assembly)
    stimulus_set = read_stimulus_set(stimulus_csv, images)
    presented = list(pd.unique(info.presentations["stimulus_id"]))
    if stimulus_ids is None:
        ids = presented
    else:
        ids = list(dict.fromkeys(str(s) for s in stimulus_ids))
        known = set(presented)
        absent = [s for s in ids if s not in known]
        if absent:
            raise ValueError(
                f"{info.path}: {len(absent)} requested stimulus id(s) have no presentation: {_preview(absent)}")
    table = stimulus_set.table.set_index("stimulus_id", drop=False)
    missing = [s for s in ids if s not in table.index]
    if missing:
        raise ValueError(f"{stimulus_set.csv}: {len(missing)} stimulus id(s) of {info.path} not in the stimulus set: "
                         f"{_preview(missing)}")
    rows = table.loc[ids]
    dup = rows["filename"].duplicated(keep=False)
    if dup.any():
        shared = sorted(set(rows["filename"][dup]))
        raise ValueError(f"{stimulus_set.csv}: file name(s) shared by several stimuli: {_preview(shared)}")
    column = _concept_column(stimulus_set, concept_column)
    if column is None:
        concepts = pd.Series(DEFAULT_CONCEPT, index=rows.index)
    else:
        concepts = rows[column].map(lambda c: "" if pd.isna(c) else str(c).strip())
        bad = sorted({c for c in concepts if not c or c in (".", "..") or "/" in c or "\\" in c})
        if bad:
            raise ValueError(f"{stimulus_set.csv}: column {column!r} has value(s) that cannot be a concept folder "
                             f"name: {_preview(bad)}")
    out = pd.DataFrame({"stimulus": rows["filename"].to_numpy(), "concept": concepts.to_numpy(), "stimulus_id": ids})
    return out.sort_values("stimulus", kind="stable").reset_index(drop=True)


def prepare_brainio_stimuli(
    assembly: Path | str,
    stimulus_csv: Path | str,
    out_table: Path | str,
    out_images: Path | str,
    *,
    images: Path | str | None = None,
    concept_column: str | None = None,
    stimulus_ids: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Write the stimulus table (``out_table``, TSV ``stimulus, concept``) and the images
    in the THINGS layout ``out_images/object_images/<concept>/<stimulus>`` (bytes as in
    the stimulus set; the folder built under a temporary name, then renamed). Returns
    :func:`brainio_stimulus_table` (with ``stimulus_id``). Errors: those of
    :func:`brainio_stimulus_table`; images missing from the zip or folder (all named).
    """
    table = brainio_stimulus_table(assembly, stimulus_csv, images=images, concept_column=concept_column,
                                   stimulus_ids=stimulus_ids)
    stimulus_set = read_stimulus_set(stimulus_csv, images)
    check_stimulus_files(stimulus_set, table["stimulus_id"].tolist())
    with building_folder(out_images) as tmp:
        for concept, group in table.groupby("concept", sort=True):
            dest = image_path(tmp, "x", str(concept)).parent
            extract_stimuli(stimulus_set, group["stimulus_id"].tolist(), dest)
    write_stimulus_table(out_table, table[["stimulus", "concept"]])
    log.info("%s: %d stimuli (%d concepts) -> %s, %s", stimulus_set.csv, len(table), table["concept"].nunique(),
             out_table, out_images)
    return table


def _table_ids(stimulus_csv: Path | str, stimulus_table: Path | str) -> tuple[list[str], list[str]]:
    """The table's stimulus names (file names) and their stimulus ids, in table order."""
    stimulus_set = read_stimulus_set(stimulus_csv)
    names = read_stimulus_table(stimulus_table)["stimulus"].tolist()
    by_file = stimulus_set.table.groupby("filename", sort=False)["stimulus_id"].agg(list)
    missing = [n for n in names if n not in by_file.index]
    if missing:
        raise ValueError(f"{stimulus_table}: {len(missing)} stimulus name(s) not a file name of {stimulus_set.csv}: "
                         f"{_preview(missing)}")
    shared = [n for n in names if len(by_file[n]) > 1]
    if shared:
        raise ValueError(f"{stimulus_set.csv}: file name(s) shared by several stimulus ids: {_preview(shared)}")
    return names, [by_file[n][0] for n in names]


# -------------------------------------------------------------------- neuroids


def _as_items(items: str | Sequence[str]) -> list[str]:
    return [items] if isinstance(items, str) else [str(i) for i in items]


def _roi_regions(info: AssemblyInfo, rois: Mapping[str, str | Sequence[str]]) -> dict[str, list[str]]:
    """ROI -> its region values; errors name the file, the ROI and the regions available."""
    if not rois:
        raise ValueError(f"{info.path}: no ROIs given")
    if "region" not in info.neuroids.columns:
        found = _preview(list(info.neuroids.columns))
        raise ValueError(f"{info.path}: no region coordinate on neuroid (found {found})")
    available = sorted(set(info.neuroids["region"].astype(str)))
    out = {}
    for roi, items in rois.items():
        regions = _as_items(items)
        if not regions:
            raise ValueError(f"{info.path}: ROI {roi!r} names no region")
        unknown = [r for r in regions if r not in available]
        if unknown:
            raise ValueError(f"{info.path}: ROI {roi!r}: region(s) {_preview(unknown)} not present; "
                             f"regions available: {_preview(available, 20)}")
        out[str(roi)] = regions
    return out


def _animal_mask(info: AssemblyInfo, animal: str) -> np.ndarray:
    if animal == POOLED:
        return np.ones(len(info.neuroids), dtype=bool)
    coord = info.animal_coord
    if coord is None:
        raise ValueError(
            f"{info.path}: no animal coordinate on neuroid ({' or '.join(ANIMAL_COORDS)}) to select animal {animal!r}; "
            f"use the animal name {POOLED!r} for all neuroids"
        )
    values = info.neuroids[coord].astype(str)
    if animal not in set(values):
        raise ValueError(f"{info.path}: animal {animal!r} not present; "
                         f"animals available ({coord}): {_preview(sorted(set(values)), 20)}")
    return (values == animal).to_numpy()


def _region_mask(info: AssemblyInfo, regions: Sequence[str]) -> np.ndarray:
    return info.neuroids["region"].astype(str).isin(list(regions)).to_numpy()


def _reliable(info: AssemblyInfo, candidates: np.ndarray, *, time_window, threshold, method, n_splits, seed,
              chunk_mb) -> np.ndarray:
    """Boolean over the file's neuroids: ``candidates`` above the reliability threshold."""
    if threshold is None or not candidates.any():
        return candidates.copy()
    responses = stimulus_responses(info.path, time_window=time_window, neuroid_mask=candidates, keep_presentations=True,
                                   chunk_mb=chunk_mb)
    selected = reliable_neuroids(responses, threshold, method=method, n_splits=n_splits, seed=seed)
    out = np.zeros(len(info.neuroids), dtype=bool)
    out[np.flatnonzero(candidates)[selected.mask]] = True
    return out


def _selection(info: AssemblyInfo, animal: str, regions: Sequence[str], options: dict) -> tuple[np.ndarray, np.ndarray]:
    """(neuroids of the animal in the regions, those of them that are reliable)."""
    base = _animal_mask(info, animal) & _region_mask(info, regions)
    return base, _reliable(info, base, **options)


def _options(time_window, reliability_threshold, reliability_method, n_splits, seed, chunk_mb) -> dict:
    return {"time_window": time_window, "threshold": reliability_threshold, "method": reliability_method,
            "n_splits": n_splits, "seed": seed, "chunk_mb": chunk_mb}


def _prepare(assembly, rois, time_window) -> tuple[AssemblyInfo, dict[str, list[str]]]:
    info = assembly_info(assembly)
    window_bins(info, time_window)  # a window outside the bins fails here, naming the file
    return info, _roi_regions(info, rois)


# ----------------------------------------------------------------------- values


def _presentation_values(info: AssemblyInfo, mask: np.ndarray, ids: Sequence[str], *, time_window, zscore: bool,
                         chunk_mb: float):
    """Responses of the ``mask`` neuroids to the stimuli ``ids``: per-stimulus means (n x k, ids order), the
    per-presentation values (p x k, z-scored when asked), the presentations' table (p rows, file order) and each
    presentation's position in ``ids`` (p,)."""
    responses = stimulus_responses(info.path, time_window=time_window, neuroid_mask=mask, stimuli=ids,
                                   keep_presentations=True, chunk_mb=chunk_mb)
    values = responses.presentation_responses
    if zscore:
        sd = values.std(axis=0)
        flat = sd == 0
        if flat.any():
            keys = responses.neuroids.loc[flat, list(responses.neuroid_key_columns)]
            log.warning("%s: %d neuroid(s) constant over the presentations (z-scored to 0): %s", info.path,
                        int(flat.sum()), _preview([tuple(k) for k in keys.itertuples(index=False)]))
        values = (values - values.mean(axis=0)) / np.where(flat, 1.0, sd)
    codes = pd.Index(list(ids)).get_indexer(responses.presentations["stimulus_id"].to_numpy())
    means, _ = group_means(values, codes, len(ids))
    return means, values, responses.presentations, codes


def _nan_rdm(n: int) -> np.ndarray:
    out = np.full((n, n), np.nan)
    np.fill_diagonal(out, 0.0)
    return out


def _check_varies(matrix: np.ndarray, what: str) -> None:
    """ValueError when an RDM's dissimilarities are all missing or all equal: nothing to
    rank, every score of it undefined (e.g. 1 - Pearson r over one or two neuroids)."""
    values = matrix[np.triu_indices(len(matrix), k=1)]
    finite = values[np.isfinite(values)]
    if finite.size == 0 or np.ptp(finite) <= 1e-12 * max(1.0, float(np.abs(finite).max())):  # equal but rounding
        state = "no defined dissimilarity" if finite.size == 0 else f"every dissimilarity equal to {finite[0]:g}"
        raise ValueError(f"{what}: the RDM has {state}, so it ranks no pair of stimuli; use more neuroids (add "
                         "regions to the ROI), another rdm.metric, or leave the ROI out")


def write_brainio_rdms(
    assembly: Path | str,
    stimulus_csv: Path | str,
    animal: str,
    rois: Mapping[str, str | Sequence[str]],
    stimulus_table: Path | str,
    outs: Sequence[Path | str],
    *,
    time_window: tuple[float, float] | None = None,
    metric: str = "correlation",
    zscore: bool = False,
    reliability_threshold: float | None = None,
    reliability_method: str = "split_half",
    n_splits: int = 10,
    seed: int = 0,
    chunk_mb: float = 64.0,
) -> None:
    """One animal's RDM of each ROI (``outs[i]`` for the i-th item of ``rois``), in one job.

    Each RDM: (n x n) float64 over the stimulus table's n stimuli in table order, of
    the animal's (reliable) neuroids of the ROI's regions, repetition-averaged
    responses in ``time_window`` (ms), ``metric`` (1 - Pearson r by default); written by
    :func:`lrrsa.rdm_io.save_rdm` (``rdm``, ``stimuli``: the table's names), as
    :func:`lrrsa.rdms.write_roi_rdm`. An ROI without neuroids of the animal (or none
    left after the threshold) gets a NaN RDM (diagonal 0). Conventions and errors: the
    module docstring (unknown region, animal, window outside the bins, stimuli without
    presentations, all naming the file).
    """
    if len(rois) != len(outs):
        raise ValueError(f"{len(rois)} ROIs but {len(outs)} output files")
    info, regions = _prepare(assembly, rois, time_window)
    names, ids = _table_ids(stimulus_csv, stimulus_table)
    options = _options(time_window, reliability_threshold, reliability_method, n_splits, seed, chunk_mb)
    _, reliable = _selection(info, animal, sorted({r for rs in regions.values() for r in rs}), options)
    for (roi, roi_regions), out in zip(regions.items(), outs):
        mask = reliable & _region_mask(info, roi_regions)
        if not mask.any():
            log.warning("%s: animal %s has no (reliable) neuroid in ROI %s (%s): its RDM is NaN", info.path, animal,
                        roi, " | ".join(roi_regions))
            save_rdm(out, _nan_rdm(len(names)), names)
            continue
        means, *_ = _presentation_values(info, mask, ids, time_window=time_window, zscore=zscore, chunk_mb=chunk_mb)
        matrix = rdm(means, metric)
        _check_varies(matrix, f"{info.path}: animal {animal}, ROI {roi} ({int(mask.sum())} neuroid(s), "
                      f"rdm.metric {metric})")
        save_rdm(out, matrix, names)
        log.info("%s %s %s: %d neuroids, %d stimuli -> %s", info.path, animal, roi, int(mask.sum()), len(names), out)


def write_brainio_split_half_rdms(
    assembly: Path | str,
    stimulus_csv: Path | str,
    animals: Sequence[str],
    regions: str | Sequence[str],
    stimulus_table: Path | str,
    out: Path | str,
    *,
    time_window: tuple[float, float] | None = None,
    metric: str = "correlation",
    zscore: bool = False,
    reliability_threshold: float | None = None,
    reliability_method: str = "split_half",
    n_splits: int = 10,
    seed: int = 0,
    chunk_mb: float = 64.0,
    subjects: Sequence[str] | None = None,
    roi: str = "ROI",
) -> None:
    """Each animal's RDMs of one ROI (its ``regions``; ``roi``: its name in messages) from
    the odd and from the even repetitions.

    Writes ``out`` (``.npz``, atomically) as
    :func:`lrrsa.stats.split_half.write_split_half_rdms` does: ``odd`` and ``even``
    (n_animals x m x m float64), ``stimuli`` (the m table names with presentations in
    both halves, table order) and ``subjects`` (``subjects``, the run's names of the
    animals, one per animal; default the animals themselves). Halves, z-scoring (over
    all presentations of the table's stimuli, as the main RDMs) and neuroid selection:
    the module docstring. An animal without (reliable) neuroids in the ROI gets NaN
    RDMs; fewer than 3 stimuli in both halves give (n_animals x 0 x 0) ``odd``/``even``.
    Errors as :func:`write_brainio_rdms`.
    """
    animals = [str(a) for a in animals]
    if not animals:
        raise ValueError("no animals given")
    labels_out = animals if subjects is None else [str(s) for s in subjects]
    if len(labels_out) != len(animals):
        raise ValueError(f"{len(animals)} animals but {len(labels_out)} subject names")
    info, by_roi = _prepare(assembly, {roi: regions}, time_window)
    roi_regions = by_roi[roi]
    for animal in animals:
        _animal_mask(info, animal)  # unknown animals fail before anything is computed
    names, ids = _table_ids(stimulus_csv, stimulus_table)
    options = _options(time_window, reliability_threshold, reliability_method, n_splits, seed, chunk_mb)

    table = info.presentations
    rows = table["stimulus_id"].isin(ids).to_numpy()
    reps = table["repetition"].to_numpy() if "repetition" in table.columns else None
    labels = repetition_labels(table["stimulus_id"].to_numpy(), reps)[rows]
    distinct = np.unique(labels)
    if distinct.size < 2:
        raise ValueError(
            f"{info.path}: split halves need at least 2 repetitions; found {distinct.size} repetition label(s)")
    odd_label = (np.searchsorted(distinct, labels) % 2) == 0
    codes = pd.Index(ids).get_indexer(table["stimulus_id"].to_numpy()[rows])
    in_odd = np.bincount(codes[odd_label], minlength=len(ids)) > 0
    in_even = np.bincount(codes[~odd_label], minlength=len(ids)) > 0
    keep = np.flatnonzero(in_odd & in_even)
    stimuli = [names[i] for i in keep]

    odd, even = [], []
    if len(stimuli) >= _MIN_STIMULI:
        for animal in animals:
            _, mask = _selection(info, animal, roi_regions, options)
            if not mask.any():
                log.warning("%s: animal %s has no (reliable) neuroid in %s: its split-half RDMs are NaN", info.path,
                            animal, " | ".join(roi_regions))
                odd.append(_nan_rdm(len(stimuli)))
                even.append(_nan_rdm(len(stimuli)))
                continue
            _, values, presentations, pcodes = _presentation_values(info, mask, ids, time_window=time_window,
                                                                    zscore=zscore, chunk_mb=chunk_mb)
            preps = presentations["repetition"].to_numpy() if reps is not None else None
            plabels = repetition_labels(presentations["stimulus_id"].to_numpy(), preps)
            podd = (np.searchsorted(distinct, plabels) % 2) == 0
            for half, sel in ((odd, podd), (even, ~podd)):
                means, _ = group_means(values[sel], pcodes[sel], len(ids))
                half.append(rdm(means[keep], metric))
            log.info("%s %s %s: %d neuroids, %d stimuli in both halves", info.path, animal, " | ".join(roi_regions),
                     int(mask.sum()), len(stimuli))
    else:
        log.warning("%s: fewer than 3 stimuli with presentations in both halves: no split-half reliability", info.path)
        odd = even = np.zeros((len(animals), 0, 0))
    out = Path(out)
    tmp = out.with_name(out.name + ".tmp.npz")
    np.savez(tmp, odd=np.asarray(odd, dtype=np.float64), even=np.asarray(even, dtype=np.float64),
             stimuli=np.asarray(stimuli, dtype=str), subjects=np.asarray(labels_out, dtype=str))
    os.replace(tmp, out)


# ----------------------------------------------------------------------- counts


def brainio_neuroid_counts(
    assembly: Path | str,
    animals: Sequence[str],
    rois: Mapping[str, str | Sequence[str]],
    *,
    time_window: tuple[float, float] | None = None,
    reliability_threshold: float | None = None,
    reliability_method: str = "split_half",
    n_splits: int = 10,
    seed: int = 0,
    chunk_mb: float = 64.0,
    subjects: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Neuroids per ROI and animal in the columns of THINGS' ``roi_voxels.tsv``
    (:data:`COUNT_COLUMNS`): ``roi``, ``subject`` (``subjects``, the run's name of each
    animal; default the animal), ``items`` (the ROI's
    regions joined by " | "), ``n_voxels`` (the animal's neuroids in those regions),
    ``n_selected`` (those above ``reliability_threshold``; equal when it is None).
    Rows animal-major, ROIs in ``rois`` order. Errors: unknown region or animal,
    window outside the bins (naming the file)."""
    info, regions = _prepare(assembly, rois, time_window)
    options = _options(time_window, reliability_threshold, reliability_method, n_splits, seed, chunk_mb)
    all_regions = sorted({r for rs in regions.values() for r in rs})
    names = [str(a) for a in animals] if subjects is None else [str(s) for s in subjects]
    if len(names) != len(animals):
        raise ValueError(f"{len(animals)} animals but {len(names)} subject names")
    rows = []
    for animal, name in zip(animals, names):
        base, reliable = _selection(info, str(animal), all_regions, options)
        for roi, roi_regions in regions.items():
            in_roi = _region_mask(info, roi_regions)
            rows.append((roi, name, " | ".join(roi_regions), int((base & in_roi).sum()),
                         int((reliable & in_roi).sum())))
    return pd.DataFrame(rows, columns=list(COUNT_COLUMNS))


def write_brainio_neuroid_counts(
    assembly: Path | str,
    animals: Sequence[str],
    rois: Mapping[str, str | Sequence[str]],
    out: Path | str,
    **options,
) -> pd.DataFrame:
    """:func:`brainio_neuroid_counts` (keyword ``options`` passed on) written atomically as
    TSV, as :func:`lrrsa.data.things_fmri.write_roi_voxel_counts` writes ``roi_voxels.tsv``."""
    table = brainio_neuroid_counts(assembly, animals, rois, **options)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    write_table(table, out)
    for row in table.itertuples():
        log.info("%s %s: %d neuroids (%d selected)", row.subject, row.roi, row.n_voxels, row.n_selected)
    return table
