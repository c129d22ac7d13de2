"""Which images an encoding model is fitted on and which it is scored on.

The protocol is written as a stimulus table (``data/encoding_stimuli.tsv``): one row per
image, in the row order of the activations and responses, with its ``concept`` and its
outer ``fold``: the fold whose held-out set holds the image, or ``-1`` for an image that
is only ever used for fitting.

- ``train_test`` (THINGS-fMRI; Hebart et al. 2023): fit on the training trials (every
  train image, shown once), score on the test images (each averaged over its
  repetitions): train images fold -1, test images fold 0.
- ``kfold`` (Brain-Score's neural predictivity, Schrimpf et al. 2018): the stimuli with
  repetitions (the THINGS test images) in K folds, each scored by a model fitted on the
  others; stratified by ``category`` where the dataset has one (THINGS-fMRI has not).

Inside the fitted images the ridge penalty is chosen by K-fold cross-validation grouped by
concept (:func:`inner_folds`), so no concept is both fitted and validated on.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupKFold, KFold, StratifiedKFold

from lrrsa.tsv import write_table

#: Values of encoding.protocol.
PROTOCOLS = ("train_test", "kfold")
#: Columns of the encoding stimulus table.
COLUMNS = ("stimulus", "concept", "fold")


def _stimuli_of(metadata: pd.DataFrame, trial_type: str) -> pd.DataFrame:
    rows = metadata[metadata["trial_type"] == trial_type]
    return rows.drop_duplicates("stimulus")[["stimulus", "concept"]].sort_values("stimulus", kind="stable")


def protocol_table(metadata: pd.DataFrame, protocol: str, *, n_folds: int = 5, seed: int = 0,
                   categories: pd.Series | None = None, source: str = "") -> pd.DataFrame:
    """The encoding stimulus table (``stimulus``, ``concept``, ``fold``) of one subject's
    THINGS-fMRI StimulusMetadata (``trial_type``, ``stimulus``, ``concept``).

    ``train_test``: train images (fold -1) then test images (fold 0), each sorted by name.
    ``kfold``: the test images (the stimuli with repetitions) in ``n_folds`` folds, shuffled
    with ``seed``, stratified by ``categories`` (concept -> category) when given. Raises
    ValueError naming ``source`` for an unknown protocol, no test images, no train images
    (``train_test``) or fewer test images than folds (``kfold``).
    """
    test = _stimuli_of(metadata, "test")
    if test.empty:
        raise ValueError(f"{source}: no test trials (trial_type 'test'): an encoding model needs images to score on")
    if protocol == "train_test":
        train = _stimuli_of(metadata, "train")
        if train.empty:
            raise ValueError(f"{source}: no train trials (trial_type 'train') to fit the encoding model on")
        both = set(train["stimulus"]) & set(test["stimulus"])
        if both:
            raise ValueError(f"{source}: {len(both)} image(s) are both train and test images, e.g. {sorted(both)[:3]}")
        table = pd.concat([train.assign(fold=-1), test.assign(fold=0)], ignore_index=True)
    elif protocol == "kfold":
        if n_folds < 2 or len(test) < n_folds:
            raise ValueError(f"{source}: kfold needs 2 <= n_folds <= the {len(test)} repeated images; got {n_folds}")
        table = test.reset_index(drop=True).assign(fold=-1)
        splitter = (StratifiedKFold if categories is not None else KFold)(n_folds, shuffle=True, random_state=seed)
        labels = table["concept"].map(categories) if categories is not None else None
        if labels is not None and labels.isna().any():
            missing = sorted(table.loc[labels.isna(), "concept"])[:3]
            raise ValueError(f"{source}: no category for concept(s) {missing}")
        for fold, (_, held_out) in enumerate(splitter.split(table, labels)):
            table.loc[held_out, "fold"] = fold
    else:
        raise ValueError(f"unknown encoding protocol {protocol!r}; expected one of {PROTOCOLS}")
    return table[list(COLUMNS)].reset_index(drop=True)


def outer_folds(folds: Sequence[int]) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """(fold, fitted rows, held-out rows) for every outer fold >= 0 of a table's ``fold``
    column: a fold is scored by a model fitted on every row outside it."""
    folds = np.asarray(folds)
    for fold in np.unique(folds[folds >= 0]):
        yield int(fold), np.flatnonzero(folds != fold), np.flatnonzero(folds == fold)


def inner_folds(concepts: Sequence[str], n_folds: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Cross-validation splits (fit rows, validation rows) of the fitted images, grouped
    by concept so that no concept is on both sides (``GroupKFold``); fewer folds when
    there are fewer concepts. Raises ValueError with fewer than 2 concepts."""
    groups = pd.factorize(pd.Series(list(concepts)))[0]
    n_groups = int(groups.max()) + 1 if groups.size else 0
    if n_groups < 2:
        raise ValueError(f"choosing the ridge penalty by cross-validation needs images of at least 2 concepts, "
                         f"got {n_groups}")
    splitter = GroupKFold(min(n_folds, n_groups))
    return [(fit, val) for fit, val in splitter.split(np.zeros(groups.size), groups=groups)]


def write_protocol_table(betas_dir: Path | str, subjects: Sequence[str], out: Path | str, *, protocol: str,
                         n_folds: int = 5, seed: int = 0) -> pd.DataFrame:
    """The select_encoding_stimuli job: the protocol's table from every subject's
    StimulusMetadata, which must agree (ValueError naming the two subjects otherwise),
    written as TSV (temporary name, renamed when complete)."""
    from lrrsa.data.things_fmri import read_stimulus_metadata, subject_files, subject_label

    tables = {}
    for subject in subjects:
        path = subject_files(betas_dir, subject).stimulus_metadata
        metadata = read_stimulus_metadata(path)
        categories = None
        if "category" in metadata.columns:
            categories = metadata.drop_duplicates("concept").set_index("concept")["category"]
        tables[subject_label(subject)] = protocol_table(metadata, protocol, n_folds=n_folds, seed=seed,
                                                        categories=categories, source=str(path))
    (first, table), *rest = tables.items()
    for subject, other in rest:
        if not table.equals(other):
            raise ValueError(f"the encoding images of {first} and {subject} differ ({len(table)} and {len(other)} "
                             f"images): every subject must have seen the same train and test images")
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    write_table(table, out)
    return table


def read_protocol_table(path: Path | str) -> pd.DataFrame:
    """A table written by :func:`write_protocol_table` (ValueError naming the file if a
    column is missing)."""
    table = pd.read_csv(path, sep="\t", dtype={"stimulus": str, "concept": str, "fold": int},
                        keep_default_na=False)
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing} of an encoding stimulus table")
    return table
