"""The same trained networks scored against several brain datasets (e.g. ``things``,
human fMRI, and ``macaque``, a Brain-Score recording): do the datasets rank the
conditions alike in corresponding ROIs? Per pair of datasets, Kendall's tau-b of the
conditions' seed-mean scores at each ROI's mapped layer, its exact p and its
seed-bootstrap interval (:func:`lrrsa.stats.rank_agreement.agreement_table`), with the
pixel RDM's own score in each ROI beside the networks as the low-level baseline.

Inputs per dataset: its ``rsa/scores.tsv`` (:data:`lrrsa.scoring.SCORE_COLUMNS`), its
layer map (ROI -> layer) and its ``stats/pixel_baseline.tsv``
(:data:`lrrsa.stats.study_tables.PIXEL_BASELINE_COLUMNS`)."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from lrrsa.scoring import mapped_scores
from lrrsa.stats.pixel_baseline import PIXEL
from lrrsa.stats.rank_agreement import (
    AGREEMENT_COLUMNS,
    ROI_SCORE_COLUMNS,
    SIDE_BY_SIDE_COLUMNS,
    agreement_table,
)
from lrrsa.stats.seeds import derived_seed

log = logging.getLogger(__name__)

#: Columns of the table of :func:`pixel_scores`.
PIXEL_SCORE_COLUMNS = ["roi", "rho_pixel"]
#: Columns of the three tables of :func:`compare_datasets`.
DATASET_AGREEMENT_COLUMNS = ["dataset_a", "dataset_b", *AGREEMENT_COLUMNS]
DATASET_SIDE_BY_SIDE_COLUMNS = ["dataset_a", "dataset_b", *SIDE_BY_SIDE_COLUMNS]
DATASET_PIXEL_COLUMNS = ["dataset", *PIXEL_SCORE_COLUMNS]
_SCORE_INPUT = ["condition", "seed", "layer", "roi", "subject", "rho"]
_PIXEL_INPUT = ["roi", "test", "subject", "rho_pixel"]


def _require(table: pd.DataFrame, columns: Sequence[str], source: str) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"{source}: missing column(s) {', '.join(missing)}; expected {', '.join(columns)}")


def mapped_seed_scores(scores: pd.DataFrame, layer_map: Mapping[str, str], *, source: str = "scores") -> pd.DataFrame:
    """Per mapped ROI, condition and seed the rho of the network's RDM at the ROI's
    mapped layer against the ROI's group RDM (subject ``group``;
    :func:`lrrsa.scoring.mapped_scores`).

    ``scores``: an ``rsa/scores.tsv`` table (every layer against every ROI, each subject
    and the group). ``layer_map``: ROI -> layer (an empty layer: not mapped, no rows).
    Returns columns roi, condition, seed, score (= rho), one row per (mapped ROI,
    condition, seed), rows in ``scores``' order.
    ``source`` names the table in errors. Raises ValueError naming a missing column, or
    a mapped ROI (and its layer) with no group rows.
    """
    _require(scores, _SCORE_INPUT, source)
    layer_map = {roi: layer for roi, layer in layer_map.items() if layer}
    mapped = mapped_scores(scores, layer_map)
    for roi, layer in layer_map.items():
        if not (mapped["roi"] == roi).any():
            raise ValueError(f"{source}: no group scores for ROI {roi!r} at its mapped layer {layer!r}; the table's "
                             f"ROIs are {', '.join(map(str, pd.unique(scores['roi'])))}")
    return mapped.rename(columns={"rho": "score"})[ROI_SCORE_COLUMNS].reset_index(drop=True)


def corresponding_rois(layer_map_a: Mapping[str, str], layer_map_b: Mapping[str, str]) -> list[tuple[str, str]]:
    """The ROI pairs two datasets are compared in: each ROI that both datasets map to a
    layer (a key of both layer maps with a non-empty layer), paired with the ROI of the
    same name, in ``layer_map_a``'s order. Empty when they share none."""
    return [(roi, roi) for roi, layer in layer_map_a.items() if layer and layer_map_b.get(roi)]


def pixel_scores(pixel_baseline: pd.DataFrame, *, source: str = "pixel_baseline") -> pd.DataFrame:
    """The pixel RDM's own score against each ROI's group RDM: the rows ``test`` ==
    ``score``, ``subject`` == ``group`` of a ``stats/pixel_baseline.tsv`` table
    (:func:`lrrsa.stats.study_tables.pixel_baseline_table`, which lists every ROI of the
    run, mapped to a layer or not).

    Returns columns roi, rho_pixel, one row per ROI in the table's order. ``source``
    names the table in errors. Raises ValueError naming a missing column, a table
    without such rows, or an ROI with more than one.
    """
    _require(pixel_baseline, _PIXEL_INPUT, source)
    own = pixel_baseline[(pixel_baseline["test"] == "score") & (pixel_baseline["subject"] == "group")]
    if own.empty:
        raise ValueError(f"{source}: no rows of the pixel RDM's own score (test 'score', subject 'group')")
    repeated = own["roi"][own["roi"].duplicated()]
    if len(repeated):
        raise ValueError(f"{source}: ROI {repeated.iloc[0]!r} has more than one pixel score on the group RDM")
    return own[PIXEL_SCORE_COLUMNS].astype({"rho_pixel": float}).reset_index(drop=True)


def _fewest_seeds(mapped: pd.DataFrame, rois: Sequence[str], conditions: Sequence[str]) -> int:
    rows = mapped[mapped["roi"].isin(rois) & mapped["condition"].isin(conditions)]
    return int(rows.groupby(["roi", "condition"])["seed"].nunique().min()) if len(rows) else 0


def _pixel_rows(pixel_a: pd.DataFrame, pixel_b: pd.DataFrame, roi_a: str, roi_b: str,
                names: tuple[str, str]) -> pd.DataFrame:
    """The side-by-side row of the pixel RDM in one ROI pair (sd NaN, n_seeds 0)."""
    scores = []
    for pixel, roi, name in zip((pixel_a, pixel_b), (roi_a, roi_b), names):
        match = pixel.loc[pixel["roi"] == roi, "rho_pixel"]
        if match.empty:
            raise ValueError(f"dataset {name}: its pixel baseline has no score for ROI {roi!r}")
        scores.append(float(match.iloc[0]))
    return pd.DataFrame([[PIXEL, roi_a, roi_b, *scores, np.nan, np.nan, 0]], columns=SIDE_BY_SIDE_COLUMNS)


def compare_datasets(
    datasets: Mapping[str, tuple[pd.DataFrame, Mapping[str, str], pd.DataFrame]], conditions: Sequence[str], *,
    n_bootstrap: int, seed: int, level: float = 0.95,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The rank agreement of every pair of datasets in their corresponding ROIs.

    ``datasets``: name -> (its ``rsa/scores.tsv`` table, its layer map ROI -> layer, its
    ``stats/pixel_baseline.tsv`` table), in the order pairs are formed: (a, b) with a
    before b. A pair is compared in :func:`corresponding_rois` of its layer maps, on
    :func:`mapped_seed_scores`, by :func:`lrrsa.stats.rank_agreement.agreement_table`
    with ``conditions``, ``n_bootstrap`` draws (none when a condition has fewer than 2
    seeds: NaN interval, n_bootstrap 0) and ``level``; its bootstrap seed is derived
    from ``seed`` and the two datasets' names, so adding a dataset changes no other
    pair's interval. A pair without corresponding ROIs has no rows.

    Returns three tables: the agreement (:data:`DATASET_AGREEMENT_COLUMNS`, one row per
    dataset pair and ROI pair); the scores side by side
    (:data:`DATASET_SIDE_BY_SIDE_COLUMNS`), per ROI pair each condition's seed mean and
    SD and then one row of condition ``pixel`` (:data:`lrrsa.stats.pixel_baseline.PIXEL`)
    whose score_a and score_b are the pixel RDM's own group-RDM scores in A's and B's
    ROI, sd_a, sd_b NaN and n_seeds 0; and the pixel scores
    (:data:`DATASET_PIXEL_COLUMNS`), one row for every ROI of every dataset's pixel
    baseline, corresponding or not.

    Raises ValueError naming the dataset for its tables' errors (:func:`mapped_seed_scores`,
    :func:`pixel_scores`) and the dataset pair for those of ``agreement_table`` (a
    condition absent, seeds scored in one dataset only, fewer than 3 conditions), and
    for a condition named ``pixel``.
    """
    if PIXEL in conditions:
        raise ValueError(f"condition {PIXEL!r}: the name marks the pixel RDM's rows in the side-by-side table")
    mapped, pixels, layer_maps = {}, {}, {}
    for name, (scores, layer_map, pixel_baseline) in datasets.items():
        layer_maps[name] = layer_map
        mapped[name] = mapped_seed_scores(scores, layer_map, source=f"dataset {name}: rsa scores")
        pixels[name] = pixel_scores(pixel_baseline, source=f"dataset {name}: pixel baseline")
    agreements, sides = [], []
    for a, b in itertools.combinations(datasets, 2):
        roi_pairs = corresponding_rois(layer_maps[a], layer_maps[b])
        if not roi_pairs:
            log.info("datasets %s and %s share no mapped ROI: not compared", a, b)
            continue
        fewest = min(_fewest_seeds(mapped[a], [r for r, _ in roi_pairs], conditions),
                     _fewest_seeds(mapped[b], [r for _, r in roi_pairs], conditions))
        draws = n_bootstrap if fewest >= 2 else 0
        try:
            agreement, side = agreement_table(mapped[a], mapped[b], roi_pairs, conditions=conditions,
                                              n_bootstrap=draws, seed=derived_seed(seed, f"across_datasets:{a}:{b}"),
                                              level=level)
        except ValueError as error:
            raise ValueError(f"datasets {a} (summary_a) and {b} (summary_b): {error}") from error
        side = pd.concat([pd.concat([side[(side["roi_a"] == ra) & (side["roi_b"] == rb)],
                                     _pixel_rows(pixels[a], pixels[b], ra, rb, (a, b))])
                          for ra, rb in roi_pairs], ignore_index=True)
        agreements.append(agreement.assign(dataset_a=a, dataset_b=b)[DATASET_AGREEMENT_COLUMNS])
        sides.append(side.assign(dataset_a=a, dataset_b=b)[DATASET_SIDE_BY_SIDE_COLUMNS])
        log.info("datasets %s and %s: %d ROI pair(s), %d bootstrap draws", a, b, len(roi_pairs), draws)
    pixel = [table.assign(dataset=name)[DATASET_PIXEL_COLUMNS] for name, table in pixels.items()]
    return (_concat(agreements, DATASET_AGREEMENT_COLUMNS), _concat(sides, DATASET_SIDE_BY_SIDE_COLUMNS),
            _concat(pixel, DATASET_PIXEL_COLUMNS))


def _concat(tables: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=columns)
