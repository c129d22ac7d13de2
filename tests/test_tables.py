"""The reader's tables: summary.md (cells, stars, legend) and the paper comparison, on
small frames whose right answers are written out by hand; the stored published values
against the paper's numbers."""

import math

import numpy as np
import pandas as pd
import pytest

from conftest import REPO
from lrrsa.tables import (
    COMPARISON_COLUMNS, final_accuracies, format_cell, legend, paper_comparison, read_published, results_table, stars,
    summary_markdown, write_paper_comparison,
)

STATS = {"n_permutations": 10000, "permutation_scheme": "stimuli", "inference": "variance_components",
         "generalise_over": ["stimuli", "seeds"], "n_bootstrap": 1000, "bootstrap_scheme": "stimuli",
         "bootstrap_subjects": False, "ci_method": "bca", "ci_level": 0.95, "reference": "untrained",
         "fdr": {"family": "comparisons", "method": "fdr_bh"}}
PUBLISHED = REPO / "workflow" / "resources" / "paper" / "leutenegger2026.tsv"


def summary_frame() -> pd.DataFrame:
    """Two ROIs x two conditions with known values; IT lacks bp."""
    rows = [
        # roi, layer, condition, rho_mean, ci_low, ci_high, p, p_fdr, p_vs_reference_fdr
        ["V1", "conv1", "untrained", 0.0764, 0.05, 0.1, 0.0001, 0.0004, np.nan],
        ["V1", "conv1", "bp", 0.0336, 0.011, 0.0555, 0.004, 0.006, 0.0002],
        ["LOC", "conv3", "untrained", -0.0052, -0.02, 0.0104, 0.7, 0.8, np.nan],
        ["LOC", "conv3", "bp", 0.0121, -0.0004, 0.025, 0.02, 0.03, 0.2],
        ["IT", "fc1", "untrained", 0.00049, np.nan, np.nan, 0.049, 0.0499, np.nan],
    ]
    frame = pd.DataFrame(rows, columns=["roi", "layer", "condition", "rho_mean", "ci_low", "ci_high", "p", "p_fdr",
                                        "p_vs_reference_fdr"])
    frame["n_seeds"] = 5
    frame["rho_std"] = 0.001
    return frame


def markdown_rows(text: str) -> list[list[str]]:
    """The cells of the pipe table in a markdown document (header first, rule dropped)."""
    lines = [line for line in text.splitlines() if line.startswith("|")]
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]
    return [rows[0], *rows[2:]]


@pytest.mark.parametrize("p, expected", [(0.0009, "***"), (0.001, "**"), (0.0099, "**"), (0.01, "*"), (0.0499, "*"),
                                         (0.05, ""), (0.7, ""), (math.nan, "")])
def test_stars_follow_the_thresholds(p, expected):
    assert stars(p) == expected


def test_a_cell_has_rho_interval_escaped_stars_and_dagger():
    assert format_cell(0.0764, 0.05, 0.1, 0.0004) == r"0.076 [0.050, 0.100]\*\*\*"
    assert format_cell(0.0336, 0.011, 0.0555, 0.006, p_vs_reference_fdr=0.0002) == r"0.034 [0.011, 0.056]\*\*†"
    assert format_cell(-0.0052, -0.02, 0.0104, 0.8, p_vs_reference_fdr=0.2) == "-0.005 [-0.020, 0.010]"
    assert format_cell(0.00049, math.nan, math.nan, 0.0499) == r"0.000\*"  # no interval, and no "-0.000"
    assert format_cell(-0.0004, -0.0004, 0.0, 0.5) == "0.000 [0.000, 0.000]"
    assert format_cell(math.nan, 0.0, 0.1, 0.01) == "n/a"


def test_the_table_is_roi_by_condition_in_the_given_orders():
    table = results_table(summary_frame(), ["bp", "untrained"])
    assert list(table.columns) == ["ROI (layer)", "bp", "untrained"]
    assert list(table["ROI (layer)"]) == ["V1 (conv1)", "LOC (conv3)", "IT (fc1)"]
    assert table.loc[2, "bp"] == ""  # IT has no bp row: an empty cell, not an error


def test_summary_markdown_cells_and_legend():
    text = summary_markdown(summary_frame(), conditions=["untrained", "bp"], method="spearman", stats=STATS,
                            title="RSA")
    assert text.startswith("# RSA\n\n|")
    assert markdown_rows(text) == [
        ["ROI (layer)", "untrained", "bp"],
        ["V1 (conv1)", r"0.076 [0.050, 0.100]\*\*\*", r"0.034 [0.011, 0.056]\*\*†"],
        ["LOC (conv3)", "-0.005 [-0.020, 0.010]", r"0.012 [0.000, 0.025]\*"],
        ["IT (fc1)", r"0.000\*", ""],
    ]
    after = text.split("| IT (fc1)")[1]
    assert r"\* p_fdr < 0.05, \*\* p_fdr < 0.01, \*\*\* p_fdr < 0.001" in after
    assert "one-sided permutation test of rho > 0 (10000 permutations, scheme stimuli)" in after
    assert "fdr_bh over the 5 vs-zero tests of all conditions and ROIs (stats.fdr.family: comparisons)" in after
    assert "95% t-interval over stimuli and seeds in brackets" in after and "mean over 5 seeds" in after
    assert ("†: differs from untrained (two-sided t-test of the difference, generalising over stimuli and seeds "
            "(variance components, Welch-Satterthwaite df) of the seed means") in after
    assert "p_exchangeable" in after  # where the paper's own difference test is
    boot = legend(summary_frame(), method="spearman", stats={**STATS, "inference": "bootstrap"})
    assert "95% BCa bootstrap CI (stimuli resampled) in brackets (1000 samples)" in boot
    assert "percentile-bootstrap test of the difference" in boot


@pytest.mark.parametrize("family, phrase", [
    ("per_roi", "p_fdr: fdr_by over the vs-zero tests within each ROI (stats.fdr.family: per_roi)"),
    ("all", "in one family: vs-zero tests, condition comparisons, partial tests and the pixel baseline's tests "
            "(stats.fdr.family: all)"),
    ("none", "p_fdr: not corrected (stats.fdr.family: none, p_fdr = p)"),
])
def test_legend_names_the_corrected_family(family, phrase):
    text = legend(summary_frame(), method="spearman", stats={**STATS, "fdr": {"family": family, "method": "fdr_by"}})
    assert phrase in text.split("†")[0]


def test_legend_without_reference_has_no_dagger():
    text = legend(summary_frame(), method="spearman", stats={**STATS, "reference": None})
    assert "†" not in text


# ---------------------------------------------------------------- published values

# The paper's numbers (arXiv 2604.16875 v2), as the project's design notes list them.
PAPER_RSA = {
    "V1": ("conv1", {"untrained": 0.076, "bp": 0.034, "fa": 0.012, "pc": 0.056, "stdp": 0.064}),
    "V2": ("conv1", {"untrained": 0.043, "bp": 0.019, "fa": 0.004, "pc": 0.028, "stdp": 0.036}),
    "LOC": ("conv3", {"untrained": -0.005, "bp": 0.012, "fa": 0.006, "pc": 0.006, "stdp": 0.006}),
    "IT": ("fc1", {"untrained": 0.008, "bp": 0.013, "fa": 0.012, "pc": 0.014, "stdp": 0.012}),
}
PAPER_PARTIAL_V1 = {"untrained": 0.074, "stdp": 0.061, "pc": 0.054, "bp": 0.026, "fa": 0.005}
PAPER_ACCURACY = {"bp": 82.4, "stdp": 63.2, "pc": 56.6, "fa": 39.0, "untrained": 10.0}
PAPER_LABELS = {"untrained": "untrained", "bp": "BP", "fa": "FA", "pc": "PC", "stdp": "STDP"}


def test_published_values_are_the_papers():
    published = read_published(PUBLISHED)
    values = {tuple(row[:4]): row[4] for row in
              published[["measure", "roi", "layer", "condition", "value"]].itertuples(index=False)}
    expected = {("rsa", roi, layer, c): v for roi, (layer, by_c) in PAPER_RSA.items() for c, v in by_c.items()}
    expected |= {("partial_rsa", "V1", "conv1", c): v for c, v in PAPER_PARTIAL_V1.items()}
    expected |= {("train_accuracy", "", "", c): v for c, v in PAPER_ACCURACY.items()}
    assert values == expected
    assert dict(zip(published["condition"], published["paper_label"])) == PAPER_LABELS
    assert set(published["unit"]) == {"spearman_rho", "percent"}
    assert published["source"].str.len().gt(0).all()
    assert "2604.16875" in PUBLISHED.read_text().splitlines()[1] and "v2" in PUBLISHED.read_text()[:400]


def test_published_conditions_are_conditions_of_the_paper_config():
    import yaml

    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    assert set(read_published(PUBLISHED)["condition"]) <= set(config["conditions"])
    assert config["paper_comparison"] is True


# ---------------------------------------------------------------- paper comparison

def small_published() -> pd.DataFrame:
    rows = [
        ["rsa", "V1", "conv1", "untrained", "untrained", 0.076, "spearman_rho", "s"],
        ["rsa", "V1", "conv1", "bp", "BP", 0.034, "spearman_rho", "s"],
        ["rsa", "V1", "conv1", "stdp", "STDP", 0.064, "spearman_rho", "s"],
        ["rsa", "LOC", "conv3", "bp", "BP", 0.012, "spearman_rho", "s"],
        ["rsa", "V2", "conv1", "bp", "BP", 0.019, "spearman_rho", "s"],
        ["rsa", "IT", "fc1", "bp", "BP", 0.013, "spearman_rho", "s"],
        ["partial_rsa", "V1", "conv1", "bp", "BP", 0.026, "spearman_rho", "s"],
        ["train_accuracy", "", "", "untrained", "untrained", 10.0, "percent", "s"],
        ["train_accuracy", "", "", "bp", "BP", 82.4, "percent", "s"],
        ["train_accuracy", "", "", "stdp", "STDP", 63.2, "percent", "s"],
    ]
    columns = ["measure", "roi", "layer", "condition", "paper_label", "value", "unit", "source"]
    return pd.DataFrame(rows, columns=columns)


def histories() -> dict:
    def history(train, test):
        return pd.DataFrame({"epoch": [0, 1, 2], "train_acc": [np.nan, 0.5, train], "test_acc": [0.1, 0.4, test]})

    untrained = pd.DataFrame({"epoch": [0], "train_acc": [np.nan], "test_acc": [0.09]})
    return {("untrained", 1): untrained, ("untrained", 2): untrained.assign(test_acc=0.11),
            ("bp", 1): history(0.80, 0.60), ("bp", 2): history(0.84, 0.64)}


def test_final_accuracies_are_seed_means_of_the_last_epoch_in_percent():
    acc = final_accuracies(histories()).set_index(["measure", "condition"])
    assert acc.loc[("train_accuracy", "bp"), "this_run"] == pytest.approx(82.0)
    assert acc.loc[("train_accuracy", "bp"), "this_run_std"] == pytest.approx(np.std([80, 84], ddof=1))
    assert acc.loc[("heldout_accuracy", "bp"), "this_run"] == pytest.approx(62.0)
    assert acc.loc[("heldout_accuracy", "untrained"), "this_run"] == pytest.approx(10.0)
    assert np.isnan(acc.loc[("train_accuracy", "untrained"), "this_run"])
    assert (acc["n_seeds"] == 2).all()


def test_paper_comparison_joins_the_right_rows():
    summary = summary_frame()  # V1 untrained/bp, LOC untrained/bp, IT untrained; no stdp, no V2
    partial = pd.DataFrame({"roi": ["V1"], "layer": ["conv1"], "condition": ["bp"], "rho_partial_mean": [0.02],
                            "rho_partial_std": [0.003]})
    out = paper_comparison(small_published(), summary, partial, final_accuracies(histories()))
    assert list(out.columns) == COMPARISON_COLUMNS
    row = out.set_index(["measure", "roi", "condition"]).loc
    v1_bp = row[("rsa", "V1", "bp")]
    assert v1_bp["paper"] == 0.034 and v1_bp["this_run"] == 0.0336
    assert v1_bp["difference"] == pytest.approx(0.0336 - 0.034)
    assert (v1_bp["this_run_ci_low"], v1_bp["this_run_ci_high"], v1_bp["within_ci"]) == (0.011, 0.0555, True)
    assert row[("rsa", "V1", "untrained")]["within_ci"] is True  # 0.076 in [0.05, 0.1]
    assert row[("rsa", "LOC", "bp")]["within_ci"] is True and row[("rsa", "LOC", "bp")]["difference"] == \
        pytest.approx(0.0121 - 0.012)
    # Missing condition, ROI, or a different layer: NaN and a note, not an error.
    stdp = row[("rsa", "V1", "stdp")]
    assert np.isnan(stdp["this_run"]) and np.isnan(stdp["difference"]) and stdp["within_ci"] is None
    assert "'stdp' is not in this run" in stdp["note"]
    assert "'V2' is not in this run" in row[("rsa", "V2", "bp")]["note"]
    assert np.isnan(row[("rsa", "IT", "bp")]["this_run"])  # IT has no bp row in the summary
    partial_bp = row[("partial_rsa", "V1", "bp")]
    assert partial_bp["difference"] == pytest.approx(0.02 - 0.026) and partial_bp["this_run_std"] == 0.003
    assert partial_bp["within_ci"] is None and partial_bp["n_seeds"] == 5
    train = row[("train_accuracy", "", "bp")]
    assert train["this_run"] == pytest.approx(82.0) and train["difference"] == pytest.approx(82.0 - 82.4)
    assert "train_acc" in train["note"]
    assert np.isnan(row[("train_accuracy", "", "untrained")]["this_run"])
    assert "not in this run" in row[("train_accuracy", "", "stdp")]["note"]
    held = row[("heldout_accuracy", "", "bp")]
    assert np.isnan(held["paper"]) and held["this_run"] == pytest.approx(62.0) and np.isnan(held["difference"])
    assert len(out) == len(small_published()) + 3  # one held-out row per published accuracy


def test_a_different_layer_is_not_compared():
    summary = summary_frame().replace({"layer": {"conv3": "conv2"}})
    out = paper_comparison(small_published(), summary, None, None).set_index(["measure", "roi", "condition"])
    loc = out.loc[("rsa", "LOC", "bp")]
    assert np.isnan(loc["this_run"]) and "maps LOC to conv2" in loc["note"]
    assert "heldout_accuracy" not in out.index.get_level_values("measure")


def test_write_paper_comparison_reads_the_files(tmp_path):
    summary = summary_frame()
    summary.to_csv(tmp_path / "summary.tsv", sep="\t", index=False)
    pd.DataFrame({"roi": ["V1"], "layer": ["conv1"], "condition": ["bp"], "rho_partial_mean": [0.02],
                  "rho_partial_std": [0.003]}).to_csv(tmp_path / "partial.tsv", sep="\t", index=False)
    paths = {}
    for (condition, seed), frame in histories().items():
        paths[(condition, seed)] = tmp_path / f"{condition}-{seed}.tsv"
        frame.to_csv(paths[(condition, seed)], sep="\t", index=False)
    write_paper_comparison(PUBLISHED, tmp_path / "summary.tsv", tmp_path / "partial.tsv", paths, tmp_path / "out.tsv")
    out = pd.read_csv(tmp_path / "out.tsv", sep="\t", keep_default_na=False, na_values=[""])
    assert len(out) == 20 + 5 + 5 + 5
    v1_bp = out[(out["measure"] == "rsa") & (out["roi"] == "V1") & (out["condition"] == "bp")].iloc[0]
    assert v1_bp["difference"] == pytest.approx(0.0336 - 0.034, abs=1e-6)
    assert out.loc[out["measure"] == "heldout_accuracy", "paper"].isna().all()
