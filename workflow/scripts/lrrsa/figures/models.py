"""Figures of the models themselves: the architecture and its layer-to-ROI map, the
training dynamics, how far each layer moved from its initialisation, and the conv1
filters with their Gabor-likeness."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from lrrsa.figures.style import DOUBLE_COLUMN, condition_palette

HISTORY_COLUMNS = ["epoch", "test_loss", "test_acc"]


# ---- architecture -----------------------------------------------------------------

ROW_FILL = {"conv": "#dbe9f6", "pool": "#eeeeee", "avgpool": "#eeeeee", "fc": "#fde5cc", "input": "#ffffff"}
ROI_FILL = "#d9f0d3"


def _row_kind(layer: str) -> str:
    for kind in ("avgpool", "conv", "pool", "fc", "input"):
        if layer.startswith(kind):
            return kind
    return "input"


def output_columns(table: pd.DataFrame) -> list[tuple[str, int]]:
    """The (column, image size) of every ``output_<size>px`` column, in table order."""
    return [(c, int(m.group(1))) for c in table.columns if (m := re.fullmatch(r"output_(\d+)px", c))]


def plot_architecture(table: pd.DataFrame, layer_map: Mapping[str, str],
                      roles: Sequence[str] = ("training", "stimuli")) -> plt.Figure:
    """Block diagram of the network from its architecture table (lrrsa.architecture):
    one box per stage, top to bottom, with its operation, units, kernel, output shape at
    each image size and parameters; arrows link each layer to the ROIs ``layer_map``
    compares it with. ``roles`` names the image sizes of the output columns, in order."""
    needed = {"layer", "operation", "units", "kernel", "parameters"}
    if missing := needed - set(table.columns):
        raise ValueError(f"architecture table lacks columns {sorted(missing)}")
    outputs = output_columns(table)
    if not outputs:
        raise ValueError("architecture table has no output_<size>px column")
    layers = table["layer"].tolist()
    unknown = {roi: layer for roi, layer in layer_map.items() if layer not in layers}
    if unknown:
        raise ValueError(f"rsa.layer_map names layers the architecture does not have: {unknown} (layers: {layers})")

    n = len(table)
    fig, ax = plt.subplots(figsize=(DOUBLE_COLUMN, 0.26 * (n + 2)), constrained_layout=True)
    ax.set_xlim(-0.45, 10.0)
    ax.set_ylim(n - 0.4, -1.6)
    ax.axis("off")
    box_right, roi_left, roi_right = 8.0, 8.85, 9.85
    out_x = [4.55 + 1.2 * i for i in range(len(outputs))]
    if len(outputs) == 1:
        labels = [f"output, {outputs[0][1]} px\n({' and '.join(roles)})"]
    else:
        labels = [f"output, {size} px\n({roles[i] if i < len(roles) else 'image size'})"
                  for i, (_, size) in enumerate(outputs)]
    header = [(0.1, "layer", "left"), (0.85, "operation", "left"), (3.85, "units", "right"), (3.98, "kernel", "left"),
              *[(x, label, "left") for x, label in zip(out_x, labels)], (box_right - 0.08, "parameters", "right"),
              ((roi_left + roi_right) / 2, "ROI\n(RSA)", "center")]
    for x, text, ha in header:
        ax.text(x, -0.85, text, ha=ha, va="center", fontsize=6.5, fontweight="bold", color="#333333")

    for i, row in enumerate(table.itertuples(index=False)):
        row = row._asdict()
        box = FancyBboxPatch((0, i - 0.36), box_right, 0.72, boxstyle="round,pad=0,rounding_size=0.12",
                             facecolor=ROW_FILL[_row_kind(row["layer"])], edgecolor="#555555", linewidth=0.6,
                             label=f"layer:{row['layer']}")
        ax.add_patch(box)
        ax.text(0.1, i, row["layer"], ha="left", va="center", fontweight="bold")
        ax.text(0.85, i, re.sub(r"(\d)x(\d)", "\\1\u00d7\\2", row["operation"]).replace("->", "\u2192"), ha="left",
                va="center")
        ax.text(3.85, i, str(row["units"]), ha="right", va="center")
        kernel = row["kernel"] if isinstance(row["kernel"], str) else ""
        ax.text(3.98, i, kernel.replace("x", "\u00d7"), ha="left", va="center")
        for x, (column, _) in zip(out_x, outputs):
            ax.text(x, i, str(row[column]).replace(" x ", "\u00d7"), ha="left", va="center")
        ax.text(box_right - 0.08, i, f"{int(row['parameters']):,}" if row["parameters"] else "\u2013",
                ha="right", va="center")
        if i:
            ax.add_patch(FancyArrowPatch((-0.22, i - 1 + 0.2), (-0.22, i - 0.2), arrowstyle="-|>", mutation_scale=6,
                                         color="#555555", linewidth=0.6, label="flow"))

    # ROIs beside the layer they are compared with, in depth order, never overlapping.
    placed: list[tuple[float, str, str]] = []
    for roi, layer in sorted(layer_map.items(), key=lambda item: layers.index(item[1])):
        y = float(layers.index(layer))
        if placed:
            y = max(y, placed[-1][0] + 0.9)
        placed.append((y, roi, layer))
    for y, roi, layer in placed:
        ax.add_patch(FancyBboxPatch((roi_left, y - 0.32), roi_right - roi_left, 0.64,
                                    boxstyle="round,pad=0,rounding_size=0.12", facecolor=ROI_FILL, edgecolor="#3a7d2c",
                                    linewidth=0.8, label=f"roi:{roi}"))
        ax.text((roi_left + roi_right) / 2, y, roi, ha="center", va="center", fontweight="bold")
        ax.add_patch(FancyArrowPatch((box_right, layers.index(layer)), (roi_left, y), arrowstyle="-|>",
                                     mutation_scale=7, color="#3a7d2c", linewidth=0.8, shrinkA=1, shrinkB=1,
                                     label=f"link:{layer}->{roi}"))
    total = int(table["parameters"].sum())
    ax.set_title(f"Network architecture ({total:,} trainable parameters) and the layer each ROI is compared with",
                 loc="left")
    return fig


# ---- training dynamics ------------------------------------------------------------

def read_histories(items: Iterable[tuple[str, int, str | Path]]) -> pd.DataFrame:
    """Concatenate (condition, seed, history.tsv) into one frame with condition and seed
    columns; a file without epoch, test_loss and test_acc is an error naming it."""
    frames = []
    for condition, seed, path in items:
        history = pd.read_csv(path, sep="\t")
        if missing := [c for c in HISTORY_COLUMNS if c not in history.columns]:
            raise ValueError(f"{path}: expected columns {HISTORY_COLUMNS} of a training history; missing {missing}")
        if history.empty or history["epoch"].min() != 0:
            raise ValueError(f"{path}: expected one row per epoch starting at epoch 0 (the initial network)")
        frames.append(history.assign(condition=condition, seed=int(seed)))
    if not frames:
        raise ValueError("no training histories given")
    return pd.concat(frames, ignore_index=True)


def plot_training_dynamics(histories: pd.DataFrame, conditions: Sequence[str], n_classes: int) -> plt.Figure:
    """Held-out loss and accuracy per epoch: per condition the mean over seeds (line) and
    the range over seeds (band, minimum to maximum). A condition with only epoch 0 (never
    trained) is drawn as a dashed level across all epochs. Reference lines: chance
    accuracy 1 / n_classes and the loss of a uniform prediction, ln(n_classes)."""
    palette = condition_palette(conditions)
    data = histories.assign(test_acc=100 * histories["test_acc"])
    last_epoch = max(int(data["epoch"].max()), 1)
    fig, axes = plt.subplots(1, 2, figsize=(DOUBLE_COLUMN, 2.5), constrained_layout=True)
    chance = f"chance: accuracy 1/{n_classes},\nloss ln {n_classes} (uniform guess)"
    panels = [("test_loss", "held-out loss (cross-entropy)", math.log(n_classes), chance),
              ("test_acc", "held-out accuracy (%)", 100 / n_classes, chance)]
    for ax, (column, label, reference, reference_label) in zip(axes, panels):
        for condition in conditions:
            rows = data[data["condition"] == condition]
            if rows.empty:
                continue
            stats = rows.groupby("epoch")[column].agg(["mean", "min", "max"]).reset_index()
            colour = palette[condition]
            if stats["epoch"].max() == 0:  # never trained: its epoch-0 level across the plot
                x = np.array([0, last_epoch])
                ax.plot(x, np.repeat(stats["mean"].iloc[0], 2), color=colour, linestyle="--", linewidth=1.2,
                        label=f"{condition} (epoch 0 only)", gid=f"line:{condition}")
                ax.fill_between(x, stats["min"].iloc[0], stats["max"].iloc[0], color=colour, alpha=0.2, linewidth=0,
                                gid=f"band:{condition}")
            else:
                ax.plot(stats["epoch"], stats["mean"], color=colour, marker="o", markersize=2.5, linewidth=1.2,
                        label=condition, gid=f"line:{condition}")
                ax.fill_between(stats["epoch"], stats["min"], stats["max"], color=colour, alpha=0.2, linewidth=0,
                                gid=f"band:{condition}")
        ax.axhline(reference, color="black", linestyle=":", linewidth=0.9, label=reference_label, gid="reference")
        ax.set_xlabel("epoch (0 = initial network, before training)")
        ax.set_ylabel(label)
        ax.set_xlim(-0.2, last_epoch + 0.2)
        ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
        sns.despine(ax=ax)
    axes[0].set_title("Held-out loss")
    axes[1].set_title("Held-out accuracy")
    axes[1].set_ylim(bottom=0)
    n_seeds = data.groupby("condition")["seed"].nunique().max()
    handles, labels = axes[1].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right upper", frameon=False,
               title=f"mean of {n_seeds} seeds;\nband: seed range")
    return fig


# ---- drift from the initialisation -----------------------------------------------

def drift_layers(histories: pd.DataFrame) -> list[str]:
    """The layers with a ``drift_<layer>`` column, in column order (input to output)."""
    layers = [c.removeprefix("drift_") for c in histories.columns if c.startswith("drift_")]
    if not layers:
        raise ValueError("the training histories have no drift_<layer> columns (written by lrrsa.training for "
                         "every rule); retrain with the current code")
    return layers


def final_drift(histories: pd.DataFrame) -> pd.DataFrame:
    """Per condition, seed and layer: the drift at the seed's last epoch (epoch 0 for a
    condition that is never trained). Columns condition, seed, layer, epoch, drift."""
    layers = drift_layers(histories)
    last = histories.loc[histories.groupby(["condition", "seed"], sort=False)["epoch"].idxmax()]
    long = last.melt(id_vars=["condition", "seed", "epoch"], value_vars=[f"drift_{name}" for name in layers],
                     var_name="layer", value_name="drift")
    long["layer"] = long["layer"].str.removeprefix("drift_")
    if long["drift"].isna().any():
        bad = long[long["drift"].isna()].iloc[0]
        raise ValueError(f"no drift_{bad['layer']} at the last epoch of condition {bad['condition']}, seed {bad['seed']}")
    return long


def plot_drift(histories: pd.DataFrame, conditions: Sequence[str], linear_below: float = 1e-4) -> plt.Figure:
    """How far each layer moved from the seed's initialisation (``drift_<layer>`` of the
    histories: 1 - the mean cosine of each unit's weights with its initial weights).

    (a) At the last epoch, per layer (x) and condition (colour): the seed mean (marker)
    and the seed range (line, minimum to maximum), on a symmetric-log axis (linear below
    ``linear_below``: drift grows as the square of small angles, so layers differ by
    orders of magnitude). (b) Per layer, drift over the epochs on the layer's own linear
    axis: seed mean (line) and range (band); a never-trained condition is a dashed level."""
    palette = condition_palette(conditions)
    layers = drift_layers(histories)
    order = [c for c in conditions if c in set(histories["condition"])]
    final = final_drift(histories)
    fig = plt.figure(figsize=(DOUBLE_COLUMN, 4.6), constrained_layout=True)
    grid = fig.add_gridspec(2, len(layers), height_ratios=[1.35, 1.0])
    ax = fig.add_subplot(grid[0, :])
    width = 0.8 / max(len(order), 1)
    for k, condition in enumerate(order):
        stats = (final[final["condition"] == condition].groupby("layer")["drift"].agg(["mean", "min", "max"])
                 .reindex(layers))
        x = np.arange(len(layers)) - 0.4 + width * (k + 0.5)
        ax.vlines(x, stats["min"], stats["max"], color=palette[condition], linewidth=1.4, gid=f"range:{condition}")
        ax.plot(x, stats["mean"], linestyle="none", marker="o", markersize=3.5, color=palette[condition],
                label=condition, gid=f"drift:{condition}")
    ax.set_xticks(np.arange(len(layers)), layers)
    ax.set_xlim(-0.5, len(layers) - 0.5)
    ax.set_yscale("symlog", linthresh=linear_below, linscale=0.5)
    ax.set_ylim(0, max(1.0, float(final["drift"].max()) * 1.2))
    ax.set_ylabel("drift from initialisation\n(1 \u2212 mean cosine per unit)")
    ax.set_title("(a) How far each layer moved from the seed's initialisation, at the last epoch", loc="left")
    sns.despine(ax=ax)
    n_seeds = histories.groupby("condition")["seed"].nunique().max()
    fig.legend(*ax.get_legend_handles_labels(), loc="outside right upper", frameon=False,
               title=f"mean of {n_seeds} seeds;\nline, band: seed range")

    last_epoch = max(int(histories["epoch"].max()), 1)
    for j, layer in enumerate(layers):
        sub = fig.add_subplot(grid[1, j])
        for condition in order:
            rows = histories[histories["condition"] == condition]
            stats = rows.groupby("epoch")[f"drift_{layer}"].agg(["mean", "min", "max"]).reset_index()
            colour = palette[condition]
            if stats["epoch"].max() == 0:
                sub.plot([0, last_epoch], np.repeat(stats["mean"].iloc[0], 2), color=colour, linestyle="--",
                         linewidth=1.0, gid=f"line:{layer}:{condition}")
                continue
            sub.plot(stats["epoch"], stats["mean"], color=colour, linewidth=1.0, gid=f"line:{layer}:{condition}")
            sub.fill_between(stats["epoch"], stats["min"], stats["max"], color=colour, alpha=0.2, linewidth=0,
                             gid=f"band:{layer}:{condition}")
        sub.set_ylim(0, 1.05 * max(float(histories[f"drift_{layer}"].max()), 1e-6))
        sub.set_xlim(0, last_epoch)
        sub.xaxis.set_major_locator(plt.MaxNLocator(integer=True, nbins=4))
        sub.set_title(f"(b) {layer}" if j == 0 else layer, loc="left")
        sub.set_xlabel("epoch")
        if j == 0:
            sub.set_ylabel("drift over the epochs")
        sns.despine(ax=sub)
    return fig


# ---- conv1 filters ----------------------------------------------------------------

def filter_mosaic(weights: np.ndarray, columns: int = 16, gap: int = 1) -> np.ndarray:
    """Tile conv kernels (filters, channels, h, w) into one RGB image, each kernel scaled
    by its own largest |weight| so that grey (0.5) is 0; channels 1 (grey) or 3 (RGB)."""
    weights = np.asarray(weights, dtype=float)
    if weights.ndim != 4 or weights.shape[1] not in (1, 3):
        raise ValueError(f"expected conv weights (filters, 1 or 3 channels, h, w); got shape {weights.shape}")
    n, _, h, w = weights.shape
    columns = min(columns, n)
    rows = math.ceil(n / columns)
    mosaic = np.ones((rows * (h + gap) - gap, columns * (w + gap) - gap, 3))
    for k, kernel in enumerate(weights):
        scale = np.abs(kernel).max()
        tile = 0.5 + 0.5 * kernel / scale if scale > 0 else np.full_like(kernel, 0.5)
        tile = np.repeat(tile, 3, axis=0) if tile.shape[0] == 1 else tile
        r, c = divmod(k, columns)
        mosaic[r * (h + gap): r * (h + gap) + h, c * (w + gap): c * (w + gap) + w] = tile.transpose(1, 2, 0)
    return mosaic


def filter_summary(scores: pd.DataFrame, r2_threshold: float) -> pd.DataFrame:
    """Per condition and seed: the fraction of filters with Gabor R^2 >= r2_threshold
    (``gabor_like``; filters without an R^2 count as not Gabor-like) and the mean
    spectral peakedness."""
    grouped = scores.assign(passed=scores["gabor_r2"] >= r2_threshold).groupby(["condition", "seed"], sort=False)
    return grouped.agg(gabor_like=("passed", "mean"), peakedness=("peakedness", "mean"),
                       n_filters=("filter", "size")).reset_index()


def _baseline(ax: plt.Axes, summary: pd.DataFrame, column: str, baseline: str | None) -> None:
    if baseline is not None and baseline in set(summary["condition"]):
        level = summary.loc[summary["condition"] == baseline, column].mean()
        ax.axhline(level, color="#555555", linestyle="--", linewidth=0.9, label=f"{baseline} (chance baseline)",
                   gid="baseline")


def plot_filters(weights: Mapping[str, np.ndarray], scores: pd.DataFrame, conditions: Sequence[str], seed: int,
                 r2_threshold: float, baseline: str | None = "untrained") -> plt.Figure:
    """(a) the conv1 filters of every condition (seed ``seed``) as RGB tiles; (b) the
    distribution of Gabor fit R^2 over all filters and seeds; (c) the fraction of
    filters with R^2 >= r2_threshold and (d) the mean spectral peakedness, per seed
    (dots) and their mean (bar), with the ``baseline`` condition's level dashed.

    ``scores`` has one row per condition, seed and filter (lrrsa.gabor.score_filters
    columns ``filter``, ``gabor_r2``, ``peakedness``)."""
    if missing := {"condition", "seed", "filter", "gabor_r2", "peakedness"} - set(scores.columns):
        raise ValueError(f"filter scores lack columns {sorted(missing)}")
    if absent := [c for c in conditions if c not in weights]:
        raise ValueError(f"no conv1 weights for conditions {absent}")
    palette = condition_palette(conditions)
    order = [c for c in conditions if c in set(scores["condition"])]
    mosaics = {c: np.pad(filter_mosaic(weights[c]), ((1, 1), (1, 1), (0, 0)), constant_values=1.0) for c in conditions}
    mosaic_height = max(m.shape[0] / m.shape[1] for m in mosaics.values()) * DOUBLE_COLUMN * 0.82
    mosaic_height = min(max(mosaic_height, 0.3), 1.2)
    fig = plt.figure(figsize=(DOUBLE_COLUMN, len(conditions) * (mosaic_height + 0.08) + 2.4), constrained_layout=True)
    grid = fig.add_gridspec(len(conditions) + 1, 3, height_ratios=[mosaic_height] * len(conditions) + [2.0])
    for i, condition in enumerate(conditions):
        ax = fig.add_subplot(grid[i, :])
        ax.imshow(mosaics[condition], interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():  # a frame in the condition's colour groups its filters
            spine.set_edgecolor(palette[condition])
            spine.set_linewidth(1.2)
        ax.set_ylabel(condition, rotation=0, ha="right", va="center", color=palette[condition], fontweight="bold")
        if i == 0:
            ax.set_title(f"(a) conv1 filters, seed {seed} (each scaled to its largest |weight|; grey = 0)", loc="left")

    summary = filter_summary(scores, r2_threshold)
    ax_r2, ax_frac, ax_peak = (fig.add_subplot(grid[-1, j]) for j in range(3))
    sns.ecdfplot(data=scores, x="gabor_r2", hue="condition", hue_order=order, palette=palette, ax=ax_r2,
                 linewidth=1.0, legend=False)
    ax_r2.axvline(r2_threshold, color="black", linestyle=":", linewidth=0.9)
    ax_r2.set_xlim(0, 1)
    ax_r2.set_xlabel("Gabor fit $R^2$")
    ax_r2.set_ylabel("cumulative fraction of filters")
    n_seeds = scores.groupby("condition")["seed"].nunique().max()
    ax_r2.set_title(f"(b) Gabor fit, all filters of {n_seeds} seeds", loc="left")

    for ax, column, ylabel, title in [
        (ax_frac, "gabor_like", f"fraction with $R^2$ \u2265 {r2_threshold:g}", "(c) Gabor-like filters"),
        (ax_peak, "peakedness", "mean spectral peakedness", "(d) spectral peakedness"),
    ]:
        sns.barplot(data=summary, x="condition", y=column, hue="condition", order=order, hue_order=order,
                    palette=palette, errorbar=None, legend=False, ax=ax, alpha=0.85)
        sns.stripplot(data=summary, x="condition", y=column, order=order, color="black", size=2.5, jitter=0.15,
                      ax=ax)
        _baseline(ax, summary, column, baseline)
        ax.set_xlabel("")
        ax.set_ylabel(ylabel)
        ax.set_title(title, loc="left")
        ax.tick_params(axis="x", rotation=40)
        for tick in ax.get_xticklabels():
            tick.set_ha("right")
            tick.set_rotation_mode("anchor")
        sns.despine(ax=ax)
    ax_frac.set_ylim(0, 1)
    sns.despine(ax=ax_r2)
    if ax_frac.get_legend_handles_labels()[0]:
        ax_frac.legend(loc="upper center", frameon=False)
    return fig
