"""Figures of the RSA results: the main figure (RSA per ROI with seeds, the
intervals, the group noise ceiling and FDR-corrected significance), the hierarchical
gradient across ROIs, seed variability, the layer x ROI heatmap and the scores as a
fraction of the noise ceiling.

Every function takes data frames (the workflow's tables) and returns a figure; the
thin ``plot_*`` scripts read the tables with :func:`read_table` and save the figure.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle

from lrrsa.figures.style import DOUBLE_COLUMN, SINGLE_COLUMN, break_y_axis, condition_palette, method_label, require_columns
from lrrsa import tsv
from lrrsa.scoring import mapped_scores
from lrrsa.significance import DAGGER, dagger, stars

#: Columns each figure reads from the workflow's tables.
SCORE_COLUMNS = ["condition", "seed", "layer", "roi", "subject", "rho"]
SUMMARY_COLUMNS = ["roi", "layer", "condition", "ci_low", "ci_high", "p_fdr", "reference", "p_vs_reference_fdr"]
CEILING_COLUMNS = ["roi", "subject", "lower", "upper"]
PIXEL_COLUMNS = ["roi", "test", "subject", "rho_pixel"]
LAYER_COLUMNS = ["roi", "layer", "condition", "rho_mean", "mapped", "best"]
BAR_GROUP_WIDTH = 0.8
CEILING_COLOUR = "0.82"
PIXEL_COLOUR = "0.15"
PIXEL_DASHES = (0, (3, 2))


# --------------------------------------------------------------------- inputs


def read_table(path: str | Path, columns: Sequence[str]) -> pd.DataFrame:
    """A TSV of the workflow, checked for the columns a figure needs."""
    table = tsv.read_table(path)
    require_columns(table, columns, str(path))
    return table


def seed_scores(scores: pd.DataFrame, layer_map: Mapping[str, str], conditions: Sequence[str]) -> pd.DataFrame:
    """The group-RDM score of each seed at each ROI's mapped layer, every (roi,
    condition) present, with ``x`` (ROI index) and ``roi_label``."""
    require_columns(scores, SCORE_COLUMNS, "scores")
    data = mapped_scores(scores, layer_map)
    data = data[data["condition"].isin(conditions)]
    present = set(zip(data["roi"], data["condition"]))
    missing = [(roi, c) for roi in layer_map for c in conditions if (roi, c) not in present]
    if missing:
        raise ValueError(f"scores: no group-RDM scores at the mapped layer (rsa.layer_map) for (roi, condition) "
                         f"{missing}")
    return data


def seed_statistics(data: pd.DataFrame) -> pd.DataFrame:
    """Per (roi, condition): mean, std (ddof 1; 0 with one seed) and number of seeds."""
    out = data.groupby(["roi", "condition"], sort=False)["rho"].agg(mean="mean", std="std", n="count").reset_index()
    out["std"] = out["std"].fillna(0.0)
    return out


def group_ceiling(ceiling: pd.DataFrame, rois: Sequence[str]) -> pd.DataFrame:
    """The ``group`` rows of noise_ceiling.tsv (bounds of scores against the group RDM), by ROI."""
    require_columns(ceiling, CEILING_COLUMNS, "noise ceiling")
    group = ceiling[ceiling["subject"].astype(str) == "group"].set_index("roi")
    missing = [roi for roi in rois if roi not in group.index]
    if missing:
        raise ValueError(f"noise ceiling: no 'group' row for ROI(s) {missing}; the group-RDM figures need the "
                         "ceiling of the group RDM (rule estimate_noise_ceiling writes it)")
    return group.loc[list(rois), ["lower", "upper"]]


def pixel_scores(pixel: pd.DataFrame, rois: Sequence[str]) -> pd.Series:
    """The pixel RDM's score against the group RDM per ROI (pixel_baseline.tsv, rows
    ``score`` of subject ``group``)."""
    require_columns(pixel, PIXEL_COLUMNS, "pixel baseline")
    group = pixel[(pixel["test"] == "score") & (pixel["subject"].astype(str) == "group")].set_index("roi")
    missing = [roi for roi in rois if roi not in group.index]
    if missing:
        raise ValueError(f"pixel baseline: no group score for ROI(s) {missing} (rule tabulate_pixel_baseline "
                         "writes them)")
    return group.loc[list(rois), "rho_pixel"].astype(float)


def significance_mark(p_fdr: float, p_vs_reference_fdr: float = np.nan) -> str:
    """'*', '**', '***' for FDR p below .05, .01, .001 (vs zero); a dagger above them
    when the difference from the reference condition has FDR p < .05."""
    return "\n".join(part for part in (dagger(p_vs_reference_fdr), stars(p_fdr)) if part)


# ------------------------------------------------------------------- helpers


def _roi_labels(layer_map: Mapping[str, str]) -> list[str]:
    return [f"{roi}\n({layer})" for roi, layer in layer_map.items()]


def _offsets(k: int, width: float = BAR_GROUP_WIDTH) -> np.ndarray:
    """Centres of k dodged bars within a group of this width around 0."""
    return (np.arange(k) - (k - 1) / 2) * width / k


def _seed_jitter(n: int, bar_width: float) -> np.ndarray:
    """Fixed horizontal offsets of n seeds' dots inside a bar (deterministic)."""
    return np.zeros(1) if n == 1 else np.linspace(-0.3, 0.3, n) * bar_width


def _score_axes(fig: plt.Figure, data_range: tuple[float, float], band_range: tuple[float, float] | None):
    """One axis, or a broken y axis (band on top, data below) when the noise ceiling is
    so far above the scores that a single axis would flatten them (they would fill
    less than 40 % of it). Returns (data axis, band axis or None)."""
    lo, hi = min(data_range[0], 0.0), max(data_range[1], 0.0)
    span = max(hi - lo, 1e-3)
    if band_range is None or not np.isfinite(band_range).all():
        ax = fig.add_subplot()
        ax.set_ylim(lo - 0.05 * span, hi + 0.15 * span)
        return ax, None
    b_lo, b_hi = band_range
    full = max(hi, b_hi) - min(lo, b_lo)
    if span / full >= 0.4:
        ax = fig.add_subplot()
        top = max(hi + 0.15 * span, b_hi + 0.05 * full)
        ax.set_ylim(min(lo, b_lo) - 0.05 * full, top)
        return ax, None
    grid = fig.add_gridspec(2, 1, height_ratios=[1, 3])
    ax_band = fig.add_subplot(grid[0])
    ax = fig.add_subplot(grid[1], sharex=ax_band)
    b_span = max(b_hi - b_lo, 0.05)
    ax_band.set_ylim(b_lo - 0.15 * b_span, b_hi + 0.15 * b_span)
    ax.set_ylim(lo - 0.05 * span, hi + 0.18 * span)
    ax_band.spines[["top", "right"]].set_visible(False)
    break_y_axis(ax_band, ax)
    return ax, ax_band


def _draw_bars(ax: plt.Axes, stats: pd.DataFrame, seeds: pd.DataFrame, layer_map: Mapping[str, str],
               conditions: Sequence[str], palette: Mapping[str, str]) -> dict[tuple[str, str], float]:
    """Bars (seed mean), +- 1 std segments and each seed's dot; returns each bar's x."""
    rois = list(layer_map)
    offsets = _offsets(len(conditions))
    bar_width = BAR_GROUP_WIDTH / len(conditions)
    positions = {}
    for j, condition in enumerate(conditions):
        rows = stats[stats["condition"] == condition].set_index("roi").loc[rois]
        x = np.arange(len(rois)) + offsets[j]
        positions.update({(roi, condition): xi for roi, xi in zip(rois, x)})
        ax.bar(x, rows["mean"], width=bar_width * 0.92, color=palette[condition], label=condition, zorder=2,
               edgecolor="none")
        ax.vlines(x, rows["mean"] - rows["std"], rows["mean"] + rows["std"], colors="0.1", linewidth=2.0, zorder=3,
                  gid="sd")
        per_seed = seeds[seeds["condition"] == condition]
        seed_ids = sorted(per_seed["seed"].unique())
        jitter = dict(zip(seed_ids, _seed_jitter(len(seed_ids), bar_width)))
        sx = per_seed["roi"].map({roi: xi for roi, xi in zip(rois, x)}) + per_seed["seed"].map(jitter)
        ax.scatter(sx, per_seed["rho"], s=7, facecolor="white", edgecolor="0.1", linewidth=0.5, zorder=5,
                   gid=f"seeds:{condition}")
    ax.set_xticks(np.arange(len(rois)), _roi_labels(layer_map))
    ax.set_xlim(-0.5, len(rois) - 0.5)
    ax.axhline(0, color="black", linewidth=0.6, zorder=1)
    return positions


def _draw_band(axes: Sequence[plt.Axes], rois: Sequence[str], lower: Sequence[float], upper: Sequence[float]) -> None:
    for ax in axes:
        for i, (lo, hi) in enumerate(zip(lower, upper)):
            if np.isfinite(lo) and np.isfinite(hi):
                ax.add_patch(Rectangle((i - 0.47, lo), 0.94, hi - lo, facecolor=CEILING_COLOUR, edgecolor="none",
                                       zorder=0, gid="noise-ceiling"))


def _finish(ax: plt.Axes, ax_band: plt.Axes | None, ylabel: str) -> None:
    ax.spines[["top", "right"]].set_visible(False)
    ax.set_xlabel("ROI (mapped model layer)")
    ax.set_ylabel(ylabel)


# ----------------------------------------------------------------- main figure


def plot_rsa_by_roi(
    scores: pd.DataFrame, layer_map: Mapping[str, str], conditions: Sequence[str], *,
    summary: pd.DataFrame | None = None, ceiling: pd.DataFrame | None = None, pixel: pd.DataFrame | None = None,
    method: str = "spearman", interval: str = "95% interval", corrected: bool = True,
) -> plt.Figure:
    """Main result: group-RDM RSA per ROI (its mapped layer) and condition.

    Bars: mean over seeds; thick segments: +- 1 std over seeds; dots: the seeds.
    With ``summary`` (summary.tsv): thin capped lines, the interval of the seed mean
    (``ci_low``, ``ci_high``; ``interval`` names it, :func:`lrrsa.significance.interval_label`), and significance marks above each bar (stars: FDR p of
    rho > 0; dagger: FDR p of the difference from the reference condition). With
    ``ceiling`` (noise_ceiling.tsv): the group RDM's noise ceiling as a grey band per
    ROI (its ``group`` row, lower to upper); where the band lies far above the scores
    the y axis is broken. With ``pixel`` (pixel_baseline.tsv): a short dashed line
    across each ROI's bars at the pixel RDM's score against the group RDM (the
    low-level baseline). ``corrected``: whether ``p_fdr`` is corrected (False for
    ``stats.fdr.family: none``), for the legend's wording.
    """
    conditions = list(conditions)
    rois = list(layer_map)
    seeds = seed_scores(scores, layer_map, conditions)
    stats = seed_statistics(seeds)
    intervals = None
    if summary is not None:
        require_columns(summary, SUMMARY_COLUMNS, "summary")
        intervals = summary.merge(pd.DataFrame(list(layer_map.items()), columns=["roi", "layer"]), on=["roi", "layer"])
        intervals = intervals[intervals["condition"].isin(conditions)].set_index(["roi", "condition"])
        missing = [(r, c) for r in rois for c in conditions if (r, c) not in intervals.index]
        if missing:
            raise ValueError(f"summary: no rows at the mapped layer for (roi, condition) {missing}")
    band = group_ceiling(ceiling, rois) if ceiling is not None else None
    baseline = pixel_scores(pixel, rois) if pixel is not None else None

    values = [seeds["rho"], stats["mean"] - stats["std"], stats["mean"] + stats["std"]]
    if intervals is not None:
        values += [intervals["ci_low"], intervals["ci_high"]]
    if baseline is not None:
        values.append(baseline)
    values = pd.concat(values).dropna()
    band_range = (band["lower"].min(), band["upper"].max()) if band is not None else None
    fig = plt.figure(figsize=(DOUBLE_COLUMN, 3.0), layout="constrained")
    ax, ax_band = _score_axes(fig, (values.min(), values.max()), band_range)
    palette = condition_palette(conditions)
    if band is not None:
        _draw_band([a for a in (ax, ax_band) if a is not None], rois, band["lower"], band["upper"])
    positions = _draw_bars(ax, stats, seeds, layer_map, conditions, palette)

    handles = [Patch(color=palette[c], label=c) for c in conditions]
    handles.append(Line2D([], [], linestyle="none", marker="o", markersize=3, markerfacecolor="white",
                          markeredgecolor="0.1", markeredgewidth=0.5, label="one seed"))
    handles.append(Line2D([], [], color="0.1", linewidth=2.0, label="± 1 SD over seeds"))
    if intervals is not None:
        keys = [(roi, c) for roi in rois for c in conditions]
        x = np.array([positions[key] for key in keys])
        low, high = intervals.loc[keys, "ci_low"].to_numpy(float), intervals.loc[keys, "ci_high"].to_numpy(float)
        if np.isfinite(low).any() or np.isfinite(high).any():
            cap = 0.25 * BAR_GROUP_WIDTH / len(conditions)
            ax.vlines(x, low, high, colors="black", linewidth=0.6, zorder=4, gid="ci")
            ax.hlines(np.concatenate([low, high]), np.tile(x - cap, 2), np.tile(x + cap, 2), colors="black",
                      linewidth=0.6, zorder=4, gid="ci-caps")
            handles.append(Line2D([], [], color="black", linewidth=0.6, marker="_", markersize=4,
                                  label=f"{interval} of the mean"))
        top = stats.set_index(["roi", "condition"])
        seed_max = seeds.groupby(["roi", "condition"])["rho"].max()
        reference = next((r for r in intervals["reference"].dropna().astype(str) if r), "")
        for key in keys:
            row = intervals.loc[key]
            mark = significance_mark(row["p_fdr"], row["p_vs_reference_fdr"])
            if mark:
                y = np.nanmax([row["ci_high"], top.loc[key, "mean"] + top.loc[key, "std"], seed_max.loc[key]])
                ax.annotate(mark, (positions[key], y), xytext=(0, 1.5), textcoords="offset points", ha="center",
                            va="bottom", fontsize=7.5, linespacing=0.8, gid="significance")
        p_label = "FDR p" if corrected else "p (uncorrected)"
        handles.append(Line2D([], [], linestyle="none", marker="$*$", markersize=4, color="black",
                              label=f"*, **, ***: {p_label} < .05, .01, .001\n(score > 0)"))
        if reference:
            handles.append(Line2D([], [], linestyle="none", marker=f"${DAGGER}$", markersize=4, color="black",
                                  label=f"{DAGGER}: differs from {reference}\n(test of equal scores,\n{p_label} < .05)"))
    if baseline is not None:
        x = np.arange(len(rois))
        ax.hlines(baseline.to_numpy(), x - BAR_GROUP_WIDTH / 2 - 0.03, x + BAR_GROUP_WIDTH / 2 + 0.03,
                  colors=PIXEL_COLOUR, linestyles=PIXEL_DASHES, linewidth=1.0, zorder=4.5, gid="pixel-baseline")
        handles.append(Line2D([], [], color=PIXEL_COLOUR, linestyle=PIXEL_DASHES, linewidth=1.0,
                              label="pixel RDM\n(low-level baseline)"))
    if band is not None:
        handles.append(Patch(color=CEILING_COLOUR, label="noise ceiling of\nthe group RDM"))
    _finish(ax, ax_band, f"RSA with the group RDM\n({method_label(method)})")
    fig.legend(handles=handles, loc="outside right upper", frameon=False, handlelength=1.4)
    return fig


# ------------------------------------------------------------------ hierarchy


def plot_hierarchy(scores: pd.DataFrame, layer_map: Mapping[str, str], conditions: Sequence[str], *,
                   method: str = "spearman") -> plt.Figure:
    """The gradient along the visual hierarchy: one line per condition across the ROIs
    in ``rsa.layer_map`` order (each at its mapped layer), points at the seed mean,
    error bars +- 1 std over seeds (conditions slightly dodged so bars do not overlap)."""
    conditions = list(conditions)
    rois = list(layer_map)
    stats = seed_statistics(seed_scores(scores, layer_map, conditions))
    palette = condition_palette(conditions)
    fig, ax = plt.subplots(figsize=(SINGLE_COLUMN, 2.7), layout="constrained")
    offsets = _offsets(len(conditions), width=0.3)
    for j, condition in enumerate(conditions):
        rows = stats[stats["condition"] == condition].set_index("roi").loc[rois]
        x = np.arange(len(rois)) + offsets[j]
        ax.plot(x, rows["mean"], marker="o", markersize=3, linewidth=1.0, color=palette[condition], label=condition,
                zorder=3)
        ax.errorbar(x, rows["mean"], yerr=rows["std"], fmt="none", ecolor=palette[condition], elinewidth=0.8,
                    capsize=1.5, capthick=0.8, zorder=2)
    ax.axhline(0, color="black", linewidth=0.6, zorder=1)
    ax.set_xticks(np.arange(len(rois)), _roi_labels(layer_map))
    ax.set_xlim(-0.4, len(rois) - 0.6)
    ax.set_xlabel("ROI along the hierarchy (mapped model layer)")
    ax.set_ylabel(f"RSA with the group RDM\n({method_label(method)}, mean ± SD over seeds)")
    ax.spines[["top", "right"]].set_visible(False)
    fig.legend(loc="outside upper center", ncol=min(3, len(conditions)), frameon=False, handlelength=1.6)
    return fig


# ---------------------------------------------------------------------- seeds

SEED_MARKERS = ["o", "s", "^", "D", "v", "P", "X", "<", ">", "h"]


def plot_seeds(scores: pd.DataFrame, layer_map: Mapping[str, str], conditions: Sequence[str], *,
               method: str = "spearman") -> plt.Figure:
    """Seed variability: one panel per ROI (own y scale), each condition's seeds as
    markers (one shape per seed), a thin grey line joining a seed across conditions
    (a seed fixes the initial weights of every condition), and the mean (black tick)
    +- 1 std (black line) over seeds."""
    conditions = list(conditions)
    rois = list(layer_map)
    seeds = seed_scores(scores, layer_map, conditions)
    stats = seed_statistics(seeds)
    seed_ids = sorted(seeds["seed"].unique())
    markers = {s: SEED_MARKERS[i % len(SEED_MARKERS)] for i, s in enumerate(seed_ids)}
    palette = condition_palette(conditions)
    ncols = min(4, len(rois))
    nrows = math.ceil(len(rois) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(DOUBLE_COLUMN, 2.3 * nrows), layout="constrained",
                             squeeze=False)
    x_of = {c: i for i, c in enumerate(conditions)}
    jitter = dict(zip(seed_ids, np.linspace(-0.15, 0.15, len(seed_ids)) if len(seed_ids) > 1 else [0.0]))
    for ax, roi in zip(axes.flat, rois):
        here = seeds[seeds["roi"] == roi]
        for seed in seed_ids:
            rows = here[here["seed"] == seed].set_index("condition").reindex(conditions)
            x = np.arange(len(conditions)) + jitter[seed]
            ax.plot(x, rows["rho"], color="0.7", linewidth=0.5, zorder=1, gid=f"seed-line:{seed}")
            ax.scatter(x, rows["rho"], marker=markers[seed], s=9, c=[palette[c] for c in conditions],
                       edgecolors="0.1", linewidths=0.3, zorder=3, gid=f"seeds:{seed}")
        rows = stats[stats["roi"] == roi].set_index("condition").loc[conditions]
        x = np.array([x_of[c] for c in conditions]) + 0.32
        ax.hlines(rows["mean"], x - 0.09, x + 0.09, colors="black", linewidth=1.2, zorder=4, gid="mean")
        ax.vlines(x, rows["mean"] - rows["std"], rows["mean"] + rows["std"], colors="black", linewidth=0.8,
                  zorder=4, gid="sd")
        ax.axhline(0, color="black", linewidth=0.5, linestyle=":", zorder=0)
        ax.set_xticks(np.arange(len(conditions)), conditions, rotation=45, ha="right", rotation_mode="anchor")
        ax.set_xlim(-0.5, len(conditions) - 0.3)
        ax.set_title(f"{roi} ({layer_map[roi]})")
        ax.spines[["top", "right"]].set_visible(False)
    for ax in axes[:, 0]:
        ax.set_ylabel(f"RSA with the group RDM\n({method_label(method)})")
    for ax in list(axes.flat)[len(rois):]:
        ax.set_visible(False)
    handles = [Line2D([], [], linestyle="none", marker=markers[s], markersize=3.5, markerfacecolor="0.6",
                      markeredgecolor="0.1", markeredgewidth=0.3, label=f"seed {s}") for s in seed_ids]
    handles.append(Line2D([], [], color="black", linewidth=0.8, marker="_", markersize=6, markeredgewidth=1.2,
                          label="mean ± 1 SD over seeds"))
    fig.legend(handles=handles, loc="outside upper center", ncol=len(handles), frameon=False)
    return fig


# -------------------------------------------------------------- layer heatmap


def plot_layer_heatmap(layers: pd.DataFrame, conditions: Sequence[str], *, method: str = "spearman") -> plt.Figure:
    """Every layer x ROI (layers.tsv): one panel per condition, colour and number the
    seed mean of the score against the group RDM (one colour scale, centred on 0);
    a black frame marks the layer ``rsa.layer_map`` assigns, a star the best layer
    chosen on a random half of the stimuli (``best``)."""
    require_columns(layers, LAYER_COLUMNS, "layers")
    conditions = list(conditions)
    missing = [c for c in conditions if c not in set(layers["condition"])]
    if missing:
        raise ValueError(f"layers: no rows for condition(s) {missing}")
    rois = list(dict.fromkeys(layers["roi"]))
    layer_names = list(dict.fromkeys(layers["layer"]))
    flags = layers[["mapped", "best"]].astype(str).apply(lambda col: col.str.lower().isin(["true", "1"]))
    layers = layers.assign(mapped=flags["mapped"], best=flags["best"])
    vmax = float(np.nanmax(np.abs(layers["rho_mean"]))) or 1.0
    ncols = min(3, len(conditions))
    nrows = math.ceil(len(conditions) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(DOUBLE_COLUMN, 0.35 + (0.35 * len(rois) + 0.55) * nrows),
                             layout="constrained", squeeze=False, sharex=True, sharey=True)
    image = None
    for ax, condition in zip(axes.flat, conditions):
        here = layers[layers["condition"] == condition]
        grid = here.pivot_table(index="roi", columns="layer", values="rho_mean", aggfunc="first")
        grid = grid.reindex(index=rois, columns=layer_names)
        image = ax.imshow(grid.to_numpy(dtype=float), cmap="RdBu_r", vmin=-vmax, vmax=vmax, aspect="auto")
        for i, roi in enumerate(rois):
            for j, layer in enumerate(layer_names):
                value = grid.iloc[i, j]
                if np.isfinite(value):
                    text = f"{value:.3f}".replace("0.", ".", 1)
                    ax.text(j, i, text, ha="center", va="center", fontsize=5.5,
                            color="white" if abs(value) > 0.6 * vmax else "black", gid="value")
        for _, row in here[here["mapped"]].iterrows():
            i, j = rois.index(row["roi"]), layer_names.index(row["layer"])
            ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="black", linewidth=1.3,
                                   gid="mapped"))
        best = here[here["best"]]
        ax.plot([layer_names.index(lay) + 0.32 for lay in best["layer"]], [rois.index(r) - 0.22 for r in best["roi"]],
                linestyle="none", marker="*", markersize=4.5, color="black", markeredgecolor="white",
                markeredgewidth=0.3, gid="best")
        ax.set_title(condition)
        ax.set_xticks(range(len(layer_names)), layer_names)
        ax.set_yticks(range(len(rois)), rois)
        ax.tick_params(length=0)
    for ax in list(axes.flat)[len(conditions):]:
        ax.set_visible(False)
    for ax in axes[-1, :]:
        ax.set_xlabel("model layer")
    for ax in axes[:, 0]:
        ax.set_ylabel("ROI")
    fig.colorbar(image, ax=axes, shrink=0.9, label=f"RSA with the group RDM\n({method_label(method)}, seed mean)")
    handles = [Patch(fill=False, edgecolor="black", linewidth=1.3, label="mapped layer (rsa.layer_map)"),
               Line2D([], [], linestyle="none", marker="*", markersize=5, color="black",
                      label="best layer, chosen on a random half of the stimuli")]
    fig.legend(handles=handles, loc="outside lower center", ncol=2, frameon=False)
    return fig


# ------------------------------------------------------------ noise normalised


def plot_noise_normalised(scores: pd.DataFrame, ceiling: pd.DataFrame, layer_map: Mapping[str, str],
                          conditions: Sequence[str], *, method: str = "spearman") -> plt.Figure:
    """Scores as a fraction of the noise ceiling: every seed's group-RDM score divided
    by the ROI's group noise-ceiling upper bound (the expected score of the true RDM),
    i.e. Spearman's correction for attenuation. Bars: seed mean; segments: +- 1 std;
    dots: seeds; grey band: the ceiling on the same scale (lower / upper to 1)."""
    conditions = list(conditions)
    rois = list(layer_map)
    band = group_ceiling(ceiling, rois)
    bad = [roi for roi in rois if not (band.loc[roi, "upper"] > 0)]
    if bad:
        raise ValueError(f"noise ceiling: the group upper bound of ROI(s) {bad} is not positive; the scores "
                         "cannot be expressed as a fraction of it")
    seeds = seed_scores(scores, layer_map, conditions)
    seeds = seeds.assign(rho=seeds["rho"] / seeds["roi"].map(band["upper"]))
    stats = seed_statistics(seeds)
    lower = band["lower"] / band["upper"]
    values = pd.concat([seeds["rho"], stats["mean"] - stats["std"], stats["mean"] + stats["std"]])
    fig = plt.figure(figsize=(DOUBLE_COLUMN * 0.75, 2.8), layout="constrained")
    ax, ax_band = _score_axes(fig, (values.min(), values.max()), (lower.min(), 1.0))
    _draw_band([a for a in (ax, ax_band) if a is not None], rois, lower, np.ones(len(rois)))
    palette = condition_palette(conditions)
    _draw_bars(ax, stats, seeds, layer_map, conditions, palette)
    handles = [Patch(color=palette[c], label=c) for c in conditions]
    handles += [Line2D([], [], linestyle="none", marker="o", markersize=3, markerfacecolor="white",
                       markeredgecolor="0.1", markeredgewidth=0.5, label="one seed"),
                Line2D([], [], color="0.1", linewidth=2.0, label="± 1 SD over seeds"),
                Patch(color=CEILING_COLOUR, label="noise ceiling\n(lower ÷ upper to 1)")]
    _finish(ax, ax_band, f"RSA / noise ceiling\n(upper bound, group RDM; {method_label(method)})")
    fig.legend(handles=handles, loc="outside right upper", frameon=False, handlelength=1.4)
    return fig
