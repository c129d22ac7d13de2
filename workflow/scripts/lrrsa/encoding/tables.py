"""The encoding tables: ``encoding/scores.tsv`` (every condition, seed, layer, ROI and
subject), ``encoding/tests.tsv`` (per ROI and its mapped layer), and the study tables
``encoding/summary.tsv`` and ``encoding/pairwise.tsv`` with FDR over the family
``stats.fdr`` names (:mod:`lrrsa.stats.fdr_family`: the score tests of all ROIs
together, the differences of all ROIs together, by default)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from lrrsa.encoding.inference import encoding_tests
from lrrsa.encoding.protocols import read_protocol_table
from lrrsa.encoding.responses import read_subject_responses
from lrrsa.stats.fdr_family import with_fdr
from lrrsa.stats.study_tables import order_rows
from lrrsa.tsv import read_table, write_table


def read_predictions(path: Path | str, layer: str, roi: str, subject: str) -> tuple[np.ndarray, np.ndarray]:
    """(held-out rows, prediction (n_held_out, v) float64) of one fit file
    (:mod:`lrrsa.encoding.fit`)."""
    with h5py.File(path, "r") as h5:
        group = h5[f"{layer}/{roi}/{subject}"]
        return h5["held_out"][()], group["prediction_centred"][()].astype(np.float64) + group["prediction_mean"][()]


def write_encoding_tests(fit_paths: Mapping[tuple[str, int], Path], response_paths: Mapping[str, Path],
                         table_path: Path, out: Path, *, layer_map: Mapping[str, str], conditions: Sequence[str],
                         seeds: Sequence[int], stats: Mapping) -> pd.DataFrame:
    """The test_encoding job: :func:`lrrsa.encoding.inference.encoding_tests` for every
    ROI of ``layer_map`` (ROI -> layer), written to ``out``."""
    table = read_protocol_table(table_path)
    responses = {s: read_subject_responses(p, table["stimulus"].tolist()) for s, p in response_paths.items()}
    subjects = list(response_paths)
    tests = []
    for roi, layer in layer_map.items():
        fits = {}
        for (condition, seed), path in fit_paths.items():
            for subject in subjects:
                rows, prediction = read_predictions(path, layer, roi, subject)
                found = responses[subject][roi]
                ceiling = float(np.nanmean(found.ceiling)) if found.ceiling.size else np.nan
                fits[(condition, seed, subject)] = (prediction, found.responses[rows], ceiling)
        tests.append(encoding_tests(roi, layer, fits, conditions=conditions, seeds=seeds, subjects=subjects,
                                    inference=stats["inference"], generalise_over=stats["generalise_over"],
                                    ci_level=stats["ci_level"], n_bootstrap=stats["n_bootstrap"],
                                    seed=stats["seed"]))
    result = pd.concat(tests, ignore_index=True)
    write_table(result, out)
    return result


def summary_table(tests: pd.DataFrame, rois: Sequence[str], conditions: Sequence[str], *, reference: str | None,
                  family: str, fdr_method: str) -> pd.DataFrame:
    """summary.tsv: per (roi, layer, condition) the mean voxel r (mean over seeds and
    subjects), its std over seeds, the median voxel r beside it, the mean voxel ceiling and
    the fraction of it reached, the interval (``ci_low``, ``ci_high``, ``se``, ``df``), the
    two-sided p of score = 0 and of score = score(reference), each with its FDR p."""
    tests = with_fdr(tests, family, fdr_method)
    score = tests[tests["test"] == "score"].rename(columns={"estimate": "mean_r", "std": "mean_r_std"})
    score = score.assign(reference=reference or "", p_vs_reference=np.nan, p_vs_reference_fdr=np.nan)
    if reference:
        diff = tests[(tests["test"] == "difference") & (tests["condition_b"] == reference)]
        diff = diff[["roi", "condition", "p", "p_fdr"]].rename(columns={"p": "p_vs_reference",
                                                                         "p_fdr": "p_vs_reference_fdr"})
        score = score.drop(columns=["p_vs_reference", "p_vs_reference_fdr"]).merge(diff, on=["roi", "condition"],
                                                                                    how="left")
    score = order_rows(score, rois, conditions, ["roi", "condition"])
    return score[["roi", "layer", "condition", "mean_r", "mean_r_std", "median_r", "ceiling", "normalised", "ci_low",
                  "ci_high", "se", "df", "p", "p_fdr", "reference", "p_vs_reference", "p_vs_reference_fdr",
                  "n_voxels", "n_images"]]


def pairwise_table(tests: pd.DataFrame, rois: Sequence[str], conditions: Sequence[str], *, family: str,
                   fdr_method: str) -> pd.DataFrame:
    """pairwise.tsv: every pair of conditions per ROI: delta = mean voxel r of a minus b, its
    standard error, degrees of freedom, interval, two-sided p and FDR p."""
    tests = with_fdr(tests, family, fdr_method)
    diff = tests[tests["test"] == "difference"].rename(columns={"condition": "condition_a",
                                                                "estimate": "delta_mean_r"})
    diff = order_rows(diff, rois, conditions, ["roi", "condition_b", "condition_a"])
    return diff[["roi", "layer", "condition_a", "condition_b", "delta_mean_r", "se", "df", "ci_low", "ci_high", "p",
                 "p_fdr"]]


def write_study_tables(tests_path: Path, summary_out: Path, pairwise_out: Path, *, rois: Sequence[str],
                       conditions: Sequence[str], reference: str | None, fdr: Mapping) -> None:
    """The summarise_encoding job: summary.tsv and pairwise.tsv from tests.tsv."""
    tests = read_table(tests_path)
    tests["condition_b"] = tests["condition_b"].fillna("").astype(str)
    tests["subject"] = tests["subject"].astype(str)
    write_table(summary_table(tests, rois, conditions, reference=reference, family=fdr["family"],
                              fdr_method=fdr["method"]), summary_out)
    write_table(pairwise_table(tests, rois, conditions, family=fdr["family"], fdr_method=fdr["method"]),
                pairwise_out)
