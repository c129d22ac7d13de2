"""Figure of the agreement of the conditions' rankings across two datasets (e.g. human
fMRI and macaque electrophysiology): one panel per pair of corresponding ROIs, each
condition at (its score in dataset A, its score in dataset B), with Kendall's tau-b,
its exact p and its seed-bootstrap interval (:mod:`lrrsa.stats.rank_agreement`), and the
pixel RDM's two scores as a grey cross where the table has them
(:mod:`lrrsa.stats.across_datasets`)."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from lrrsa.figures.style import DOUBLE_COLUMN, condition_palette, method_label, require_columns
from lrrsa.stats.rank_agreement import AGREEMENT_COLUMNS, SIDE_BY_SIDE_COLUMNS

#: The colour of the pixel RDM's cross.
#: ``condition`` of the pixel-RDM rows of the side-by-side table (lrrsa.stats.pixel_baseline.PIXEL,
#: not imported: that module brings the permutation kernels a figure does not need).
PIXEL = "pixel"
PIXEL_COLOUR = "0.5"


def agreement_text(row: pd.Series) -> str:
    """The corner text of a panel: tau, exact p, and the interval when there is one."""
    if not np.isfinite(row["tau"]):
        return "τ undefined\n(a constant ranking)"
    text = f"τ = {row['tau']:.2f}\nexact p = {row['p_exact']:.2g}"
    if np.isfinite(row["ci_low"]):
        text += f"\n{row['level']:.0%} CI [{row['ci_low']:.2f}, {row['ci_high']:.2f}]"
    return text


def _panel(ax: plt.Axes, row: pd.Series, scores: pd.DataFrame, palette: dict[str, str]) -> bool:
    """One ROI pair: each condition's mean scores with +-1 seed SD, the pixel RDM's
    scores where ``scores`` has them, and the agreement. True when the pixel is drawn."""
    for condition, point in scores.set_index("condition").loc[list(palette)].iterrows():
        ax.errorbar(point["score_a"], point["score_b"], xerr=np.nan_to_num(point["sd_a"]),
                    yerr=np.nan_to_num(point["sd_b"]), fmt="o", markersize=3.5, color=palette[condition],
                    elinewidth=0.6, capsize=1.5, gid=f"condition:{condition}")
    pixel = scores[scores["condition"] == PIXEL].dropna(subset=["score_a", "score_b"])
    if len(pixel):
        ax.plot(pixel["score_a"].iloc[:1], pixel["score_b"].iloc[:1], linestyle="none", marker="x", markersize=4,
                color=PIXEL_COLOUR, gid=PIXEL)
    # Above the data, where no point (the pixel RDM's often lies in a corner) can hide it.
    ax.text(0.0, 1.02, agreement_text(row), transform=ax.transAxes, ha="left", va="bottom", fontsize=6,
            gid="kendall-tau")
    ax.set_title(f"{row['roi_a']} – {row['roi_b']}", fontsize=7, pad=28)
    ax.spines[["top", "right"]].set_visible(False)
    return bool(len(pixel))


def plot_rank_agreement(agreement: pd.DataFrame, side_by_side: pd.DataFrame, conditions: Sequence[str], *,
                        dataset_a: str = "human fMRI", dataset_b: str = "macaque", method: str = "spearman",
                        ) -> plt.Figure:
    """One panel per row of ``agreement`` (an ROI pair, in order): each condition at (mean
    score over seeds in dataset A's ROI on x, in dataset B's ROI on y; ``method``'s
    units, e.g. Spearman rho), error bars +-1 SD over seeds, coloured by
    :func:`lrrsa.figures.style.condition_palette`; in the corner tau-b, its exact p and
    the seed-bootstrap interval (none when ``n_bootstrap`` was 0). A row of condition
    ``pixel`` in a pair's ``side_by_side`` rows (the pixel RDM's own scores in A's and
    B's ROI, :func:`lrrsa.stats.across_datasets.compare_datasets`) is drawn as a grey
    cross, not as a condition.

    ``agreement`` and ``side_by_side``: the two tables of
    :func:`lrrsa.stats.rank_agreement.agreement_table`. Raises ValueError naming a
    missing column, or an ROI pair and the conditions it lacks in ``side_by_side``.
    Artists carry gids: ``condition:<name>`` (the error bars), ``kendall-tau`` (the text),
    ``pixel`` (the cross).
    """
    require_columns(agreement, AGREEMENT_COLUMNS, "rank agreement")
    require_columns(side_by_side, SIDE_BY_SIDE_COLUMNS, "conditions' scores side by side")
    conditions = list(conditions)
    palette = condition_palette(conditions)
    fig, axes = plt.subplots(1, len(agreement), figsize=(DOUBLE_COLUMN, 2.4), layout="constrained", squeeze=False)
    with_pixel = False
    for ax, (_, row) in zip(axes[0], agreement.iterrows()):
        scores = side_by_side[(side_by_side["roi_a"] == row["roi_a"]) & (side_by_side["roi_b"] == row["roi_b"])]
        absent = [c for c in conditions if c not in set(scores["condition"])]
        if absent:
            raise ValueError(f"conditions' scores side by side: ROI pair ({row['roi_a']}, {row['roi_b']}) lacks "
                             f"condition(s) {', '.join(absent)}")
        with_pixel |= _panel(ax, row, scores, palette)
        ax.set_xlabel(f"{dataset_a}: {method_label(method)}")
    axes[0][0].set_ylabel(f"{dataset_b}: {method_label(method)}")
    handles = [Line2D([], [], linestyle="none", marker="o", markersize=3.5, color=palette[c], label=c)
               for c in conditions]
    if with_pixel:
        handles.append(Line2D([], [], linestyle="none", marker="x", markersize=4, color=PIXEL_COLOUR,
                              label="pixel RDM"))
    handles.append(Line2D([], [], color="0.3", linewidth=0.6, label="mean ± 1 SD\nover seeds"))
    handles.append(Line2D([], [], linestyle="none", label="τ: Kendall's tau-b of the\nconditions' two rankings,\n"
                                                         "p: its exact permutation test,\n"
                                                         "CI: percentile bootstrap\nover seeds (networks)"))
    fig.legend(handles=handles, loc="outside right upper", frameon=False, handlelength=1.2)
    return fig
