"""Figures of the RSA results (scores and statistics tables)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from lrrsa.figures.style import condition_palette
from lrrsa.scoring import mapped_scores


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
