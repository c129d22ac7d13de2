"""The architecture table (against closed-form shapes and parameter counts) and the model
figures: what each draws (boxes, links, lines, bands, images, bars, reference lines)."""

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from lrrsa.architecture import describe_architecture
from lrrsa.figures.models import (filter_mosaic, filter_summary, final_drift, plot_architecture, plot_drift,
                                  plot_filters, plot_training_dynamics, read_histories)
from lrrsa.model import Architecture, ConvNet

LAYER_MAP = {"V1": "conv1", "V2": "conv1", "LOC": "conv3", "IT": "fc1"}


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


# ---- architecture -----------------------------------------------------------------

def test_architecture_table_has_closed_form_shapes_and_parameters():
    table = describe_architecture(Architecture(), [32, 224]).set_index("layer")
    assert list(table.index) == ["input", "conv1", "pool1", "conv2", "pool2", "conv3", "pool3", "avgpool", "fc1", "fc2"]
    assert list(table.columns) == ["operation", "units", "kernel", "output_32px", "output_224px", "parameters"]
    expected = {  # layer: (output at 32 px, output at 224 px, parameters)
        "input": ("3 x 32 x 32", "3 x 224 x 224", 0),
        "conv1": ("32 x 32 x 32", "32 x 224 x 224", 3 * 32 * 9 + 2 * 32),
        "pool1": ("32 x 16 x 16", "32 x 112 x 112", 0),
        "conv2": ("64 x 16 x 16", "64 x 112 x 112", 32 * 64 * 9 + 2 * 64),
        "conv3": ("128 x 8 x 8", "128 x 56 x 56", 64 * 128 * 9 + 2 * 128),
        "pool3": ("128 x 4 x 4", "128 x 28 x 28", 0),
        "avgpool": ("128 x 4 x 4", "128 x 4 x 4", 0),
        "fc1": ("512", "512", 128 * 16 * 512 + 512),
        "fc2": ("10", "10", 512 * 10 + 10),
    }
    for layer, (small, large, parameters) in expected.items():
        assert (table.loc[layer, "output_32px"], table.loc[layer, "output_224px"]) == (small, large), layer
        assert table.loc[layer, "parameters"] == parameters, layer
    assert table["parameters"].sum() == sum(p.numel() for p in ConvNet(Architecture()).parameters())
    assert table.loc["conv1", "kernel"] == "3x3" and table.loc["pool1", "kernel"] == "2x2"
    assert table.loc["conv2", "units"] == 64 and table.loc["fc1", "units"] == 512


def test_architecture_table_follows_the_config():
    arch = Architecture.from_config({"widths": [8, 16], "pool_size": 2, "fc_width": 32}, n_classes=4)
    table = describe_architecture(arch, [48, 48]).set_index("layer")  # equal sizes: one column
    assert [c for c in table.columns if c.startswith("output")] == ["output_48px"]
    assert table.loc["conv2", "output_48px"] == "16 x 24 x 24"
    assert table.loc["avgpool", "output_48px"] == "16 x 2 x 2"
    assert table.loc["fc1", "parameters"] == 16 * 4 * 32 + 32 and table.loc["fc2", "units"] == 4
    assert "conv3" not in table.index


def texts(fig):
    return [t.get_text() for ax in fig.axes for t in ax.texts]


def test_architecture_figure_draws_every_layer_and_each_roi_link():
    table = describe_architecture(Architecture(), [32, 224])
    fig = plot_architecture(table, LAYER_MAP)
    ax = fig.axes[0]
    labels = [p.get_label() for p in ax.patches]
    assert [l.removeprefix("layer:") for l in labels if l.startswith("layer:")] == list(table["layer"])
    assert sorted(l for l in labels if l.startswith("link:")) == sorted(f"link:{layer}->{roi}" for roi, layer in LAYER_MAP.items())
    assert sorted(l for l in labels if l.startswith("roi:")) == sorted(f"roi:{roi}" for roi in LAYER_MAP)
    assert labels.count("flow") == len(table) - 1
    drawn = texts(fig)
    for text in ["conv1", "fc1", "V1", "LOC", "32\u00d7224\u00d7224", "128\u00d756\u00d756", "1,049,088",
                 "output, 32 px\n(training)", "output, 224 px\n(stimuli)"]:
        assert text in drawn, text
    assert f"{table['parameters'].sum():,}" in ax.get_title(loc="left")
    # Two ROIs on one layer do not overlap.
    rois = {p.get_label(): p for p in ax.patches if p.get_label().startswith("roi:")}
    assert abs(rois["roi:V1"].get_y() - rois["roi:V2"].get_y()) >= rois["roi:V1"].get_height()


def test_architecture_figure_refuses_a_map_to_a_missing_layer():
    table = describe_architecture(Architecture(), [32])
    with pytest.raises(ValueError, match="conv9"):
        plot_architecture(table, {"V1": "conv9"})


# ---- training dynamics ------------------------------------------------------------

def histories():
    rows = []
    for seed, shift in [(1, 0.0), (2, 0.1)]:
        rows.append({"condition": "untrained", "seed": seed, "epoch": 0, "test_loss": 2.5 + shift, "test_acc": 0.08 + shift})
        for epoch in range(3):
            rows.append({"condition": "bp", "seed": seed, "epoch": epoch, "test_loss": 2.5 - 0.5 * epoch + shift,
                         "test_acc": 0.1 + 0.2 * epoch + shift})
    return pd.DataFrame(rows)


def by_gid(ax, gid, kind="lines"):
    found = [a for a in getattr(ax, kind) if a.get_gid() == gid]
    assert len(found) == 1, (gid, [a.get_gid() for a in getattr(ax, kind)])
    return found[0]


def test_training_dynamics_draws_seed_means_ranges_and_references():
    fig = plot_training_dynamics(histories(), ["untrained", "bp"], n_classes=10)
    loss_ax, acc_ax = fig.axes
    assert acc_ax.get_ylabel() == "held-out accuracy (%)" and "loss" in loss_ax.get_ylabel()
    assert "epoch" in acc_ax.get_xlabel()
    bp = by_gid(acc_ax, "line:bp")
    np.testing.assert_allclose(bp.get_xdata(), [0, 1, 2])
    np.testing.assert_allclose(bp.get_ydata(), [15, 35, 55])  # mean of the seeds, in %
    band = by_gid(acc_ax, "band:bp", "collections").get_paths()[0].vertices
    assert band[:, 1].min() == pytest.approx(10) and band[:, 1].max() == pytest.approx(60)
    untrained = by_gid(acc_ax, "line:untrained")
    np.testing.assert_allclose(untrained.get_xdata(), [0, 2])  # drawn across every epoch
    np.testing.assert_allclose(untrained.get_ydata(), [13, 13])
    assert untrained.get_linestyle() == "--"
    np.testing.assert_allclose(by_gid(loss_ax, "line:bp").get_ydata(), [2.55, 2.05, 1.55])
    assert by_gid(acc_ax, "reference").get_ydata()[0] == pytest.approx(10)
    assert by_gid(loss_ax, "reference").get_ydata()[0] == pytest.approx(math.log(10))
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend[:2] == ["untrained (epoch 0 only)", "bp"] and "chance" in legend[2]
    assert "2 seeds" in fig.legends[0].get_title().get_text()


def test_read_histories_adds_condition_and_seed_and_names_a_bad_file(tmp_path):
    good = tmp_path / "good.tsv"
    histories().query("condition == 'bp' and seed == 1").drop(columns=["condition", "seed"]).to_csv(good, sep="\t", index=False)
    table = read_histories([("bp", 1, good), ("fa", 3, good)])
    assert list(table["condition"].unique()) == ["bp", "fa"] and list(table["seed"].unique()) == [1, 3]
    bad = tmp_path / "bad.tsv"
    pd.DataFrame({"epoch": [0], "test_loss": [1.0]}).to_csv(bad, sep="\t", index=False)
    with pytest.raises(ValueError, match="bad.tsv.*test_acc"):
        read_histories([("bp", 1, bad)])
    late = tmp_path / "late.tsv"
    pd.DataFrame({"epoch": [1], "test_loss": [1.0], "test_acc": [0.5]}).to_csv(late, sep="\t", index=False)
    with pytest.raises(ValueError, match="late.tsv.*epoch 0"):
        read_histories([("bp", 1, late)])


# ---- filters ----------------------------------------------------------------------

def test_filter_mosaic_scales_each_filter_and_keeps_zero_grey():
    weights = np.zeros((5, 3, 3, 3))
    weights[0, 0, 1, 1] = 2.0
    weights[0, 1, 0, 0] = -1.0
    weights[1] = 0.01  # a small filter still fills its range
    mosaic = filter_mosaic(weights, columns=4)
    assert mosaic.shape == (2 * 4 - 1, 4 * 4 - 1, 3)
    assert mosaic[1, 1, 0] == 1.0 and mosaic[0, 0, 1] == pytest.approx(0.25) and mosaic[0, 0, 0] == 0.5
    np.testing.assert_allclose(mosaic[0:3, 4:7], 1.0)
    np.testing.assert_allclose(mosaic[0:3, 8:11], 0.5)  # an all-zero filter is grey
    np.testing.assert_allclose(mosaic[:, 3], 1.0)  # gaps are white
    assert filter_mosaic(np.ones((2, 1, 3, 3))).shape == (3, 7, 3)
    with pytest.raises(ValueError, match="1 or 3 channels"):
        filter_mosaic(np.ones((2, 4, 3, 3)))


def filter_scores():
    rows = []
    r2 = {("untrained", 1): [0.2, 0.6, 0.7, 0.4], ("untrained", 2): [0.5, 0.1, 0.1, 0.1],
          ("bp", 1): [0.9, 0.9, 0.9, 0.2], ("bp", 2): [0.8, 0.9, 0.4, 0.3]}
    for (condition, seed), values in r2.items():
        for k, value in enumerate(values):
            rows.append({"condition": condition, "seed": seed, "filter": k, "gabor_r2": value,
                         "peakedness": 1.5 + (condition == "bp") + 0.1 * seed})
    return pd.DataFrame(rows)


def test_filter_summary_counts_filters_at_or_above_the_threshold():
    summary = filter_summary(filter_scores(), 0.5).set_index(["condition", "seed"])
    assert summary.loc[("untrained", 1), "gabor_like"] == 0.5 and summary.loc[("untrained", 2), "gabor_like"] == 0.25
    assert summary.loc[("bp", 1), "gabor_like"] == 0.75 and summary.loc[("bp", 2), "gabor_like"] == 0.5
    assert summary.loc[("bp", 2), "peakedness"] == pytest.approx(2.7) and (summary["n_filters"] == 4).all()


def axis_titled(fig, prefix):
    (ax,) = [ax for ax in fig.axes if ax.get_title(loc="left").startswith(prefix)]
    return ax


def bar_heights(ax, n):
    bars = sorted((p.get_x() + p.get_width() / 2, p.get_height()) for p in ax.patches
                  if np.isfinite(p.get_height()) and p.get_width() > 0)
    assert len(bars) == n
    return [h for _, h in bars]


def test_filter_figure_draws_filters_fits_and_the_untrained_baseline():
    rng = np.random.default_rng(0)
    weights = {"untrained": rng.standard_normal((4, 3, 3, 3)), "bp": rng.standard_normal((4, 3, 3, 3))}
    fig = plot_filters(weights, filter_scores(), ["untrained", "bp"], seed=2, r2_threshold=0.5)
    assert sum(len(ax.images) for ax in fig.axes) == 2
    assert [ax.get_ylabel() for ax in fig.axes if ax.images] == ["untrained", "bp"]
    assert "seed 2" in fig.axes[0].get_title(loc="left")
    r2_ax = axis_titled(fig, "(b)")
    assert len(r2_ax.lines) == 2 + 1  # one cumulative distribution per condition, the threshold
    assert r2_ax.get_xlabel() == "Gabor fit $R^2$"
    frac_ax, peak_ax = axis_titled(fig, "(c)"), axis_titled(fig, "(d)")
    assert bar_heights(frac_ax, 2) == pytest.approx([0.375, 0.625])  # seed means, untrained then bp
    assert bar_heights(peak_ax, 2) == pytest.approx([1.65, 2.65])
    assert [t.get_text() for t in frac_ax.get_xticklabels()] == ["untrained", "bp"]
    assert by_gid(frac_ax, "baseline").get_ydata()[0] == pytest.approx(0.375)
    assert by_gid(peak_ax, "baseline").get_ydata()[0] == pytest.approx(1.65)
    assert "0.5" in frac_ax.get_ylabel()
    assert [t.get_text() for t in frac_ax.get_legend().get_texts()] == ["untrained (chance baseline)"]


def test_filter_figure_without_an_untrained_condition_draws_no_baseline():
    scores = filter_scores().query("condition == 'bp'")
    fig = plot_filters({"bp": np.ones((4, 3, 3, 3))}, scores, ["bp"], seed=1, r2_threshold=0.5)
    assert not [line for ax in fig.axes for line in ax.lines if line.get_gid() == "baseline"]


def test_filter_figure_names_missing_weights():
    with pytest.raises(ValueError, match="fa"):
        plot_filters({"bp": np.ones((4, 3, 3, 3))}, filter_scores(), ["bp", "fa"], seed=1, r2_threshold=0.5)


# ---- drift from the initialisation ------------------------------------------------

def drift_histories():
    rows = []
    for seed, shift in [(1, 0.0), (2, 0.1)]:
        rows.append({"condition": "untrained", "seed": seed, "epoch": 0, "test_loss": 2.3, "test_acc": 0.1,
                     "drift_conv1": 0.0, "drift_fc1": 0.0})
        for epoch in range(3):
            rows.append({"condition": "bp", "seed": seed, "epoch": epoch, "test_loss": 2.0, "test_acc": 0.3,
                         "drift_conv1": 0.1 * epoch + shift, "drift_fc1": 0.2 * epoch})
            rows.append({"condition": "readout_only", "seed": seed, "epoch": epoch, "test_loss": 2.0,
                         "test_acc": 0.3, "drift_conv1": 0.0, "drift_fc1": 0.3 * epoch + shift})
    return pd.DataFrame(rows)


def test_drift_figure_draws_the_last_epochs_seed_mean_and_range_per_layer_and_condition():
    conditions = ["untrained", "readout_only", "bp"]
    fig = plot_drift(drift_histories(), conditions)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["conv1", "fc1"]
    bp = by_gid(ax, "drift:bp")
    np.testing.assert_allclose(bp.get_ydata(), [0.25, 0.4])  # epoch 2: conv1 0.2 / 0.3, fc1 0.4 / 0.4
    segments = by_gid(ax, "range:bp", "collections").get_segments()
    np.testing.assert_allclose([s[:, 1] for s in segments], [[0.2, 0.3], [0.4, 0.4]])
    np.testing.assert_allclose(by_gid(ax, "drift:untrained").get_ydata(), [0.0, 0.0])  # never trained: epoch 0
    np.testing.assert_allclose(by_gid(ax, "drift:readout_only").get_ydata(), [0.0, 0.65])
    xs = [by_gid(ax, f"drift:{c}").get_xdata()[0] for c in conditions]
    assert xs == sorted(xs) and len(set(xs)) == 3  # side by side, in the conditions' order
    legend = fig.legends[0]
    assert [t.get_text() for t in legend.get_texts()] == conditions and "2 seeds" in legend.get_title().get_text()
    assert ax.get_yscale() == "symlog"
    # (b) one panel per layer, drift over the epochs
    conv1, fc1 = fig.axes[1:]
    assert conv1.get_title(loc="left") == "(b) conv1" and fc1.get_title(loc="left") == "fc1"
    np.testing.assert_allclose(by_gid(fc1, "line:fc1:bp").get_ydata(), [0.0, 0.2, 0.4])
    assert by_gid(conv1, "line:conv1:untrained").get_linestyle() == "--"
    band = by_gid(fc1, "band:fc1:readout_only", "collections").get_paths()[0].vertices
    assert band[:, 1].max() == pytest.approx(0.7)


def test_drift_figure_names_what_is_missing():
    with pytest.raises(ValueError, match="drift_<layer>"):
        plot_drift(histories(), ["untrained", "bp"])
    table = final_drift(drift_histories())
    assert len(table) == 3 * 2 * 2 and set(table["epoch"]) == {0, 2}
    broken = drift_histories()
    broken.loc[(broken["condition"] == "bp") & (broken["epoch"] == 2) & (broken["seed"] == 2), "drift_fc1"] = np.nan
    with pytest.raises(ValueError, match="drift_fc1 at the last epoch of condition bp, seed 2"):
        final_drift(broken)
