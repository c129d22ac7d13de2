"""What every figure shares: one colour per condition, journal column sizes, and
saving the same figure as PNG (for the report) and PDF (for papers)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import seaborn as sns

CONDITION_COLOURS = {
    "untrained": "#8c8c8c",
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


def condition_palette(conditions: Sequence[str]) -> dict[str, str]:
    """Fixed colours for the study's conditions; others get distinct extra colours."""
    extra = iter(sns.color_palette("dark", 10).as_hex())
    return {c: CONDITION_COLOURS.get(c) or next(extra) for c in conditions}


def save_figure(figure: plt.Figure, paths: Sequence[str | Path], dpi: int = 300) -> None:
    """Save one figure to every path (format from the suffix, e.g. .png and .pdf)."""
    for path in paths:
        figure.savefig(path, dpi=dpi, bbox_inches="tight")
    plt.close(figure)
