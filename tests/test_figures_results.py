"""Figures of the RSA results: what is drawn (bars, intervals, seeds, bands, marks,
lines, cells), checked against values computed here from small tables with known
numbers, not against pixels."""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PathCollection
from matplotlib.colors import to_hex

from lrrsa.figures.results import (
    SCORE_COLUMNS, plot_hierarchy, plot_layer_heatmap, plot_noise_normalised, plot_rsa_by_roi, plot_seeds, read_table,
    significance_mark,
)
from lrrsa.figures.style import condition_palette

LAYER_MAP = {"V1": "conv1", "IT": "fc1"}
CONDITIONS = ["untrained", "bp"]
SEEDS = [1, 2, 3]
# Group-RDM scores at the mapped layer, per (condition, roi), seeds 1, 2, 3.
KNOWN = {
    ("untrained", "V1"): [0.10, 0.12, 0.17], ("untrained", "IT"): [0.02, 0.05, 0.03],
    ("bp", "V1"): [0.20, 0.26, 0.23], ("bp", "IT"): [0.30, 0.28, 0.35],
}


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def known_scores() -> pd.DataFrame:
    rows = []
    for (condition, roi), values in KNOWN.items():
        for seed, rho in zip(SEEDS, values):
            rows.append([condition, seed, LAYER_MAP[roi], roi, "group", rho, 28])
            rows.append([condition, seed, LAYER_MAP[roi], roi, "sub-01", rho - 0.5, 28])  # not the group RDM
            other = "fc1" if LAYER_MAP[roi] == "conv1" else "conv1"
            rows.append([condition, seed, other, roi, "group", 0.9, 28])  # not the mapped layer
    return pd.DataFrame(rows, columns=[*SCORE_COLUMNS, "n_pairs"])


def known_summary() -> pd.DataFrame:
    rows = [  # roi, layer, condition, ci_low, ci_high, p_fdr, reference, p_vs_reference_fdr
        ["V1", "conv1", "untrained", 0.05, 0.20, 0.0005, "untrained", np.nan],
        ["V1", "conv1", "bp", 0.15, 0.31, 0.03, "untrained", 0.01],
        ["IT", "fc1", "untrained", -0.04, 0.09, 0.2, "untrained", np.nan],
        ["IT", "fc1", "bp", 0.22, 0.40, 0.009, "untrained", 0.3],
    ]
    return pd.DataFrame(rows, columns=["roi", "layer", "condition", "ci_low", "ci_high", "p_fdr", "reference",
                                       "p_vs_reference_fdr"])


def known_ceiling(group_v1=(0.40, 0.50), group_it=(0.45, 0.55)) -> pd.DataFrame:
    return pd.DataFrame({
        "roi": ["V1", "V1", "IT", "IT"], "subject": ["mean", "group", "mean", "group"],
        "lower": [0.01, group_v1[0], 0.01, group_it[0]], "upper": [0.02, group_v1[1], 0.02, group_it[1]],
    })


def bar_x(condition: str, roi: str) -> float:
    """Where the bar of (condition, roi) should be: ROI index plus the dodge offset."""
    k = len(CONDITIONS)
    return list(LAYER_MAP).index(roi) + (CONDITIONS.index(condition) - (k - 1) / 2) * 0.8 / k


def by_gid(ax, gid):
    return [a for a in [*ax.collections, *ax.patches, *ax.lines, *ax.texts] if a.get_gid() == gid]


def segments(collection) -> dict[float, tuple[float, float]]:
    return {round(float(s[0, 0]), 9): (float(s[0, 1]), float(s[1, 1])) for s in collection.get_segments()}


# ------------------------------------------------------------------ main figure


def test_main_figure_draws_seed_means_sds_seeds_and_intervals_where_they_belong():
    fig = plot_rsa_by_roi(known_scores(), LAYER_MAP, CONDITIONS, summary=known_summary(), ceiling=known_ceiling())
    assert len(fig.axes) == 1  # the band fits on one axis: no break
    ax = fig.axes[0]
    bars = {c.get_label(): c for c in ax.containers}
    assert list(bars) == CONDITIONS
    sds = {}
    for collection in by_gid(ax, "sd"):
        sds.update(segments(collection))
    ci = segments(by_gid(ax, "ci")[0])
    for condition in CONDITIONS:
        for roi, bar in zip(LAYER_MAP, bars[condition]):
            values = np.array(KNOWN[(condition, roi)])
            x = bar_x(condition, roi)
            assert bar.get_x() + bar.get_width() / 2 == pytest.approx(x)
            assert bar.get_height() == pytest.approx(values.mean())
            mean, std = values.mean(), values.std(ddof=1)
            assert sds[round(x, 9)] == pytest.approx((mean - std, mean + std))
            row = known_summary().set_index(["roi", "condition"]).loc[(roi, condition)]
            assert ci[round(x, 9)] == pytest.approx((row["ci_low"], row["ci_high"]))
        dots = [c for c in ax.collections if c.get_gid() == f"seeds:{condition}"][0].get_offsets()
        expected = [v for roi in LAYER_MAP for v in KNOWN[(condition, roi)]]
        assert sorted(np.asarray(dots)[:, 1]) == pytest.approx(sorted(expected))
        for x, y in np.asarray(dots):  # every dot sits inside its own bar
            roi = next(r for r in LAYER_MAP if np.isclose(y, KNOWN[(condition, r)]).any())
            assert abs(x - bar_x(condition, roi)) < 0.8 / len(CONDITIONS) / 2
    assert ax.get_xticklabels()[0].get_text() == "V1\n(conv1)" and ax.get_xticklabels()[1].get_text() == "IT\n(fc1)"
    assert "Spearman" in ax.get_ylabel() and "group RDM" in ax.get_ylabel()


def test_main_figure_marks_significance_after_fdr_at_the_right_bars():
    fig = plot_rsa_by_roi(known_scores(), LAYER_MAP, CONDITIONS, summary=known_summary(), ceiling=known_ceiling(),
                          interval="95% t-interval over stimuli and seeds")
    ax = fig.axes[0]
    marks = {round(t.xy[0], 9): t.get_text() for t in by_gid(ax, "significance")}
    # untrained V1 p_fdr .0005 -> ***; bp V1 p .03 and vs untrained .01 -> dagger over *;
    # untrained IT .2 -> nothing; bp IT .009 -> ** (vs untrained .3: no dagger)
    assert marks == {round(bar_x("untrained", "V1"), 9): "***", round(bar_x("bp", "V1"), 9): "†\n*",
                     round(bar_x("bp", "IT"), 9): "**"}
    for text in by_gid(ax, "significance"):  # above the interval's top
        roi = "V1" if text.xy[0] < 0.5 else "IT"
        condition = "untrained" if np.isclose(text.xy[0], bar_x("untrained", roi)) else "bp"
        assert text.xy[1] >= known_summary().set_index(["roi", "condition"]).loc[(roi, condition), "ci_high"] - 1e-12
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend[:2] == CONDITIONS
    assert "95% t-interval over stimuli and seeds of the mean" in legend
    assert any(t.startswith("*, **, ***: FDR p < .05, .01, .001") for t in legend)
    assert any("differs from untrained" in t for t in legend)


def test_marks_without_intervals_and_uncorrected_wording():
    summary = known_summary().assign(ci_low=np.nan, ci_high=np.nan)  # e.g. inference bootstrap, n_bootstrap: 0
    fig = plot_rsa_by_roi(known_scores(), LAYER_MAP, CONDITIONS, summary=summary, corrected=False)
    ax = fig.axes[0]
    assert not by_gid(ax, "ci") and len(by_gid(ax, "significance")) == 3
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert not any("interval" in t for t in legend)
    assert any(t.startswith("*, **, ***: p (uncorrected) < .05") for t in legend)


def test_significance_marks_follow_the_thresholds():
    assert significance_mark(0.04) == "*" and significance_mark(0.009) == "**" and significance_mark(0.0009) == "***"
    assert significance_mark(0.05) == "" and significance_mark(np.nan) == ""
    assert significance_mark(0.2, 0.01) == "†" and significance_mark(0.001, 0.049) == "†\n**"
    assert significance_mark(0.001, 0.05) == "**"


def test_main_figure_draws_the_group_noise_ceiling_not_the_subject_one():
    fig = plot_rsa_by_roi(known_scores(), LAYER_MAP, CONDITIONS, summary=known_summary(), ceiling=known_ceiling())
    bands = by_gid(fig.axes[0], "noise-ceiling")
    assert len(bands) == 2
    for band, (i, (lower, upper)) in zip(bands, enumerate([(0.40, 0.50), (0.45, 0.55)])):
        assert band.get_y() == pytest.approx(lower) and band.get_height() == pytest.approx(upper - lower)
        assert band.get_x() + band.get_width() / 2 == pytest.approx(i)
    assert any("noise ceiling" in t.get_text() for t in fig.legends[0].get_texts())


def test_main_figure_breaks_the_axis_when_the_ceiling_is_far_above_the_scores():
    # The scores reach 0.35, the ceiling 0.97: on one axis they would fill less than 40 % of it.
    fig = plot_rsa_by_roi(known_scores(), LAYER_MAP, CONDITIONS, ceiling=known_ceiling((0.90, 0.95), (0.92, 0.97)))
    data_ax = next(ax for ax in fig.axes if ax.containers)
    band_ax = next(ax for ax in fig.axes if ax is not data_ax)
    assert len(fig.axes) == 2 and by_gid(data_ax, "axis-break") and by_gid(band_ax, "axis-break")
    low, high = band_ax.get_ylim()
    assert low < 0.90 and high > 0.97
    assert data_ax.get_ylim()[1] < 0.90  # the scores get the lower axis to themselves
    assert data_ax.get_ylim()[1] > max(max(v) for v in KNOWN.values())
    assert len(by_gid(band_ax, "noise-ceiling")) == 2
    fig = plot_rsa_by_roi(known_scores(), LAYER_MAP, CONDITIONS, ceiling=known_ceiling((0.70, 0.75), (0.72, 0.77)))
    assert len(fig.axes) == 1  # 0.35 of 0.77: legible on one axis


def known_pixel() -> pd.DataFrame:
    """pixel_baseline.tsv rows: the pixel RDM's group scores (V1 above every bar's mean
    but bp's), a subject row and a difference row that the figure must not draw."""
    return pd.DataFrame({
        "roi": ["V1", "V1", "V1", "IT", "IT"], "test": ["score", "score", "difference", "score", "difference"],
        "subject": ["group", "sub-01", "group", "group", "group"], "rho_pixel": [0.15, 0.6, 0.15, -0.02, -0.02],
    })


def test_main_figure_marks_the_pixel_baseline_across_each_rois_bars():
    fig = plot_rsa_by_roi(known_scores(), LAYER_MAP, CONDITIONS, summary=known_summary(), ceiling=known_ceiling(),
                          pixel=known_pixel())
    ax = fig.axes[0]
    (lines,) = by_gid(ax, "pixel-baseline")
    drawn = [(float(s[0, 0]), float(s[1, 0]), float(s[0, 1]), float(s[1, 1])) for s in lines.get_segments()]
    for i, (start, stop, y0, y1) in enumerate(drawn):
        assert y0 == y1 == [0.15, -0.02][i]  # the group row, not the subject's
        assert start < bar_x(CONDITIONS[0], list(LAYER_MAP)[i]) - 0.1 and stop > bar_x(CONDITIONS[-1], list(LAYER_MAP)[i]) + 0.1
        assert i - 0.5 < start and stop < i + 0.5  # within its own ROI
    assert len(drawn) == 2 and ax.get_ylim()[0] < -0.02
    assert any(t.get_text().startswith("pixel RDM") for t in fig.legends[0].get_texts())
    with pytest.raises(ValueError, match=r"pixel baseline: no group score for ROI\(s\) \['IT'\]"):
        plot_rsa_by_roi(known_scores(), LAYER_MAP, CONDITIONS, pixel=known_pixel().query("roi == 'V1'"))


def test_main_figure_without_statistics_draws_bars_only():
    fig = plot_rsa_by_roi(known_scores(), LAYER_MAP, CONDITIONS)
    ax = fig.axes[0]
    bars = [p for c in ax.containers for p in c]
    assert sorted(round(b.get_height(), 9) for b in bars) == sorted(
        round(float(np.mean(v)), 9) for v in KNOWN.values())
    assert not by_gid(ax, "ci") and not by_gid(ax, "significance") and not by_gid(ax, "noise-ceiling")


def test_bad_inputs_name_what_is_missing(tmp_path):
    scores = known_scores()
    with pytest.raises(ValueError, match=r"\('IT', 'bp'\)"):
        plot_rsa_by_roi(scores[~((scores["roi"] == "IT") & (scores["condition"] == "bp"))], LAYER_MAP, CONDITIONS)
    ceiling = known_ceiling()
    with pytest.raises(ValueError, match="no 'group' row for ROI"):
        plot_rsa_by_roi(scores, LAYER_MAP, CONDITIONS, ceiling=ceiling[ceiling["subject"] != "group"])
    path = tmp_path / "scores.tsv"
    scores.drop(columns="rho").to_csv(path, sep="\t", index=False)
    with pytest.raises(ValueError, match=rf"{path.name}: missing column\(s\) rho;"):
        read_table(path, SCORE_COLUMNS)


# -------------------------------------------------------------------- hierarchy


def test_hierarchy_draws_one_line_per_condition_in_layer_map_order():
    fig = plot_hierarchy(known_scores(), LAYER_MAP, CONDITIONS)
    ax = fig.axes[0]
    lines = {line.get_label(): line for line in ax.lines if line.get_label() in CONDITIONS}
    assert list(lines) == CONDITIONS
    palette = condition_palette(CONDITIONS)
    for condition, line in lines.items():
        assert line.get_ydata() == pytest.approx([np.mean(KNOWN[(condition, roi)]) for roi in LAYER_MAP])
        assert np.all(np.diff(line.get_xdata()) > 0.5)  # ROIs left to right, conditions only dodged
        assert to_hex(line.get_color()) == palette[condition]
    errorbars = [c for c in ax.containers if c.lines[2]]
    assert len(errorbars) == len(CONDITIONS)
    for condition, container in zip(CONDITIONS, errorbars):
        spans = sorted(np.ptp(s[:, 1]) for s in container.lines[2][0].get_segments())
        assert spans == pytest.approx(sorted(2 * np.std(KNOWN[(condition, roi)], ddof=1) for roi in LAYER_MAP))
    assert [t.get_text() for t in ax.get_xticklabels()] == ["V1\n(conv1)", "IT\n(fc1)"]
    assert [t.get_text() for t in fig.legends[0].get_texts()] == CONDITIONS


# ------------------------------------------------------------------------ seeds


def test_seed_figure_draws_every_seed_and_the_mean_and_sd_per_panel():
    fig = plot_seeds(known_scores(), LAYER_MAP, CONDITIONS)
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in panels] == ["V1 (conv1)", "IT (fc1)"]
    palette = condition_palette(CONDITIONS)
    for ax, roi in zip(panels, LAYER_MAP):
        for i, seed in enumerate(SEEDS):
            dots = next(c for c in ax.collections if c.get_gid() == f"seeds:{seed}")
            assert isinstance(dots, PathCollection)
            assert list(np.asarray(dots.get_offsets())[:, 1]) == pytest.approx([KNOWN[(c, roi)][i] for c in CONDITIONS])
            assert [to_hex(f) for f in dots.get_facecolors()] == [palette[c] for c in CONDITIONS]
            line = next(line for line in ax.lines if line.get_gid() == f"seed-line:{seed}")
            assert line.get_ydata() == pytest.approx([KNOWN[(c, roi)][i] for c in CONDITIONS])
        means = next(c for c in ax.collections if c.get_gid() == "mean")
        assert [s[0, 1] for s in means.get_segments()] == pytest.approx([np.mean(KNOWN[(c, roi)]) for c in CONDITIONS])
        sd = next(c for c in ax.collections if c.get_gid() == "sd")
        assert [np.ptp(s[:, 1]) for s in sd.get_segments()] == pytest.approx(
            [2 * np.std(KNOWN[(c, roi)], ddof=1) for c in CONDITIONS])
        assert [t.get_text() for t in ax.get_xticklabels()] == CONDITIONS
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == ["seed 1", "seed 2", "seed 3", "mean ± 1 SD over seeds"]


# ---------------------------------------------------------------- layer heatmap


def known_layers() -> pd.DataFrame:
    rows = []
    values = {"untrained": [[0.014, -0.02, 0.03], [0.05, 0.01, -0.004]], "bp": [[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]]}
    best = {"untrained": ["conv2", "conv1"], "bp": ["fc1", "fc1"]}
    for condition in CONDITIONS:
        for i, roi in enumerate(["V1", "IT"]):
            for j, layer in enumerate(["conv1", "conv2", "fc1"]):
                rows.append([roi, layer, condition, values[condition][i][j], 0.01, 2, LAYER_MAP[roi] == layer,
                             np.nan, np.nan, layer == best[condition][i]])
    return pd.DataFrame(rows, columns=["roi", "layer", "condition", "rho_mean", "rho_std", "n_seeds", "mapped",
                                       "rho_select", "rho_heldout", "best"])


def test_layer_heatmap_cells_frames_and_stars():
    fig = plot_layer_heatmap(known_layers(), CONDITIONS)
    panels = [ax for ax in fig.axes if ax.get_title() in CONDITIONS]
    assert [ax.get_title() for ax in panels] == CONDITIONS
    for ax, condition in zip(panels, CONDITIONS):
        expected = known_layers().query("condition == @condition").pivot(index="roi", columns="layer",
                                                                           values="rho_mean")
        np.testing.assert_allclose(ax.images[0].get_array(), expected.loc[["V1", "IT"], ["conv1", "conv2", "fc1"]])
        assert list(ax.get_yticks()) == [0, 1] and list(ax.get_xticks()) == [0, 1, 2]
        frames = sorted((p.get_x() + 0.5, p.get_y() + 0.5) for p in by_gid(ax, "mapped"))
        assert frames == [(0.0, 0.0), (2.0, 1.0)]  # V1: conv1 (column 0, row 0); IT: fc1 (column 2, row 1)
        star = by_gid(ax, "best")[0]
        cells = sorted((round(x), round(y)) for x, y in zip(star.get_xdata(), star.get_ydata()))
        best = {"untrained": [(0, 1), (1, 0)], "bp": [(2, 0), (2, 1)]}[condition]
        assert cells == best
    assert [t.get_text() for t in panels[0].get_yticklabels()] == ["V1", "IT"]
    assert [t.get_text() for t in panels[0].get_xticklabels()] == ["conv1", "conv2", "fc1"]
    texts = [t.get_text() for t in by_gid(panels[0], "value")]
    assert texts == [".014", "-.020", ".030", ".050", ".010", "-.004"]
    colorbar = fig.axes[-1]
    assert "seed mean" in colorbar.get_ylabel()
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == ["mapped layer (rsa.layer_map)", "best layer, chosen on a random half of the stimuli"]


# ------------------------------------------------------------- noise normalised


def test_noise_normalised_divides_by_the_group_upper_bound():
    fig = plot_noise_normalised(known_scores(), known_ceiling(), LAYER_MAP, CONDITIONS)
    data_ax = next(ax for ax in fig.axes if ax.containers)
    upper = {"V1": 0.50, "IT": 0.55}
    lower = {"V1": 0.40, "IT": 0.45}
    bars = {c.get_label(): c for c in data_ax.containers}
    for condition in CONDITIONS:
        heights = [b.get_height() for b in bars[condition]]
        assert heights == pytest.approx([np.mean(KNOWN[(condition, roi)]) / upper[roi] for roi in LAYER_MAP])
    bands = by_gid(fig.axes[0], "noise-ceiling")
    assert [y for b in bands[:2] for y in (b.get_y(), b.get_y() + b.get_height())] == pytest.approx(
        [y for roi in LAYER_MAP for y in (lower[roi] / upper[roi], 1.0)])
    assert "noise ceiling" in data_ax.get_ylabel()
    bad = known_ceiling(group_it=(0.0, 0.0))
    with pytest.raises(ValueError, match=r"upper bound of ROI\(s\) \['IT'\] is not positive"):
        plot_noise_normalised(known_scores(), bad, LAYER_MAP, CONDITIONS)
