"""Figures of the encoding models: the mean voxel r per ROI and condition beside the
noise ceiling, and RSA beside encoding (does the ranking of the learning rules depend
on how brain similarity is measured?)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from lrrsa.figures.results import BAR_GROUP_WIDTH, _offsets, _seed_jitter, significance_mark
from lrrsa.figures.style import DOUBLE_COLUMN, condition_palette, method_label, require_columns
from lrrsa.significance import DAGGER
from lrrsa.stats.rank_agreement import kendall_tau_exact

#: Columns each figure reads.
SCORE_COLUMNS = ["condition", "seed", "layer", "roi", "subject", "mean_r"]
SUMMARY_COLUMNS = ["roi", "layer", "condition", "mean_r", "ceiling", "ci_low", "ci_high", "p_fdr", "reference",
                   "p_vs_reference_fdr"]
RSA_SUMMARY_COLUMNS = ["roi", "layer", "condition", "rho_mean", "ci_low", "ci_high"]


def _mapped(summary: pd.DataFrame, layer_map: Mapping[str, str], conditions: Sequence[str], source: str) -> pd.DataFrame:
    """The summary rows of each ROI's mapped layer, indexed by (roi, condition); ValueError
    naming the missing pairs."""
    rows = summary.merge(pd.DataFrame(list(layer_map.items()), columns=["roi", "layer"]), on=["roi", "layer"])
    rows = rows[rows["condition"].isin(conditions)].set_index(["roi", "condition"])
    missing = [(r, c) for r in layer_map for c in conditions if (r, c) not in rows.index]
    if missing:
        raise ValueError(f"{source}: no rows at the mapped layer for (roi, condition) {missing}")
    return rows


def plot_encoding_by_roi(scores: pd.DataFrame, summary: pd.DataFrame, layer_map: Mapping[str, str],
                         conditions: Sequence[str], *, interval: str = "95% interval",
                         corrected: bool = True) -> plt.Figure:
    """Encoding models per ROI (its mapped layer) and condition: bars at the mean over seeds
    and subjects of the mean voxel r on held-out images, dots at each seed (mean over
    subjects), thin capped lines the ``interval`` of the mean, a dashed line per ROI at the
    mean voxel noise ceiling (r scale), and the significance marks of the RSA figure
    (stars: FDR p of r > 0; dagger: differs from the reference)."""
    require_columns(scores, SCORE_COLUMNS, "encoding scores")
    require_columns(summary, SUMMARY_COLUMNS, "encoding summary")
    conditions, rois = list(conditions), list(layer_map)
    table = _mapped(summary, layer_map, conditions, "encoding summary")
    mapped = scores.merge(pd.DataFrame(list(layer_map.items()), columns=["roi", "layer"]), on=["roi", "layer"])
    per_seed = mapped.groupby(["roi", "condition", "seed"], as_index=False)["mean_r"].mean()
    palette = condition_palette(conditions)
    fig, ax = plt.subplots(figsize=(DOUBLE_COLUMN, 3.0), layout="constrained")
    offsets, width = _offsets(len(conditions)), BAR_GROUP_WIDTH / len(conditions)
    for j, condition in enumerate(conditions):
        x = np.arange(len(rois)) + offsets[j]
        rows = table.loc[[(roi, condition) for roi in rois]]
        ax.bar(x, rows["mean_r"], width=width * 0.92, color=palette[condition], zorder=2, edgecolor="none")
        low, high = rows["ci_low"].to_numpy(float), rows["ci_high"].to_numpy(float)
        ax.vlines(x, low, high, colors="black", linewidth=0.6, zorder=4, gid="ci")
        ax.hlines(np.concatenate([low, high]), np.tile(x - width / 4, 2), np.tile(x + width / 4, 2), colors="black",
                  linewidth=0.6, zorder=4)
        dots = per_seed[per_seed["condition"] == condition]
        jitter = dict(zip(sorted(dots["seed"].unique()), _seed_jitter(dots["seed"].nunique(), width)))
        ax.scatter(dots["roi"].map(dict(zip(rois, x))) + dots["seed"].map(jitter), dots["mean_r"], s=7,
                   facecolor="white", edgecolor="0.1", linewidth=0.5, zorder=5, gid=f"seeds:{condition}")
        for xi, (_, row) in zip(x, rows.iterrows()):
            mark = significance_mark(row["p_fdr"], row["p_vs_reference_fdr"])
            if mark:
                ax.annotate(mark, (xi, np.nanmax([row["ci_high"], row["mean_r"]])), xytext=(0, 1.5),
                            textcoords="offset points", ha="center", va="bottom", fontsize=7.5, linespacing=0.8)
    ceiling = table.groupby(level="roi")["ceiling"].mean().loc[rois]
    ax.hlines(ceiling, np.arange(len(rois)) - 0.47, np.arange(len(rois)) + 0.47, colors="0.4", linestyles="--",
              linewidth=0.8, zorder=1, gid="noise-ceiling")
    ax.axhline(0, color="black", linewidth=0.6, zorder=1)
    ax.set_xticks(np.arange(len(rois)), [f"{roi}\n({layer})" for roi, layer in layer_map.items()])
    ax.set_xlim(-0.5, len(rois) - 0.5)
    ax.spines[["top", "right"]].set_visible(False)
    ax.set_xlabel("ROI (mapped model layer)")
    ax.set_ylabel("encoding model: mean voxel r\non held-out images")
    p_label = "FDR p" if corrected else "p (uncorrected)"
    handles = [Patch(color=palette[c], label=c) for c in conditions] + [
        Line2D([], [], linestyle="none", marker="o", markersize=3, markerfacecolor="white", markeredgecolor="0.1",
               markeredgewidth=0.5, label="one seed"),
        Line2D([], [], color="black", linewidth=0.6, marker="_", markersize=4, label=f"{interval} of the mean"),
        Line2D([], [], color="0.4", linestyle="--", linewidth=0.8, label="mean voxel\nnoise ceiling (r)"),
        Line2D([], [], linestyle="none", marker="$*$", markersize=4, color="black",
               label=f"*, **, ***: {p_label} < .05, .01, .001\n(mean r > 0)"),
    ]
    reference = next((r for r in table["reference"].dropna().astype(str) if r), "")
    if reference:
        handles.append(Line2D([], [], linestyle="none", marker=f"${DAGGER}$", markersize=4, color="black",
                              label=f"{DAGGER}: differs from {reference}\n({p_label} < .05)"))
    fig.legend(handles=handles, loc="outside right upper", frameon=False, handlelength=1.4)
    return fig


def rank_agreement(rsa: pd.Series, encoding: pd.Series) -> tuple[float, float]:
    """Kendall's tau-b of the conditions' RSA and encoding scores and its exact two-sided
    permutation p over all n! orderings, ties included
    (:func:`lrrsa.stats.rank_agreement.kendall_tau_exact`). NaN with fewer than 3
    conditions or a constant score vector; ValueError above 10 conditions."""
    return kendall_tau_exact(rsa.to_numpy(float), encoding.to_numpy(float))


def plot_rsa_vs_encoding(rsa_summary: pd.DataFrame, encoding_summary: pd.DataFrame,
                         layer_map: Mapping[str, str], conditions: Sequence[str], *, method: str = "spearman",
                         rsa_interval: str = "95% interval", encoding_interval: str = "95% interval") -> plt.Figure:
    """One panel per ROI: each condition at (RSA score, encoding mean voxel r) of the ROI's
    mapped layer, with both intervals as error bars; in the corner, Kendall's tau of the
    two rankings of the conditions and its exact p."""
    require_columns(rsa_summary, RSA_SUMMARY_COLUMNS, "RSA summary")
    require_columns(encoding_summary, SUMMARY_COLUMNS, "encoding summary")
    conditions, rois = list(conditions), list(layer_map)
    rsa = _mapped(rsa_summary, layer_map, conditions, "RSA summary")
    enc = _mapped(encoding_summary, layer_map, conditions, "encoding summary")
    palette = condition_palette(conditions)
    fig, axes = plt.subplots(1, len(rois), figsize=(DOUBLE_COLUMN, 2.4), layout="constrained", squeeze=False)
    for ax, roi in zip(axes[0], rois):
        for condition in conditions:
            a, b = rsa.loc[(roi, condition)], enc.loc[(roi, condition)]
            ax.errorbar(a["rho_mean"], b["mean_r"], xerr=[[a["rho_mean"] - a["ci_low"]], [a["ci_high"] - a["rho_mean"]]],
                        yerr=[[b["mean_r"] - b["ci_low"]], [b["ci_high"] - b["mean_r"]]], fmt="o", markersize=3.5,
                        color=palette[condition], elinewidth=0.6, capsize=1.5, gid=f"condition:{condition}")
        tau, p = rank_agreement(rsa.loc[roi].loc[conditions, "rho_mean"], enc.loc[roi].loc[conditions, "mean_r"])
        ax.set_title(f"{roi} ({layer_map[roi]})", fontsize=7)
        if np.isfinite(tau):
            ax.text(0.03, 0.97, f"τ = {tau:.2f}\np = {p:.2g}", transform=ax.transAxes, ha="left", va="top",
                    fontsize=6, gid="kendall-tau")
        ax.spines[["top", "right"]].set_visible(False)
        ax.set_xlabel(f"RSA ({method_label(method)})")
    axes[0][0].set_ylabel("encoding: mean voxel r")
    handles = [Line2D([], [], linestyle="none", marker="o", markersize=3.5, color=palette[c], label=c)
               for c in conditions]
    handles.append(Line2D([], [], color="0.3", linewidth=0.6, label=f"RSA: {rsa_interval}\n"
                                                                   f"encoding: {encoding_interval}"))
    handles.append(Line2D([], [], linestyle="none", label="τ: Kendall's tau-b of the\nconditions' two rankings,\n"
                                                         "p: its exact test"))
    fig.legend(handles=handles, loc="outside right upper", frameon=False, handlelength=1.2)
    return fig
