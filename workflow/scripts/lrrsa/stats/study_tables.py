"""The study tables under ``stats/``: ``summary.tsv``, ``pairwise.tsv``, ``partial.tsv``,
``subjects.tsv`` and ``pixel_baseline.tsv``, each selected from the per-ROI test tables
(:mod:`lrrsa.stats.roi_tests`) and the pixel baseline's tests
(:mod:`lrrsa.stats.pixel_baseline`) with ``p_fdr`` over the configured family
(:mod:`lrrsa.stats.fdr_family`; every table reads all the tests, so that a family
spanning kinds, ``all``, is the same family in every table). Changing ``stats.fdr`` or
``stats.reference`` reruns only these tables."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from lrrsa.stats.fdr_family import with_fdr
from lrrsa.tsv import read_table, write_table


def read_tests(paths: Sequence[Path | str]) -> pd.DataFrame:
    tables = [read_table(p) for p in paths]
    tests = pd.concat(tables, ignore_index=True)
    for column in ("condition_b", "subject"):
        tests[column] = tests[column].fillna("").astype(str)
    return tests


def order_rows(table: pd.DataFrame, rois: Sequence[str], conditions: Sequence[str], by: Sequence[str]) -> pd.DataFrame:
    """Rows sorted by ``by``: ROIs and conditions in the config's order, other columns by value."""
    keys = {"roi": list(rois), "condition": list(conditions), "condition_a": list(conditions),
            "condition_b": list(conditions)}
    ranks = {c: table[c].map({v: i for i, v in enumerate(keys[c])}) if c in keys else table[c] for c in by}
    order = pd.DataFrame(ranks).sort_values(list(by), kind="stable").index
    return table.loc[order].reset_index(drop=True)


def summary_table(
    summary: pd.DataFrame, tests: pd.DataFrame, *, reference: str | None, family: str, fdr_method: str,
) -> pd.DataFrame:
    """summary.tsv: :func:`lrrsa.scoring.summarise`'s columns plus, per (roi, layer,
    condition): rho of the seed-averaged RDM, the interval of rho_mean (``stats.inference``:
    with its standard error and degrees of freedom, or the bootstrap's undefined
    samples), its Mantel p (rho > 0) and FDR p, and the two-sided p of rho -
    rho(reference) (the calibrated test of a difference) with its FDR p."""
    tests = with_fdr(tests, family, fdr_method)
    score = tests[tests["test"] == "score"]
    out = summary.merge(score[["roi", "layer", "condition", "ci_low", "ci_high", "se", "df", "n_boot_undefined", "p",
                               "p_fdr"]], on=["roi", "layer", "condition"], how="left")
    seed_avg = tests[tests["test"] == "seed_average_rdm"][["roi", "layer", "condition", "estimate"]]
    out = out.merge(seed_avg.rename(columns={"estimate": "rho_seed_average_rdm"}), on=["roi", "layer", "condition"],
                    how="left")
    out["reference"] = reference or ""
    out["p_vs_reference"] = np.nan
    out["p_vs_reference_fdr"] = np.nan
    if reference:
        diff = tests[(tests["test"] == "difference") & (tests["condition_b"] == reference)]
        diff = diff[["roi", "layer", "condition", "p", "p_fdr"]].rename(
            columns={"p": "p_vs_reference", "p_fdr": "p_vs_reference_fdr"})
        out = out.drop(columns=["p_vs_reference", "p_vs_reference_fdr"]).merge(
            diff, on=["roi", "layer", "condition"], how="left")
    columns = ["roi", "layer", "condition", "rho_mean", "rho_std", "n_seeds", "rho_min", "rho_max", "rho_subject_mean",
               "rho_seed_average_rdm", "ci_low", "ci_high", "se", "df", "n_boot_undefined", "p", "p_fdr", "reference",
               "p_vs_reference", "p_vs_reference_fdr"]
    return out[columns]


def pairwise_table(tests: pd.DataFrame, rois: Sequence[str], conditions: Sequence[str], *, family: str,
                   fdr_method: str) -> pd.DataFrame:
    """pairwise.tsv: every pair of conditions per ROI: delta_rho = rho_a - rho_b (seed
    means, group RDM), its standard error, degrees of freedom and interval, the
    two-sided p of the calibrated test (``stats.inference``) and its FDR p, and the
    paper's Mantel test of the difference (``p_exchangeable``, null: neither condition
    shares structure with the brain) with its FDR p."""
    tests = with_fdr(tests, family, fdr_method)
    diff = tests[tests["test"] == "difference"].rename(
        columns={"condition": "condition_a", "estimate": "delta_rho"})
    diff = order_rows(diff, rois, conditions, ["roi", "condition_b", "condition_a"])
    return diff[["roi", "layer", "condition_a", "condition_b", "delta_rho", "se", "df", "ci_low", "ci_high",
                 "n_boot_undefined", "p", "p_fdr", "p_exchangeable", "p_exchangeable_fdr"]]


def partial_table(tests: pd.DataFrame, rois: Sequence[str], conditions: Sequence[str], *, family: str,
                  fdr_method: str, control: str = "pixel") -> pd.DataFrame:
    """partial.tsv: per (roi, layer, condition) the mean over seeds of the partial
    Spearman rho controlling the pixel RDM, its std over seeds, permutation p and FDR
    p, next to the plain rho_mean."""
    tests = with_fdr(tests, family, fdr_method)
    partial = tests[tests["test"] == "partial"]
    plain = tests[tests["test"] == "score"][["roi", "layer", "condition", "estimate"]].rename(
        columns={"estimate": "rho_mean"})
    out = partial.rename(columns={"estimate": "rho_partial_mean", "std": "rho_partial_std"}).merge(
        plain, on=["roi", "layer", "condition"], how="left")
    out["control"] = control
    out = order_rows(out, rois, conditions, ["roi", "condition"])
    return out[["roi", "layer", "condition", "control", "rho_mean", "rho_partial_mean", "rho_partial_std", "p", "p_fdr"]]


def subjects_table(tests: pd.DataFrame, ceiling: pd.DataFrame | None, rois: Sequence[str],
                   conditions: Sequence[str], *, family: str, fdr_method: str) -> pd.DataFrame:
    """subjects.tsv: per (roi, layer, condition, subject) the mean over seeds of rho
    against that subject's own RDM, its std over seeds, permutation p and FDR p, and
    the pairs it used (``n_pairs`` 0: the subject has no data in the ROI); the ``mean``
    rows average the subjects with data (the quantity the noise ceiling bounds), with
    the ROI's lower and upper noise ceiling."""
    tests = with_fdr(tests, family, fdr_method)
    out = tests[tests["test"] == "subject"].rename(columns={"estimate": "rho_mean", "std": "rho_std"})
    out["nc_lower"] = np.nan
    out["nc_upper"] = np.nan
    if ceiling is not None:
        bounds = ceiling[ceiling["subject"] == "mean"].set_index("roi")
        is_mean = out["subject"] == "mean"
        out.loc[is_mean, "nc_lower"] = out.loc[is_mean, "roi"].map(bounds["lower"])
        out.loc[is_mean, "nc_upper"] = out.loc[is_mean, "roi"].map(bounds["upper"])
    subjects = [s for s in dict.fromkeys(out["subject"]) if s != "mean"] + ["mean"]
    out["_s"] = out["subject"].map({s: i for i, s in enumerate(subjects)})
    out = order_rows(out, rois, conditions, ["roi", "condition", "_s"])
    return out[["roi", "layer", "condition", "subject", "rho_mean", "rho_std", "p", "p_fdr", "n_pairs", "nc_lower",
                "nc_upper"]]


#: pixel_baseline.tsv's columns.
PIXEL_BASELINE_COLUMNS = ["roi", "layer", "test", "condition", "subject", "rho_pixel", "rho_condition", "delta_rho",
                          "se", "df", "ci_low", "ci_high", "p", "p_fdr", "n_pairs", "n_boot_undefined"]


def pixel_baseline_table(tests: pd.DataFrame, rois: Sequence[str], conditions: Sequence[str], *, family: str,
                         fdr_method: str) -> pd.DataFrame:
    """pixel_baseline.tsv: the pixel RDM as a low-level baseline, per ROI (every ROI of
    the run, ``layer`` empty where none is mapped). Rows ``score``: the pixel RDM's
    score ``rho_pixel`` against the ``group`` RDM, each subject's RDM and their ``mean``,
    with its interval (``se``, ``df``, ``ci_low``, ``ci_high``; none for ``mean``), the
    one-sided Mantel ``p`` of rho > 0 and ``p_fdr``. Rows ``difference`` (ROIs with a
    mapped layer, group RDM): per ``condition`` its seed mean ``rho_condition``,
    ``delta_rho`` = rho_condition - rho_pixel with its interval, and ``p``, the
    two-sided test that the condition and the pixel RDM score equally, with ``p_fdr``.
    Rows by ROI, then the scores (group, subjects, mean) and the differences in the
    config's order of conditions."""
    tests = with_fdr(tests, family, fdr_method)
    out = tests[tests["test"].isin(["pixel", "pixel_subject", "pixel_difference"])].copy()
    is_diff = out["test"] == "pixel_difference"
    out["delta_rho"] = out["estimate"].where(is_diff)
    out["condition"] = out["condition"].where(is_diff, "")
    out["layer"] = out["layer"].fillna("").astype(str)
    out["test"] = np.where(is_diff, "difference", "score")
    subjects = [s for s in dict.fromkeys(out["subject"]) if s not in ("group", "mean")]
    ranks = pd.DataFrame({
        "roi": out["roi"].map({r: i for i, r in enumerate(rois)}),
        "kind": is_diff.astype(int),
        "subject": out["subject"].map({s: i for i, s in enumerate(["group", *subjects, "mean"])}),
        "condition": out["condition"].map({c: i for i, c in enumerate(conditions)}).fillna(-1),
    }, index=out.index)
    out = out.loc[ranks.sort_values(list(ranks.columns), kind="stable").index].reset_index(drop=True)
    return out[PIXEL_BASELINE_COLUMNS]


def write_summary(scores: Path, tests: Sequence[Path], out: Path, *, layer_map: Mapping[str, str],
                  conditions: Sequence[str], reference: str | None, fdr_config: Mapping) -> None:
    from lrrsa.scoring import summarise

    summary = summarise(pd.read_csv(scores, sep="\t"), layer_map, conditions)
    write_table(summary_table(summary, read_tests(tests), reference=reference, family=fdr_config["family"],
                              fdr_method=fdr_config["method"]), out)


def write_pairwise(tests: Sequence[Path], out: Path, *, rois: Sequence[str], conditions: Sequence[str],
                   fdr_config: Mapping) -> None:
    write_table(pairwise_table(read_tests(tests), rois, conditions, family=fdr_config["family"],
                               fdr_method=fdr_config["method"]), out)


def write_partial(tests: Sequence[Path], out: Path, *, rois: Sequence[str], conditions: Sequence[str],
                  fdr_config: Mapping) -> None:
    write_table(partial_table(read_tests(tests), rois, conditions, family=fdr_config["family"],
                              fdr_method=fdr_config["method"]), out)


def write_pixel_baseline(tests: Sequence[Path], out: Path, *, rois: Sequence[str], conditions: Sequence[str],
                         fdr_config: Mapping) -> None:
    write_table(pixel_baseline_table(read_tests(tests), rois, conditions, family=fdr_config["family"],
                                     fdr_method=fdr_config["method"]), out)


def write_subjects(tests: Sequence[Path], ceiling: Path, out: Path, *, rois: Sequence[str], conditions: Sequence[str],
                   fdr_config: Mapping) -> None:
    write_table(subjects_table(read_tests(tests), pd.read_csv(ceiling, sep="\t"), rois, conditions,
                               family=fdr_config["family"], fdr_method=fdr_config["method"]), out)
