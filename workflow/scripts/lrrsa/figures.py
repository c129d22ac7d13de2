"""Figures. Functions take data frames and return matplotlib figures, so tests can
check what is drawn; colours per condition are the same in every figure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")  # headless: jobs run on clusters without a display
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from lrrsa.scoring import mapped_scores  # noqa: E402

CONDITION_COLOURS = {
    "untrained": "#8c8c8c",
    "bp": "#1f77b4",
    "fa": "#ff7f0e",
    "pc": "#2ca02c",
    "pc_supervised": "#17becf",
    "stdp": "#9467bd",
}


def condition_palette(conditions: Sequence[str]) -> dict[str, str]:
    """Fixed colours for the study's conditions; others get distinct extra colours."""
    extra = iter(sns.color_palette("dark", 10).as_hex())
    return {c: CONDITION_COLOURS.get(c) or next(extra) for c in conditions}


def plot_rsa_by_roi(scores: pd.DataFrame, layer_map: Mapping[str, str], conditions: Sequence[str]) -> plt.Figure:
    """Main result: group-RDM RSA per ROI (its mapped layer) and condition.

    Bars are the mean over seeds, error bars +- 1 std over seeds, dots the seeds.
    """
    data = mapped_scores(scores, layer_map)
    data = data.assign(roi_label=data["roi"] + "\n(" + data["layer"] + ")")
    roi_order = [f"{roi}\n({layer})" for roi, layer in layer_map.items()]
    palette = condition_palette(conditions)
    fig, ax = plt.subplots(figsize=(7.0, 3.4), constrained_layout=True)
    sns.barplot(
        data=data, x="roi_label", y="rho", hue="condition", order=roi_order, hue_order=list(conditions),
        palette=palette, errorbar="sd", capsize=0.1, err_kws={"linewidth": 1.0}, ax=ax,
    )
    sns.stripplot(
        data=data, x="roi_label", y="rho", hue="condition", order=roi_order, hue_order=list(conditions),
        palette=palette, dodge=True, size=3, edgecolor="black", linewidth=0.5, legend=False, ax=ax,
    )
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xlabel("ROI (model layer)")
    ax.set_ylabel("RSA (Spearman rho)")
    n_seeds = data.groupby("condition")["seed"].nunique().max()
    ax.set_title(f"Model-brain RSA, group RDM (mean +- std over {n_seeds} seeds)")
    ax.legend(title="condition", frameon=False, bbox_to_anchor=(1.01, 1), loc="upper left")
    sns.despine(ax=ax)
    return fig
