"""Figures of the statistics tables (docs/STATISTICS.md): condition differences
(pairwise.tsv), subject-level RSA against the noise ceiling (subjects.tsv), and partial
RSA controlling the pixel RDM (partial.tsv).

Every function takes the table as written by the workflow and returns a figure. Drawn
elements carry a ``gid`` (``"ci"``, ``"estimate"``, ``"p_fdr"``, ``"zero"``,
``"noise_ceiling"``, ``"mean"``, ``"significant"``, ...) so tests can find them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import matplotlib.transforms as mtransforms
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, MaxNLocator

from lrrsa.figures.style import DOUBLE_COLUMN, break_y_axis, condition_palette, method_label, require_columns

# Significance level of the marks (on p_fdr); stated in every figure and caption.
ALPHA = 0.05
FDR_NAMES = {"fdr_bh": "BH", "fdr_by": "BY"}  # Benjamini-Hochberg, Benjamini-Yekutieli
SUBJECT_MARKERS = ["o", "s", "^", "D", "v", "P", "X", "<", ">", "h"]
MARK = "*"
# Height of the scores part of a broken subject axis, relative to the noise-ceiling part.
RATIO = 3.2


# ----------------------------------------------------------------------- helpers


LABEL_COLUMNS = {"roi", "layer", "condition", "condition_a", "condition_b", "subject", "control"}


def _require(table: pd.DataFrame, columns: Sequence[str], source: str) -> None:
    """The columns must exist; all but the label columns must hold numbers."""
    require_columns(table, columns, source, numeric=[c for c in columns if c not in LABEL_COLUMNS])


def _numeric(table: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    table = table.copy()
    for column in columns:
        table[column] = pd.to_numeric(table[column], errors="coerce")
    return table


def _check_conditions(found: Sequence[str], conditions: Sequence[str], source: str, column: str = "condition") -> None:
    unknown = sorted(set(found) - set(conditions))
    if unknown:
        raise ValueError(f"{source}: column {column} names condition(s) {', '.join(unknown)} that are not among "
                         f"the configured conditions ({', '.join(conditions)}); is the table from another run?")


def is_significant(p: float, alpha: float = ALPHA) -> bool:
    return bool(np.isfinite(p) and p < alpha)


def format_p(p: float) -> str:
    """A p-value as printed beside a row: three decimals, '<0.001' below, 'n/a' if missing."""
    if not np.isfinite(p):
        return "n/a"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def significance_note(fdr: Mapping[str, str] | None, alpha: float = ALPHA) -> str:
    """What a mark means, e.g. 'p_FDR < 0.05 (BH, family comparisons)'."""
    if not fdr:
        return f"p_FDR < {alpha:g}"
    if fdr.get("family") == "none":
        return f"p < {alpha:g} (uncorrected)"
    method = FDR_NAMES.get(fdr.get("method"), fdr.get("method"))
    return f"p_FDR < {alpha:g} ({method}, family {fdr.get('family')})"


def _p_name(fdr: Mapping[str, str] | None) -> str:
    return "p (uncorr.)" if fdr and fdr.get("family") == "none" else "p_FDR"


def _roi_titles(table: pd.DataFrame) -> dict[str, str]:
    titles = {}
    for roi, rows in table.groupby("roi", sort=False):
        layers = list(dict.fromkeys(rows["layer"].astype(str)))
        titles[roi] = f"{roi} ({', '.join(layers)})"
    return titles


def _tick(value: float, _position=None) -> str:
    """A compact tick label: no trailing zeros, a true minus sign ('−0.006', '0', '0.01')."""
    text = f"{value:.6g}" if abs(value) > 1e-12 else "0"
    return text.replace("-", "−")


def _row_major(handles: list, ncol: int) -> list:
    """Legend handles reordered (padded with blanks) so a legend of ``ncol`` columns,
    which matplotlib fills column by column, reads row by row."""
    nrows = -(-len(handles) // ncol)
    padded = handles + [Line2D([], [], linestyle="none", label=" ")] * (nrows * ncol - len(handles))
    return [padded[r * ncol + c] for c in range(ncol) for r in range(nrows)]


def _message_figure(message: str) -> plt.Figure:
    """A small figure that says why there is nothing to draw (the rule still writes one)."""
    fig, ax = plt.subplots(figsize=(DOUBLE_COLUMN / 2, 1.0))
    ax.text(0.5, 0.5, message, ha="center", va="center", wrap=True, gid="message")
    ax.set_axis_off()
    return fig


def _ordered(conditions: Sequence[str], found: Sequence[str]) -> list[str]:
    present = set(found)
    return [c for c in conditions if c in present]


# ---------------------------------------------------------------------- pairwise

PAIRWISE_COLUMNS = ["roi", "layer", "condition_a", "condition_b", "delta_rho", "ci_low", "ci_high", "p", "p_fdr"]


def plot_pairwise(
    pairwise: pd.DataFrame,
    conditions: Sequence[str],
    *,
    method: str = "spearman",
    fdr: Mapping[str, str] | None = None,
    interval: str = "95% interval",
    alpha: float = ALPHA,
    source: str = "pairwise.tsv",
) -> plt.Figure:
    """Forest plot of every condition difference, one panel per ROI.

    A row is one pair a - b: the marker is ``delta_rho`` (left half in a's colour,
    right half in b's), the line its interval (``ci_low``-``ci_high``; ``interval`` says
    what it is, :func:`lrrsa.significance.interval_label`); the column right of each
    panel prints ``p_fdr`` of the difference test, in bold with a ``*`` where p_fdr <
    alpha. The dashed line is no difference.
    """
    _require(pairwise, PAIRWISE_COLUMNS, source)
    if pairwise.empty:
        return _message_figure("No condition differences to show: the run has fewer than two conditions.")
    table = _numeric(pairwise, ["delta_rho", "ci_low", "ci_high", "p", "p_fdr"])
    _check_conditions(pd.concat([table["condition_a"], table["condition_b"]]).unique(), conditions, source,
                      "condition_a/condition_b")
    palette = condition_palette(conditions)
    pairs = list(dict.fromkeys(zip(table["condition_a"], table["condition_b"])))
    row_of = {pair: i for i, pair in enumerate(pairs)}
    titles = _roi_titles(table)
    rois = list(titles)
    n = len(pairs)
    symbol = method_label(method)
    fig, axes = plt.subplots(1, len(rois), figsize=(DOUBLE_COLUMN, 0.95 + 0.135 * n), sharey=True, squeeze=False,
                             layout="constrained")
    fig.get_layout_engine().set(w_pad=0.04, wspace=0.02)
    p_name = _p_name(fdr)
    for ax, roi in zip(axes[0], rois):
        rows = table[table["roi"] == roi]
        for _, row in rows.iterrows():
            y = row_of[(row["condition_a"], row["condition_b"])]
            significant = is_significant(row["p_fdr"], alpha)
            ax.plot([row["ci_low"], row["ci_high"]], [y, y], color="0.3", linewidth=1.0, solid_capstyle="butt",
                    gid="ci")
            ax.plot([row["delta_rho"]], [y], linestyle="none", marker="o", markersize=4.5, fillstyle="left",
                    markerfacecolor=palette[row["condition_a"]],
                    markerfacecoloralt=palette[row["condition_b"]], markeredgecolor="black",
                    markeredgewidth=0.5, zorder=3, gid="estimate")
            label = format_p(row["p_fdr"]) + (f" {MARK}" if significant else "")
            ax.text(1.04, y, label, transform=mtransforms.blended_transform_factory(ax.transAxes, ax.transData),
                    ha="left", va="center", fontsize=6, fontweight="bold" if significant else "normal",
                    gid="p_fdr_significant" if significant else "p_fdr")
        ax.text(1.04, 1.0, p_name, transform=ax.transAxes, ha="left", va="bottom", fontsize=6, fontstyle="italic",
                gid="p_header")
        ax.axvline(0, color="black", linewidth=0.6, linestyle="--", zorder=1, gid="zero")
        low = np.nanmin(rows[["ci_low", "delta_rho"]].to_numpy(dtype=float), initial=0.0)
        high = np.nanmax(rows[["ci_high", "delta_rho"]].to_numpy(dtype=float), initial=0.0)
        span = (high - low) or 1e-3
        ax.set_xlim(low - 0.08 * span, high + 0.08 * span)
        ax.xaxis.set_major_locator(MaxNLocator(3))
        ax.xaxis.set_major_formatter(FuncFormatter(_tick))
        ax.set_xlabel(f"Δ {symbol} (a − b)")
        ax.set_title(titles[roi])
        ax.grid(axis="y", color="0.92", linewidth=0.5)
        ax.set_axisbelow(True)
        ax.tick_params(axis="y", length=0)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    axes[0, 0].set_yticks(range(n), [f"{a} − {b}" for a, b in pairs])
    axes[0, 0].set_ylim(n - 0.5, -0.5)
    colours = [Patch(facecolor=palette[c], edgecolor="black", linewidth=0.4, label=c)
               for c in _ordered(conditions, [c for pair in pairs for c in pair])]
    fig.legend(handles=colours, loc="outside right upper", title="condition", frameon=False, handlelength=1.0)
    key = [
        Line2D([], [], linestyle="none", marker="o", markersize=4.5, fillstyle="left", markerfacecolor="white",
               markerfacecoloralt="0.6", markeredgecolor="black", markeredgewidth=0.5,
               label="difference of seed means (left half: a, right half: b)"),
        Line2D([], [], color="0.3", linewidth=1.0, label=interval),
        Line2D([], [], linestyle="none", marker="$*$", color="black", markersize=5,
               label=f"bold {MARK}: {significance_note(fdr, alpha)} (test that a and b score equally)"),
    ]
    fig.legend(handles=key, loc="outside lower center", ncol=2, frameon=False, handlelength=1.2, columnspacing=1.5)
    return fig


# ---------------------------------------------------------------------- subjects

SUBJECT_COLUMNS = ["roi", "layer", "condition", "subject", "rho_mean", "p_fdr", "nc_lower", "nc_upper"]


def plot_subjects(
    subjects: pd.DataFrame,
    conditions: Sequence[str],
    *,
    method: str = "spearman",
    fdr: Mapping[str, str] | None = None,
    alpha: float = ALPHA,
    source: str = "subjects.tsv",
) -> plt.Figure:
    """Subject-level RSA, one panel per ROI: one marker per subject (shape) and condition
    (colour), filled where that subject's p_fdr < alpha; a black bar at the mean over
    subjects (rows ``mean``), ``*`` above it where the mean's p_fdr < alpha; the grey band
    is the ROI's noise ceiling (``nc_lower``-``nc_upper`` of the ``mean`` rows). Where
    the ceiling lies far above the scores the y axis is broken, so both stay legible.
    """
    _require(subjects, SUBJECT_COLUMNS, source)
    if subjects.empty:
        return _message_figure("No subject-level scores to show.")
    table = _numeric(subjects, ["rho_mean", "p_fdr", "nc_lower", "nc_upper"])
    table["subject"] = table["subject"].astype(str)
    _check_conditions(table["condition"].unique(), conditions, source)
    if not (table["subject"] == "mean").any():
        raise ValueError(f"{source}: no rows with subject 'mean' (the mean over subjects, which carries the noise "
                         "ceiling); expected one per ROI and condition")
    palette = condition_palette(conditions)
    order = _ordered(conditions, table["condition"].unique())
    x_of = {c: i for i, c in enumerate(order)}
    subject_ids = [s for s in dict.fromkeys(table["subject"]) if s != "mean"]
    marker = {s: SUBJECT_MARKERS[i % len(SUBJECT_MARKERS)] for i, s in enumerate(subject_ids)}
    offsets = dict(zip(subject_ids, np.linspace(-0.24, 0.24, len(subject_ids)) if len(subject_ids) > 1 else [0.0]))
    titles = _roi_titles(table)
    rois = list(titles)

    fig = plt.figure(figsize=(DOUBLE_COLUMN, 2.9), layout="constrained")
    fig.get_layout_engine().set(h_pad=0.01, hspace=0.0, w_pad=0.04, wspace=0.03)
    grid = fig.add_gridspec(2, len(rois), height_ratios=[1, RATIO])
    symbol = method_label(method)
    for col, roi in enumerate(rois):
        rows = table[table["roi"] == roi]
        per_subject = rows[rows["subject"] != "mean"]
        means = rows[rows["subject"] == "mean"]
        lower, upper = means["nc_lower"].max(), means["nc_upper"].max()
        has_ceiling = bool(np.isfinite(lower) and np.isfinite(upper))
        values = rows["rho_mean"].to_numpy(dtype=float)
        lo, hi = min(0.0, np.nanmin(values, initial=0.0)), max(0.0, np.nanmax(values, initial=0.0))
        span = (hi - lo) or 1e-3
        data_limits = (lo - 0.06 * span, hi + 0.16 * span)
        broken = has_ceiling and (span / (max(upper, hi) - lo)) < 0.4
        if broken:
            top = fig.add_subplot(grid[0, col])
            ax = fig.add_subplot(grid[1, col], sharex=top)
        else:
            top = ax = fig.add_subplot(grid[:, col])
        for _, row in per_subject.iterrows():
            significant = is_significant(row["p_fdr"], alpha)
            colour = palette[row["condition"]]
            ax.plot([x_of[row["condition"]] + offsets[row["subject"]]], [row["rho_mean"]], linestyle="none",
                    marker=marker[row["subject"]], markersize=4, markeredgewidth=0.8, markeredgecolor=colour,
                    markerfacecolor=colour if significant else "white", zorder=3,
                    gid=f"subject:{row['subject']}:{'significant' if significant else 'ns'}")
        for _, row in means.iterrows():
            x = x_of[row["condition"]]
            ax.plot([x - 0.34, x + 0.34], [row["rho_mean"]] * 2, color="black", linewidth=1.2, zorder=4,
                    solid_capstyle="butt", gid="mean")
            if is_significant(row["p_fdr"], alpha):
                peak = np.nanmax(rows.loc[rows["condition"] == row["condition"], "rho_mean"].to_numpy(dtype=float))
                ax.text(x, peak + 0.03 * span, MARK, ha="center", va="bottom", fontsize=9, fontweight="bold",
                        gid="significant")
        ax.axhline(0, color="black", linewidth=0.6, zorder=1, gid="zero")
        if has_ceiling:
            top.axhspan(lower, upper, color="0.82", linewidth=0, zorder=0, gid="noise_ceiling")
            if broken:
                margin = max(0.3 * (upper - lower), 0.02 * upper, 1e-3)
                top.set_ylim(lower - margin, upper + margin)
                top.yaxis.set_major_locator(MaxNLocator(2))
                ax.set_ylim(*data_limits)
                top.text(0.5, (lower + upper) / 2, "noise ceiling", ha="center", va="center", fontsize=6,
                         color="0.25", transform=mtransforms.blended_transform_factory(top.transAxes, top.transData),
                         gid="noise_ceiling_label")
            else:
                ax.set_ylim(min(data_limits[0], lower), max(data_limits[1], upper + 0.05 * span))
        else:
            ax.set_ylim(*data_limits)
            ax.text(0.98, 0.98, "no noise ceiling", transform=ax.transAxes, ha="right", va="top", fontsize=6,
                    color="0.35", gid="no_noise_ceiling")
        for axis in {top, ax}:
            for side in ("top", "right"):
                axis.spines[side].set_visible(False)
        if broken:
            break_y_axis(top, ax)
        ax.set_xticks(range(len(order)), order, rotation=40, ha="right", rotation_mode="anchor")
        ax.set_xlim(-0.6, len(order) - 0.4)
        top.set_title(titles[roi])
        if col == 0:
            ax.set_ylabel(f"RSA per subject ({symbol})")
    ncol = 3
    handles = [Line2D([], [], linestyle="none", marker=marker[s], markersize=4, markeredgewidth=0.8,
                      markeredgecolor="0.3", markerfacecolor="white", label=s) for s in subject_ids]
    handles += [Line2D([], [], linestyle="none", label=" ")] * (-len(handles) % ncol)
    handles += [
        Line2D([], [], linestyle="none", marker="o", markersize=4, markeredgecolor="0.3", markerfacecolor="0.3",
               label=f"filled: subject's {significance_note(fdr, alpha)}"),
        Line2D([], [], color="black", linewidth=1.2, label="mean over subjects"),
        Line2D([], [], linestyle="none", marker="$*$", color="black", markersize=5,
               label=f"above a mean: its {_p_name(fdr)} < {alpha:g}"),
        Patch(facecolor="0.82", label="noise ceiling of the mean (lower–upper)"),
    ]
    fig.legend(handles=_row_major(handles, ncol), loc="outside lower center", ncol=ncol, frameon=False,
               handlelength=1.4, columnspacing=1.5)
    return fig


# ----------------------------------------------------------------------- partial

PARTIAL_COLUMNS = ["roi", "layer", "condition", "rho_mean", "rho_partial_mean", "rho_partial_std", "p", "p_fdr"]


def plot_partial(
    partial: pd.DataFrame,
    conditions: Sequence[str],
    *,
    method: str = "spearman",
    fdr: Mapping[str, str] | None = None,
    alpha: float = ALPHA,
    source: str = "partial.tsv",
) -> plt.Figure:
    """Plain vs pixel-controlled (partial) RSA per condition, one panel per ROI.

    Per condition a dumbbell: the open marker is the plain ``rho_mean``, the filled one
    ``rho_partial_mean`` with +- ``rho_partial_std`` (over seeds); ``*`` right of it where
    the partial test's p_fdr < alpha.
    """
    _require(partial, PARTIAL_COLUMNS, source)
    if partial.empty:
        return _message_figure(f"No partial RSA: it is computed for Spearman and Pearson RSA only "
                               f"(this run: {method}).")
    table = _numeric(partial, ["rho_mean", "rho_partial_mean", "rho_partial_std", "p", "p_fdr"])
    _check_conditions(table["condition"].unique(), conditions, source)
    palette = condition_palette(conditions)
    order = _ordered(conditions, table["condition"].unique())
    x_of = {c: i for i, c in enumerate(order)}
    titles = _roi_titles(table)
    rois = list(titles)
    fig, axes = plt.subplots(1, len(rois), figsize=(DOUBLE_COLUMN, 2.5), squeeze=False, layout="constrained")
    fig.get_layout_engine().set(w_pad=0.04, wspace=0.03)
    dx = 0.17
    for ax, roi in zip(axes[0], rois):
        rows = table[table["roi"] == roi]
        for _, row in rows.iterrows():
            x, colour = x_of[row["condition"]], palette[row["condition"]]
            plain, value, std = row["rho_mean"], row["rho_partial_mean"], row["rho_partial_std"]
            ax.plot([x - dx, x + dx], [plain, value], color=colour, linewidth=0.8, alpha=0.7, zorder=2, gid="link")
            ax.plot([x - dx], [plain], linestyle="none", marker="o", markersize=4, markerfacecolor="white",
                    markeredgecolor=colour, markeredgewidth=1.0, zorder=3, gid="plain")
            has_std = bool(np.isfinite(std))
            ax.errorbar([x + dx], [value], yerr=[std] if has_std else None, fmt="o", markersize=4, color=colour,
                        markeredgecolor=colour, elinewidth=0.9, capsize=1.8, capthick=0.9, zorder=3, gid="partial")
            if is_significant(row["p_fdr"], alpha):  # right of the partial marker, clear of the link
                ax.text(x + dx + 0.09, value, MARK, ha="left", va="center", fontsize=9, fontweight="bold",
                        gid="significant")
        std = rows["rho_partial_std"].fillna(0.0)
        values = np.concatenate([rows["rho_mean"], rows["rho_partial_mean"] - std, rows["rho_partial_mean"] + std])
        lo, hi = min(0.0, np.nanmin(values, initial=0.0)), max(0.0, np.nanmax(values, initial=0.0))
        span = (hi - lo) or 1e-3
        ax.set_ylim(lo - 0.06 * span, hi + 0.08 * span)
        ax.axhline(0, color="black", linewidth=0.6, zorder=1, gid="zero")
        ax.set_xticks(range(len(order)), order, rotation=40, ha="right", rotation_mode="anchor")
        ax.set_xlim(-0.6, len(order) - 0.4)
        ax.set_title(titles[roi])
        ax.yaxis.set_major_locator(MaxNLocator(5))
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    symbol = method_label(method)
    axes[0, 0].set_ylabel(f"RSA, group RDM ({symbol})")
    controls = ", ".join(dict.fromkeys(partial["control"].astype(str))) if "control" in partial else "pixel"
    handles = [
        Line2D([], [], linestyle="none", marker="o", markersize=4, markerfacecolor="white", markeredgecolor="0.3",
               label="plain RSA (seed mean)"),
        Line2D([], [], linestyle="-", marker="o", markersize=4, color="0.3",
               label=f"partial RSA, {controls} RDM controlled (seed mean ± std)"),
        Line2D([], [], linestyle="none", marker="$*$", color="black", markersize=5,
               label=f"partial {significance_note(fdr, alpha)}"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncol=3, frameon=False, handlelength=1.4)
    return fig
