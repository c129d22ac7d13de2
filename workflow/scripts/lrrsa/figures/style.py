"""What every figure shares: one colour per condition, journal column sizes, the
check of an input table, the broken y axis, and saving the same figure as PNG (for
the report) and PDF (for papers)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

CONDITION_COLOURS = {
    "untrained": "#8c8c8c",
    "readout_only": "#8c564b",
    "bp": "#1f77b4",
    "fa": "#ff7f0e",
    "pc": "#2ca02c",
    "pc_supervised": "#17becf",
    "stdp": "#9467bd",
}

# Widths in inches of a journal's single and double column (about 89 and 183 mm).
SINGLE_COLUMN = 3.5
DOUBLE_COLUMN = 7.2

# Print-legible text: 7-8 pt at column width.
RC = {
    "font.size": 7,
    "axes.titlesize": 8,
    "axes.labelsize": 7,
    "xtick.labelsize": 6.5,
    "ytick.labelsize": 6.5,
    "legend.fontsize": 6.5,
    "legend.title_fontsize": 7,
    "axes.linewidth": 0.6,
    "pdf.fonttype": 42,  # embed TrueType, so text stays editable in the PDF
}
plt.rcParams.update(RC)


# How each rsa.method is named on an axis.
METHOD_LABELS = {"spearman": "Spearman ρ", "pearson": "Pearson r", "kendall": "Kendall τ-b",
                 "kendall_tau_a": "Kendall τ-a"}


def method_label(method: str) -> str:
    return METHOD_LABELS.get(method, method)


def condition_palette(conditions: Sequence[str]) -> dict[str, str]:
    """Fixed colours for the study's conditions; others get distinct extra colours."""
    extra = iter(sns.color_palette("dark", 10).as_hex())
    return {c: CONDITION_COLOURS.get(c) or next(extra) for c in conditions}


def save_figure(figure: plt.Figure, paths: Sequence[str | Path], dpi: int = 300) -> None:
    """Save one figure to every path (format from the suffix, e.g. .png and .pdf)."""
    for path in paths:
        figure.savefig(path, dpi=dpi, bbox_inches="tight")
    plt.close(figure)


def require_columns(table: pd.DataFrame, columns: Sequence[str], source: str, numeric: Sequence[str] = ()) -> None:
    """Raise ValueError naming the table (``source``) and the columns it lacks, or the
    first non-numeric entry of a ``numeric`` column (empty cells are missing values)."""
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"{source}: missing column(s) {', '.join(missing)}; expected the columns "
                         f"{', '.join(columns)} (see docs/STATISTICS.md)")
    for column in numeric:
        values = pd.to_numeric(table[column], errors="coerce")
        bad = values.isna() & table[column].notna() & (table[column].astype(str).str.strip() != "")
        if bad.any():
            raise ValueError(f"{source}: column {column} holds non-numeric value {table.loc[bad, column].iloc[0]!r} "
                             f"(row {int(np.flatnonzero(bad)[0]) + 2} of the file); expected numbers")


def break_y_axis(top: plt.Axes, bottom: plt.Axes) -> None:
    """Join two stacked panels as one broken y axis: hide the spines where they meet and
    draw the diagonal break marks (sized in points, alike whatever the panel size)."""
    top.spines["bottom"].set_visible(False)
    bottom.spines["top"].set_visible(False)
    top.tick_params(axis="x", which="both", bottom=False, labelbottom=False)
    mark = dict(marker=[(-1, -0.5), (1, 0.5)], markersize=7, linestyle="none", color="black",
                markeredgecolor="black", markeredgewidth=0.6, clip_on=False, gid="axis-break")
    top.plot([0], [0], transform=top.transAxes, **mark)
    bottom.plot([0], [1], transform=bottom.transAxes, **mark)
