"""Figures of the statistics tables (lrrsa.figures.statistics) and their thin scripts: small
tables with known values, checked for what is drawn (rows, intervals, markers, marks,
reference lines, labels), not for pixels."""

import runpy
from pathlib import Path
from types import SimpleNamespace

import matplotlib.colors as mcolors
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.container import ErrorbarContainer

from conftest import REPO
from lrrsa.figures.statistics import (
    format_p,
    plot_pairwise,
    plot_partial,
    plot_subjects,
    significance_note,
)
from lrrsa.figures.style import DOUBLE_COLUMN, condition_palette
from lrrsa.significance import interval_label

CONDITIONS = ["untrained", "bp", "stdp"]
BH = {"family": "comparisons", "method": "fdr_bh"}
DEMO_STATS = {"inference": "variance_components", "generalise_over": ["stimuli", "seeds"], "ci_level": 0.95,
              "ci_method": "bca", "bootstrap_scheme": "stimuli", "bootstrap_subjects": False}


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def lines(ax, gid):
    return [line for line in ax.lines if line.get_gid() == gid]


def texts(ax, gid):
    return [text for text in ax.texts if text.get_gid() == gid]


def panel(fig, title):
    """The axes whose title is ``title`` (the top one of a broken panel)."""
    found = [ax for ax in fig.axes if ax.get_title() == title]
    assert len(found) == 1, [ax.get_title() for ax in fig.axes]
    return found[0]


def legend_texts(fig):
    return [t.get_text() for legend in fig.legends for t in legend.get_texts()]


def same_colour(a, b):
    return mcolors.to_hex(a) == mcolors.to_hex(b)


# ---------------------------------------------------------------------- pairwise


def pairwise_table():
    rows = []
    for roi, layer in [("V1", "conv1"), ("IT", "fc1")]:
        for i, (a, b) in enumerate([("bp", "untrained"), ("stdp", "untrained"), ("stdp", "bp")]):
            delta = (i + 1) * 0.01 * (1 if roi == "V1" else -1)
            rows.append([roi, layer, a, b, delta, delta - 0.005, delta + 0.008, 0.2 + i / 10, 0.4 + i / 10])
    table = pd.DataFrame(rows, columns=["roi", "layer", "condition_a", "condition_b", "delta_rho", "ci_low",
                                        "ci_high", "p", "p_fdr"])
    table.loc[1, "p_fdr"] = 0.0123   # V1, stdp - untrained: significant
    table.loc[5, "p_fdr"] = 0.0004   # IT, stdp - bp: significant, below 0.001
    table.loc[3, "p_fdr"] = np.nan   # IT, bp - untrained: no test
    table.loc[2, "p_fdr"] = 0.05     # V1, stdp - bp: not below 0.05
    table.loc[4, "p_fdr"] = 0.07     # IT, stdp - untrained: not significant
    return table


def test_pairwise_draws_one_row_per_pair_with_its_interval_estimate_and_fdr_p():
    table = pairwise_table()
    fig = plot_pairwise(table, CONDITIONS, fdr=BH, interval=interval_label(DEMO_STATS))
    assert [ax.get_title() for ax in fig.axes] == ["V1 (conv1)", "IT (fc1)"]
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels == ["bp − untrained", "stdp − untrained", "stdp − bp"]
    palette = condition_palette(CONDITIONS)
    for ax, roi in zip(fig.axes, ["V1", "IT"]):
        rows = table[table["roi"] == roi].reset_index(drop=True)
        intervals, estimates = lines(ax, "ci"), lines(ax, "estimate")
        assert len(intervals) == len(estimates) == 3
        for i, row in rows.iterrows():
            assert list(intervals[i].get_xdata()) == pytest.approx([row["ci_low"], row["ci_high"]])
            assert list(intervals[i].get_ydata()) == [i, i]
            assert list(estimates[i].get_xdata()) == pytest.approx([row["delta_rho"]])
            assert list(estimates[i].get_ydata()) == [i]
            assert same_colour(estimates[i].get_markerfacecolor(), palette[row["condition_a"]])
            assert same_colour(estimates[i].get_markerfacecoloralt(), palette[row["condition_b"]])
        zero = lines(ax, "zero")
        assert len(zero) == 1 and list(zero[0].get_xdata()) == [0, 0]
        assert "Spearman ρ" in ax.get_xlabel()
        xmin, xmax = ax.get_xlim()
        assert xmin <= rows["ci_low"].min() and xmax >= rows["ci_high"].max() and xmin < 0 < xmax
    v1, it = fig.axes
    assert [(t.get_text(), t.get_position()[1]) for t in texts(v1, "p_fdr_significant")] == [("0.012 *", 1)]
    assert [t.get_text() for t in texts(v1, "p_fdr")] == ["0.400", "0.050"]
    assert [(t.get_text(), t.get_position()[1]) for t in texts(it, "p_fdr_significant")] == [("<0.001 *", 2)]
    assert [t.get_text() for t in texts(it, "p_fdr")] == ["n/a", "0.070"]
    assert all(t.get_fontweight() == "bold" for t in texts(v1, "p_fdr_significant"))
    assert [t.get_text() for t in texts(v1, "p_header")] == ["p_FDR"]
    legend = legend_texts(fig)
    assert CONDITIONS == [t for t in legend if t in CONDITIONS]
    assert "95% t-interval over stimuli and seeds" in legend
    assert "bold *: p_FDR < 0.05 (BH, family comparisons) (test that a and b score equally)" in legend


def test_pairwise_without_correction_says_uncorrected():
    bootstrap = {**DEMO_STATS, "inference": "bootstrap", "ci_level": 0.9, "ci_method": "percentile",
                 "bootstrap_scheme": "pairs"}
    fig = plot_pairwise(pairwise_table(), CONDITIONS, fdr={"family": "none", "method": "fdr_bh"},
                        interval=interval_label(bootstrap))
    assert [t.get_text() for t in texts(fig.axes[0], "p_header")] == ["p (uncorr.)"]
    assert "bold *: p < 0.05 (uncorrected) (test that a and b score equally)" in legend_texts(fig)
    assert "90% percentile bootstrap CI (pairs resampled)" in legend_texts(fig)


def test_pairwise_rejects_bad_tables_naming_file_and_column():
    with pytest.raises(ValueError, match=r"results/x/pairwise\.tsv: missing column\(s\) ci_high"):
        plot_pairwise(pairwise_table().drop(columns="ci_high"), CONDITIONS, source="results/x/pairwise.tsv")
    bad = pairwise_table().astype({"p_fdr": object})
    bad.loc[2, "p_fdr"] = "low"
    with pytest.raises(ValueError, match=r"column p_fdr holds non-numeric value 'low' \(row 4"):
        plot_pairwise(bad, CONDITIONS)
    with pytest.raises(ValueError, match="condition_a/condition_b names condition.*stdp.*not among"):
        plot_pairwise(pairwise_table(), ["untrained", "bp"])


def test_pairwise_of_a_single_condition_run_says_there_is_nothing_to_compare():
    fig = plot_pairwise(pairwise_table().iloc[:0], CONDITIONS)
    assert "fewer than two conditions" in fig.axes[0].texts[0].get_text()


# ---------------------------------------------------------------------- subjects


def subjects_table():
    rows = []
    for roi, layer, ceiling in [("V1", "conv1", (0.5, 0.8)), ("IT", "fc1", (0.05, 0.07))]:
        for k, condition in enumerate(CONDITIONS):
            rhos = [0.01 * (k + 1), 0.02 * (k + 1), -0.005]
            for subject, rho in zip(["sub-01", "sub-02", "sub-03"], rhos):
                rows.append([roi, layer, condition, subject, rho, 0.001, 0.5, 0.6, np.nan, np.nan])
            rows.append([roi, layer, condition, "mean", np.mean(rhos), np.nan, 0.3, 0.5, *ceiling])
    table = pd.DataFrame(rows, columns=["roi", "layer", "condition", "subject", "rho_mean", "rho_std", "p", "p_fdr",
                                        "nc_lower", "nc_upper"])
    table.loc[(table["roi"] == "V1") & (table["condition"] == "stdp") & (table["subject"] == "sub-02"), "p_fdr"] = 0.01
    table.loc[(table["roi"] == "IT") & (table["subject"] == "sub-01"), "p_fdr"] = 0.049
    table.loc[(table["roi"] == "IT") & (table["subject"] == "sub-02"), "p_fdr"] = 0.08
    table.loc[(table["roi"] == "IT") & (table["subject"] == "mean"), "p_fdr"] = 0.06
    table.loc[(table["roi"] == "V1") & (table["condition"] == "bp") & (table["subject"] == "mean"), "p_fdr"] = 0.02
    return table


def test_subjects_draws_one_marker_per_subject_the_mean_and_its_marks():
    table = subjects_table()
    fig = plot_subjects(table, CONDITIONS, fdr=BH)
    palette = condition_palette(CONDITIONS)
    for roi, title in [("V1", "V1 (conv1)"), ("IT", "IT (fc1)")]:
        top = panel(fig, title)
        scores = [ax for ax in fig.axes if ax is top or ax.get_shared_x_axes().joined(ax, top)]
        ax = scores[-1]
        rows = table[table["roi"] == roi]
        markers = {}
        for line in ax.lines:
            if (line.get_gid() or "").startswith("subject:"):
                _, subject, mark = line.get_gid().split(":")
                markers.setdefault(subject, []).append((line, mark))
        assert sorted(markers) == ["sub-01", "sub-02", "sub-03"]
        assert len({m[0].get_marker() for m in (v[0] for v in markers.values())}) == 3  # one shape per subject
        for subject, drawn in markers.items():
            expected = rows[rows["subject"] == subject].reset_index(drop=True)
            assert len(drawn) == len(CONDITIONS)
            for (line, mark), (_, row) in zip(drawn, expected.iterrows()):
                assert list(line.get_ydata()) == pytest.approx([row["rho_mean"]])
                assert abs(line.get_xdata()[0] - CONDITIONS.index(row["condition"])) < 0.35
                significant = row["p_fdr"] < 0.05
                assert mark == ("significant" if significant else "ns")
                assert same_colour(line.get_markeredgecolor(), palette[row["condition"]])
                assert same_colour(line.get_markerfacecolor(), palette[row["condition"]] if significant else "white")
        means = lines(ax, "mean")
        expected = rows[rows["subject"] == "mean"]["rho_mean"].tolist()
        assert [line.get_ydata()[0] for line in means] == pytest.approx(expected)
        assert [np.mean(line.get_xdata()) for line in means] == pytest.approx(range(len(CONDITIONS)))
        assert len(lines(ax, "zero")) == 1 and list(lines(ax, "zero")[0].get_ydata()) == [0, 0]
        ticks = [t.get_text() for t in ax.get_xticklabels()]
        assert ticks == CONDITIONS
    v1_scores = [ax for ax in fig.axes if texts(ax, "significant")]
    assert len(v1_scores) == 1
    (star,) = texts(v1_scores[0], "significant")
    assert star.get_text() == "*" and star.get_position()[0] == 1  # bp, V1
    assert star.get_position()[1] > 0.04  # above bp's highest subject (0.04)
    assert "filled: subject's p_FDR < 0.05 (BH, family comparisons)" in legend_texts(fig)
    assert {"sub-01", "sub-02", "sub-03", "mean over subjects"} <= set(legend_texts(fig))
    assert fig.axes[1].get_ylabel().startswith("RSA per subject (Spearman ρ)")


def test_subjects_noise_ceiling_band_and_broken_axis_where_the_ceiling_is_far_above():
    fig = plot_subjects(subjects_table(), CONDITIONS, fdr=BH)
    v1_top = panel(fig, "V1 (conv1)")
    bands = [p for p in v1_top.patches if p.get_gid() == "noise_ceiling"]
    assert len(bands) == 1 and (bands[0].get_bbox().y0, bands[0].get_bbox().y1) == pytest.approx((0.5, 0.8))
    v1_scores = [ax for ax in fig.axes if ax is not v1_top and ax.get_shared_x_axes().joined(ax, v1_top)]
    assert len(v1_scores) == 1, "V1's ceiling (0.5-0.8) is far above its scores (< 0.07): the axis must break"
    low, high = v1_scores[0].get_ylim()
    assert low < -0.005 and 0.06 <= high < 0.5
    assert v1_top.get_ylim()[0] < 0.5 and v1_top.get_ylim()[1] > 0.8
    assert lines(v1_top, "axis-break") and lines(v1_scores[0], "axis-break")
    # IT's ceiling (0.05-0.07) is near its scores: one axis holds scores and ceiling.
    it = panel(fig, "IT (fc1)")
    assert not [ax for ax in fig.axes if ax is not it and ax.get_shared_x_axes().joined(ax, it)]
    bands = [p for p in it.patches if p.get_gid() == "noise_ceiling"]
    assert (bands[0].get_bbox().y0, bands[0].get_bbox().y1) == pytest.approx((0.05, 0.07))
    assert it.get_ylim()[0] < -0.005 and it.get_ylim()[1] >= 0.07
    assert not lines(it, "axis-break")


def test_subjects_without_a_noise_ceiling_says_so():
    table = subjects_table()
    table[["nc_lower", "nc_upper"]] = np.nan
    fig = plot_subjects(table, CONDITIONS)
    assert all(not [p for p in ax.patches if p.get_gid() == "noise_ceiling"] for ax in fig.axes)
    assert sum(len(texts(ax, "no_noise_ceiling")) for ax in fig.axes) == 2


def test_subjects_needs_the_mean_rows():
    table = subjects_table()
    with pytest.raises(ValueError, match="subjects.tsv: no rows with subject 'mean'"):
        plot_subjects(table[table["subject"] != "mean"], CONDITIONS)
    with pytest.raises(ValueError, match="missing column\\(s\\) nc_lower"):
        plot_subjects(table.drop(columns="nc_lower"), CONDITIONS)


# ----------------------------------------------------------------------- partial


def partial_table():
    rows = []
    for roi, layer in [("V1", "conv1"), ("LOC", "conv3")]:
        for k, condition in enumerate(reversed(CONDITIONS)):  # table order differs from the config's
            rows.append([roi, layer, condition, "pixel", 0.05 + 0.01 * k, 0.02 + 0.01 * k, 0.004, 0.2, 0.3])
    table = pd.DataFrame(rows, columns=["roi", "layer", "condition", "control", "rho_mean", "rho_partial_mean",
                                        "rho_partial_std", "p", "p_fdr"])
    table.loc[(table["roi"] == "LOC") & (table["condition"] == "bp"), "p_fdr"] = 0.001
    table.loc[table["condition"] == "stdp", "p_fdr"] = 0.06
    table.loc[(table["roi"] == "V1") & (table["condition"] == "untrained"), "rho_partial_std"] = np.nan  # one seed
    return table


def test_partial_draws_plain_and_partial_scores_with_std_and_marks():
    table = partial_table()
    fig = plot_partial(table, CONDITIONS, fdr=BH)
    assert [ax.get_title() for ax in fig.axes] == ["V1 (conv1)", "LOC (conv3)"]
    palette = condition_palette(CONDITIONS)
    for ax, roi in zip(fig.axes, ["V1", "LOC"]):
        rows = table[table["roi"] == roi].set_index("condition").loc[CONDITIONS].reset_index()
        assert [t.get_text() for t in ax.get_xticklabels()] == CONDITIONS
        plain = lines(ax, "plain")
        containers = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
        assert len(plain) == len(containers) == 3
        order = np.argsort([line.get_xdata()[0] for line in plain])
        for i, row in rows.iterrows():
            line, container = plain[order[i]], sorted(containers, key=lambda c: c.lines[0].get_xdata()[0])[i]
            x = line.get_xdata()[0]
            assert round(x) == i and list(line.get_ydata()) == pytest.approx([row["rho_mean"]])
            assert same_colour(line.get_markeredgecolor(), palette[row["condition"]])
            assert same_colour(line.get_markerfacecolor(), "white")
            point = container.lines[0]
            assert point.get_xdata()[0] > x and list(point.get_ydata()) == pytest.approx([row["rho_partial_mean"]])
            assert same_colour(point.get_markerfacecolor(), palette[row["condition"]])
            bars = container.lines[2]
            if np.isfinite(row["rho_partial_std"]):
                (segment,) = bars[0].get_segments()
                assert segment[:, 1] == pytest.approx([row["rho_partial_mean"] - row["rho_partial_std"],
                                                       row["rho_partial_mean"] + row["rho_partial_std"]])
            else:
                assert bars == ()
        assert len(lines(ax, "zero")) == 1 and list(lines(ax, "zero")[0].get_ydata()) == [0, 0]
    v1, loc = fig.axes
    assert texts(v1, "significant") == []
    (star,) = texts(loc, "significant")
    bp = partial_table().query("roi == 'LOC' and condition == 'bp'").iloc[0]
    partial_bp = sorted(c.lines[0].get_xdata()[0] for c in loc.containers)[1]
    assert star.get_text() == "*" and partial_bp < star.get_position()[0] < 1.5  # right of bp's partial marker
    assert star.get_position()[1] == pytest.approx(bp["rho_partial_mean"])
    assert "partial p_FDR < 0.05 (BH, family comparisons)" in legend_texts(fig)
    assert "partial RSA, pixel RDM controlled (seed mean ± std)" in legend_texts(fig)
    assert v1.get_ylabel() == "RSA, group RDM (Spearman ρ)"


def test_partial_for_a_method_without_partial_rsa_says_so():
    fig = plot_partial(partial_table().iloc[:0], CONDITIONS, method="kendall")
    assert "Spearman and Pearson RSA only (this run: kendall)" in fig.axes[0].texts[0].get_text()


def test_p_value_and_significance_wording():
    assert [format_p(p) for p in [0.9127, 0.0123, 0.0004, np.nan]] == ["0.913", "0.012", "<0.001", "n/a"]
    assert significance_note({"family": "per_roi", "method": "fdr_by"}) == "p_FDR < 0.05 (BY, family per_roi)"
    assert significance_note({"family": "none", "method": "fdr_bh"}) == "p < 0.05 (uncorrected)"


# ------------------------------------------------------------------ thin scripts


@pytest.mark.parametrize("name, table", [("pairwise", pairwise_table), ("subjects", subjects_table),
                                         ("partial", partial_table)])
def test_script_writes_png_and_pdf(tmp_path, restore_logging, name, table):
    tsv = tmp_path / f"{name}.tsv"
    table().to_csv(tsv, sep="\t", index=False, na_rep="")
    params = SimpleNamespace(conditions=CONDITIONS, method="spearman", fdr=BH, interval=interval_label(DEMO_STATS))
    outputs = [str(tmp_path / f"{name}.png"), str(tmp_path / f"{name}.pdf")]
    snakemake = SimpleNamespace(input=[str(tsv)], output=outputs, params=params, log=[str(tmp_path / f"{name}.log")])
    runpy.run_path(str(REPO / "workflow" / "scripts" / f"plot_{name}.py"), init_globals={"snakemake": snakemake})
    image = plt.imread(outputs[0])
    assert image.shape[1] > 1500 and image[..., :3].std() > 0.05, "the PNG is blank or too small"
    assert Path(outputs[1]).read_bytes()[:5] == b"%PDF-"
    assert "glyf subsetted" not in Path(snakemake.log[0]).read_text()


# ------------------------------------------------------------------ print size


def study_tables(conditions, rois=("V1", "V2", "LOC", "IT")):
    """Tables of a study's size: every pair per ROI, 3 subjects, each condition."""
    rng = np.random.default_rng(0)
    pairs = [(a, b) for j, b in enumerate(conditions) for a in conditions[j + 1:]]
    pairwise = pd.DataFrame([[roi, "conv1", a, b, d, d - 0.01, d + 0.01, 0.5, 0.5]
                             for roi in rois for (a, b), d in zip(pairs, rng.normal(0, 0.01, len(pairs)))],
                            columns=["roi", "layer", "condition_a", "condition_b", "delta_rho", "ci_low", "ci_high",
                                     "p", "p_fdr"])
    subjects = pd.DataFrame([[roi, "conv1", c, s, rng.normal(0.02, 0.01), 0.001, 0.5, 0.01,
                              *((0.5, 0.8) if s == "mean" else (np.nan, np.nan))]
                             for roi in rois for c in conditions for s in ["sub-01", "sub-02", "sub-03", "mean"]],
                            columns=["roi", "layer", "condition", "subject", "rho_mean", "rho_std", "p", "p_fdr",
                                     "nc_lower", "nc_upper"])
    partial = pd.DataFrame([[roi, "conv1", c, "pixel", 0.03, 0.01, 0.004, 0.01, 0.01] for roi in rois
                            for c in conditions],
                           columns=["roi", "layer", "condition", "control", "rho_mean", "rho_partial_mean",
                                    "rho_partial_std", "p", "p_fdr"])
    return {"pairwise": pairwise, "subjects": subjects, "partial": partial}


@pytest.mark.parametrize("conditions", [["untrained", "bp", "fa", "pc", "stdp"],
                                        ["untrained", "bp", "fa", "pc", "pc_supervised", "stdp"]])
@pytest.mark.parametrize("name, plot", [("pairwise", plot_pairwise), ("subjects", plot_subjects),
                                        ("partial", plot_partial)])
def test_figures_fit_a_double_column_with_legible_text(conditions, name, plot):
    fig = plot(study_tables(conditions)[name], conditions, fdr=BH)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    width, height = fig.get_size_inches()
    assert width == pytest.approx(DOUBLE_COLUMN) and height < 4
    box = fig.get_tightbbox(renderer)  # inches; labels and legends that spill out would widen it
    assert box.x0 >= -0.01 and box.x1 <= DOUBLE_COLUMN + 0.01, f"{name} is {box.width:.2f} in wide"
    sizes = [t.get_fontsize() for t in fig.findobj(plt.Text) if t.get_text().strip() and t.get_visible()]
    assert min(sizes) >= 6, "text smaller than 6 pt is not legible in print"


# ---------------------------------------------------------------------- captions


@pytest.mark.parametrize("family", ["comparisons", "per_roi", "all", "none"])
def test_captions_render_as_valid_rst_and_name_the_correction(family):
    import io

    import docutils.core
    import jinja2
    import yaml

    from lrrsa.config import load_schema, validate_config

    config = validate_config(yaml.safe_load((REPO / "config" / "demo.yaml").read_text()),
                             load_schema(REPO / "workflow" / "schemas" / "config.schema.yaml"))
    config["stats"]["fdr"] = {"family": family, "method": "fdr_by"}
    for name in ["pairwise", "subjects", "partial"]:
        source = (REPO / "workflow" / "report" / f"{name}_figure.rst").read_text()
        rendered = jinja2.Template(source).render(snakemake=SimpleNamespace(config=config))
        warnings = io.StringIO()
        docutils.core.publish_parts(rendered, writer="html", settings_overrides={"warning_stream": warnings})
        assert warnings.getvalue() == "", f"{name}_figure.rst: {warnings.getvalue()}"
        text = " ".join(rendered.split())
        assert ("uncorrected" in text) == (family == "none") and ("fdr_by FDR" in text) == (family != "none")
        assert "2000 permutations" in text and "0.05" in text
    pairwise = " ".join(jinja2.Template((REPO / "workflow/report/pairwise_figure.rst").read_text()).render(
        snakemake=SimpleNamespace(config=config)).split())
    # The demo's 2 seeds are too few to generalise over networks: the caption says the claim is for these.
    assert "0.95 t-interval generalising over stimuli (the variance of the difference over new stimuli," in pairwise
    assert "the networks trained here are fixed" in pairwise and "p_exchangeable" in pairwise
    config["stats"]["generalise_over"] = ["stimuli", "subjects", "seeds"]
    study = " ".join(jinja2.Template((REPO / "workflow/report/pairwise_figure.rst").read_text()).render(
        snakemake=SimpleNamespace(config=config)).split())
    assert "over new stimuli and new subjects and new network instances," in study and "are fixed" not in study
    if family != "none":
        assert f"family ``{family}``" in pairwise
