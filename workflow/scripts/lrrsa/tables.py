"""The reader's tables: the study's results table as markdown, and this run beside the
values the reproduced paper published.

:func:`summary_markdown` renders ``stats/summary.tsv`` as the paper's table (ROI and its
layer x condition; each cell the seed-mean rho, its interval (``stats.inference``) and stars from
the FDR-corrected p) with a legend that says what was tested and corrected.
:func:`paper_comparison` joins the published values (``workflow/resources/paper/``)
with this run's summary, partial RSA and training histories.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from lrrsa.significance import DAGGER, DAGGER_LEVEL, STAR_LEVELS, dagger, difference_test_label, interval_label, stars
from lrrsa.tsv import read_table, write_table

def _escape(text: str) -> str:
    """Stars as literal characters in markdown (not emphasis)."""
    return text.replace("*", r"\*")


def _number(x: float, digits: int) -> str:
    text = f"{x:.{digits}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text  # no "-0.000"


def format_cell(rho: float, ci_low: float, ci_high: float, p_fdr: float, *, p_vs_reference_fdr: float = math.nan,
                digits: int = 3) -> str:
    """'0.076 [0.051, 0.101]\\*\\*\\*': rho, its interval where known, stars (escaped for
    markdown) and the dagger for a significant difference from the reference."""
    if rho is None or not np.isfinite(rho):
        return "n/a"
    cell = _number(rho, digits)
    if np.isfinite(ci_low) and np.isfinite(ci_high):
        cell += f" [{_number(ci_low, digits)}, {_number(ci_high, digits)}]"
    return cell + _escape(stars(p_fdr)) + dagger(p_vs_reference_fdr)


def results_table(summary: pd.DataFrame, conditions: Sequence[str] | None = None, digits: int = 3) -> pd.DataFrame:
    """One row per ROI ('V1 (conv1)', in the summary's order), one column per condition
    (``conditions``' order; default the summary's), cells from :func:`format_cell`.
    A condition without a row for an ROI gets an empty cell."""
    conditions = list(conditions) if conditions is not None else list(dict.fromkeys(summary["condition"]))
    summary = summary.copy()
    if "p_vs_reference_fdr" not in summary:
        summary["p_vs_reference_fdr"] = np.nan
    summary["cell"] = [
        format_cell(r.rho_mean, r.ci_low, r.ci_high, r.p_fdr, p_vs_reference_fdr=r.p_vs_reference_fdr, digits=digits)
        for r in summary.itertuples()
    ]
    summary["label"] = summary["roi"] + " (" + summary["layer"] + ")"
    rows = list(dict.fromkeys(summary["label"]))
    table = summary.pivot(index="label", columns="condition", values="cell").reindex(index=rows, columns=conditions)
    table = table.fillna("").rename_axis(index="ROI (layer)", columns=None).reset_index()
    return table


def _comparisons(n_conditions: int, n_rois: int | None) -> str:
    """'60 condition comparisons (15 pairs of 6 conditions x 4 ROIs: ...)': the
    difference family's size from the run's own conditions and ROIs (per ROI: None)."""
    pairs = n_conditions * (n_conditions - 1) // 2
    size = pairs * (n_rois or 1)
    per = f" x {n_rois} ROI{'s' * (n_rois != 1)}" if n_rois else ""
    return (f"{size} condition comparison{'s' * (size != 1)} ({pairs} pair{'s' * (pairs != 1)} of {n_conditions} "
            f"conditions{per}: vs the reference and pairwise)")


def _family_text(fdr: Mapping, kind: str, n_tests: int, n_conditions: int = 0, n_rois: int = 0) -> str:
    """How the correction of stats.fdr (method, family) treats one kind of test:
    ``zero`` (``n_tests`` vs-zero tests) or ``difference`` (every pair of the
    ``n_conditions`` conditions in each of the ``n_rois`` ROIs)."""
    family, method = fdr["family"], fdr["method"]
    if family == "none":
        return "not corrected (stats.fdr.family: none, p_fdr = p)"
    if family == "all":
        return (f"{method} over every group-level test of all ROIs in one family: vs-zero tests, condition "
                "comparisons, partial tests and the pixel baseline's tests (stats.fdr.family: all)")
    if kind == "zero":
        where = "within each ROI" if family == "per_roi" else "of all conditions and ROIs"
        count = f"{n_tests} " if family != "per_roi" else ""
        return f"{method} over the {count}vs-zero tests {where} (stats.fdr.family: {family})"
    if family == "per_roi":
        return f"{method} over the {_comparisons(n_conditions, None)} within each ROI (stats.fdr.family: per_roi)"
    return f"{method} over the {_comparisons(n_conditions, n_rois)} of all ROIs (stats.fdr.family: {family})"


def legend(summary: pd.DataFrame, *, method: str, stats: Mapping) -> str:
    """The lines below the table: what a cell is, what the stars and dagger test, and
    which family the FDR correction ran over (``stats``: the config's stats section)."""
    n_seeds = sorted(set(summary["n_seeds"].dropna().astype(int))) if "n_seeds" in summary else []
    seeds = "/".join(map(str, n_seeds)) or "all"
    fdr = stats["fdr"]
    thresholds = ", ".join(f"{_escape(mark)} p_fdr < {threshold:g}" for threshold, mark in reversed(STAR_LEVELS))
    n_zero = int(summary["p"].notna().sum()) if "p" in summary else 0
    n_conditions, n_rois = summary["condition"].nunique(), summary["roi"].nunique()
    lines = [
        f"Cells: {method} correlation between the model RDM of the ROI's layer and the group brain RDM, "
        f"mean over {seeds} seeds, with its {interval_label(stats)} in brackets"
        + (f" ({stats['n_bootstrap']} samples)." if stats.get("inference") == "bootstrap" else "."),
        f"Stars: {thresholds}; no star: p_fdr >= 0.05. Test: one-sided permutation test of rho > 0 "
        f"({stats['n_permutations']} permutations, scheme {stats['permutation_scheme']}); "
        f"p_fdr: {_family_text(fdr, 'zero', n_zero)}.",
    ]
    reference = stats.get("reference")
    if reference:
        lines.append(
            f"{DAGGER}: differs from {reference} ({difference_test_label(stats)} of the seed means, "
            f"p_fdr < {DAGGER_LEVEL:g}; {_family_text(fdr, 'difference', 0, n_conditions, n_rois)}). "
            "The paper's test of a difference, the permutation test whose null is that neither condition "
            "shares structure with the brain, is in pairwise.tsv as p_exchangeable.")
    return "\n\n".join(lines)


def summary_markdown(summary: pd.DataFrame, *, conditions: Sequence[str], method: str, stats: Mapping,
                     title: str = "RSA per ROI and condition", digits: int = 3) -> str:
    """The paper's results table with its legend, as a markdown document."""
    import tabulate  # noqa: F401  (DataFrame.to_markdown's optional dependency: named so envs list it)

    table = results_table(summary, conditions, digits).to_markdown(index=False, stralign="left")
    return f"# {title}\n\n{table}\n\n{legend(summary, method=method, stats=stats)}\n"


def write_summary_markdown(summary: Path | str, out: Path | str, *, run: str, conditions: Sequence[str], method: str,
                           stats: Mapping) -> None:
    frame = read_table(summary)
    text = summary_markdown(frame, conditions=conditions, method=method, stats=stats,
                            title=f"RSA per ROI and condition (run {run})")
    Path(out).write_text(text)


# ----------------------------------------------------------------- paper comparison

PUBLISHED_COLUMNS = ["measure", "roi", "layer", "condition", "paper_label", "value", "unit", "source"]
COMPARISON_COLUMNS = ["measure", "roi", "layer", "condition", "paper_label", "paper", "this_run", "difference",
                      "this_run_std", "this_run_ci_low", "this_run_ci_high", "within_ci", "n_seeds", "unit", "note"]
NOTES = {
    "rsa": "rho vs the group RDM, seed mean (this run: summary.tsv rho_mean and the interval of the seed mean)",
    "partial_rsa": ("partial rho controlling the pixel RDM, seed mean (this run: partial.tsv; partial correlation "
                    "of ranks, whereas the paper's code re-ranks residuals)"),
    "train_accuracy": ("percent; running accuracy over the final epoch's training updates (history.tsv train_acc), "
                       "seed mean: the quantity the paper reports"),
    "heldout_accuracy": ("percent; held-out accuracy in eval mode after the final epoch (history.tsv test_acc), "
                         "seed mean; the paper reports no held-out accuracy"),
}


def read_published(path: Path | str) -> pd.DataFrame:
    """The published values: one row per (measure, roi, layer, condition)."""
    table = pd.read_csv(path, sep="\t", comment="#", keep_default_na=False, na_values={"value": [""]},
                        dtype={"roi": str, "layer": str})
    missing = set(PUBLISHED_COLUMNS) - set(table)
    if missing:
        raise ValueError(f"{path}: missing columns {sorted(missing)}")
    return table[PUBLISHED_COLUMNS]


def final_accuracies(histories: Mapping[tuple[str, int], Path | str | pd.DataFrame]) -> pd.DataFrame:
    """Per condition: the final epoch's train_acc and test_acc in percent, mean and std
    (ddof 1) over seeds, and the number of seeds."""
    rows = []
    for (condition, seed), history in histories.items():
        frame = history if isinstance(history, pd.DataFrame) else pd.read_csv(history, sep="\t")
        last = frame.loc[frame["epoch"].idxmax()]
        rows.append({"condition": condition, "seed": seed, "train_accuracy": 100 * last["train_acc"],
                     "heldout_accuracy": 100 * last["test_acc"]})
    long = pd.DataFrame(rows, columns=["condition", "seed", "train_accuracy", "heldout_accuracy"]).melt(
        id_vars=["condition", "seed"], var_name="measure", value_name="value")
    return (long.groupby(["measure", "condition"], sort=False)["value"]
            .agg(this_run="mean", this_run_std="std", n_seeds="size").reset_index())


def paper_comparison(published: pd.DataFrame, summary: pd.DataFrame, partial: pd.DataFrame | None,
                     accuracies: pd.DataFrame | None) -> pd.DataFrame:
    """Every published value beside this run's (NaN where this run lacks the condition,
    ROI or layer), ``difference`` = this_run - paper and ``within_ci`` whether the
    published value lies in this run's interval. The held-out accuracy of every
    published condition is added with no published value."""
    keys = ["measure", "roi", "layer", "condition"]
    rsa = summary.assign(measure="rsa").rename(columns={
        "rho_mean": "this_run", "rho_std": "this_run_std", "ci_low": "this_run_ci_low", "ci_high": "this_run_ci_high"})
    run = [rsa[[*keys, "this_run", "this_run_std", "this_run_ci_low", "this_run_ci_high", "n_seeds"]]]
    if partial is not None:
        partial_run = partial.assign(measure="partial_rsa").rename(
            columns={"rho_partial_mean": "this_run", "rho_partial_std": "this_run_std"})
        partial_run = partial_run.merge(summary[["roi", "layer", "condition", "n_seeds"]], how="left",
                                        on=["roi", "layer", "condition"])
        run.append(partial_run[[*keys, "this_run", "this_run_std", "n_seeds"]])
    table = published.copy()
    if accuracies is not None:
        accuracies = accuracies.assign(roi="", layer="")
        run.append(accuracies)
        held_out = table[table["measure"] == "train_accuracy"].assign(
            measure="heldout_accuracy", value=np.nan, source="")
        table = pd.concat([table, held_out], ignore_index=True)
    this_run = pd.concat(run, ignore_index=True)
    for column in ["roi", "layer"]:
        this_run[column] = this_run[column].fillna("").astype(str)
        table[column] = table[column].fillna("").astype(str)
    out = table.rename(columns={"value": "paper"}).merge(this_run, on=keys, how="left", validate="one_to_one")
    for column in ["this_run_ci_low", "this_run_ci_high", "this_run_std", "n_seeds"]:
        if column not in out:
            out[column] = np.nan
    out["difference"] = out["this_run"] - out["paper"]
    has_ci = out[["paper", "this_run_ci_low", "this_run_ci_high"]].notna().all(axis=1)
    inside = (out["this_run_ci_low"] <= out["paper"]) & (out["paper"] <= out["this_run_ci_high"])
    out["within_ci"] = pd.Series([bool(i) if h else None for i, h in zip(inside, has_ci)], dtype=object)
    out["note"] = [_note(row, summary, partial) for row in out.itertuples()]
    return out[COMPARISON_COLUMNS]


def _note(row, summary: pd.DataFrame, partial: pd.DataFrame | None) -> str:
    """What the row's numbers are, and why this run has none where it has none."""
    note = NOTES.get(row.measure, "")
    if row.measure == "heldout_accuracy" and row.condition == "untrained":
        note += "; untrained: the initial network"
    if np.isfinite(row.this_run):
        return note
    if row.measure in ("train_accuracy", "heldout_accuracy"):
        if np.isfinite(row.n_seeds):  # the condition ran but its histories hold no value
            return note + "; none in this run's histories (an untrained network has no training updates)"
        return note + f"; condition {row.condition!r} is not in this run"
    table = summary if row.measure == "rsa" else partial
    if table is None or row.condition not in set(table["condition"]):
        return note + f"; condition {row.condition!r} is not in this run"
    layers = table.loc[table["roi"] == row.roi, "layer"]
    if layers.empty:
        return note + f"; ROI {row.roi!r} is not in this run's tables"
    return note + f"; this run maps {row.roi} to {layers.iloc[0]} (rsa.layer_map), the paper to {row.layer}"


def write_paper_comparison(published: Path | str, summary: Path | str, partial: Path | str,
                           histories: Mapping[tuple[str, int], Path | str], out: Path | str) -> None:
    table = paper_comparison(read_published(published), read_table(summary), read_table(partial),
                             final_accuracies(histories))
    write_table(table, out)
