"""Scores per (layer, roi, subject), the summary table and the main figure."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial.distance import pdist, squareform

from lrrsa.figures.results import plot_rsa_by_roi
from lrrsa.rdm_io import save_rdm
from lrrsa.scoring import score_model, summarise

LAYER_MAP = {"V1": "conv1", "IT": "fc1"}


def test_score_model_scores_every_layer_against_every_brain_rdm(tmp_path):
    rng = np.random.default_rng(0)
    stimuli = [f"s{i}" for i in range(8)]
    rdms = {}
    for name in ["conv1", "fc1", "V1-sub-01", "V1-group", "IT-sub-01", "IT-group"]:
        rdms[name] = squareform(pdist(rng.normal(size=(8, 3))))
        save_rdm(tmp_path / f"{name}.npz", rdms[name], stimuli)
    scores = score_model(
        "bp", 7, {layer: tmp_path / f"{layer}.npz" for layer in ["conv1", "fc1"]},
        {(roi, sub): tmp_path / f"{roi}-{sub}.npz" for roi in ["V1", "IT"] for sub in ["sub-01", "group"]},
        "spearman",
    )
    assert len(scores) == 2 * 2 * 2
    row = scores.query("layer == 'fc1' and roi == 'V1' and subject == 'group'").iloc[0]
    expected = stats.spearmanr(squareform(rdms["fc1"], checks=False), squareform(rdms["V1-group"], checks=False))
    assert row["rho"] == pytest.approx(expected.statistic)
    assert row["n_pairs"] == 28 and row["condition"] == "bp" and row["seed"] == 7

    save_rdm(tmp_path / "other.npz", rdms["fc1"], stimuli[::-1])
    with pytest.raises(ValueError, match="different stimuli"):
        score_model("bp", 7, {"fc1": tmp_path / "other.npz"}, {("V1", "group"): tmp_path / "V1-group.npz"}, "spearman")


def known_scores():
    rows = []
    for condition, base in [("untrained", 0.1), ("bp", 0.3)]:
        for seed, offset in [(1, -0.01), (2, 0.0), (3, 0.01)]:
            for roi, layer in LAYER_MAP.items():
                for other in ["conv1", "fc1"]:
                    rho = base + offset + (0.0 if other == layer else 0.5)
                    rows.append([condition, seed, other, roi, "group", rho, 28])
                    rows.append([condition, seed, other, roi, "sub-01", rho + 0.1, 28])
                    rows.append([condition, seed, other, roi, "sub-02", rho - 0.3, 28])
    return pd.DataFrame(rows, columns=["condition", "seed", "layer", "roi", "subject", "rho", "n_pairs"])


def test_summary_reads_the_mapped_layer_of_the_group_rdm():
    summary = summarise(known_scores(), LAYER_MAP, ["untrained", "bp"])
    assert summary[["roi", "layer", "condition"]].values.tolist() == [
        ["V1", "conv1", "untrained"], ["V1", "conv1", "bp"], ["IT", "fc1", "untrained"], ["IT", "fc1", "bp"]]
    bp = summary.iloc[1]
    assert bp["rho_mean"] == pytest.approx(0.3)
    assert bp["rho_std"] == pytest.approx(np.std([0.29, 0.30, 0.31], ddof=1))
    assert (bp["rho_min"], bp["rho_max"], bp["n_seeds"]) == (pytest.approx(0.29), pytest.approx(0.31), 3)
    assert bp["rho_subject_mean"] == pytest.approx(0.3 + (0.1 - 0.3) / 2)


def test_main_figure_draws_one_bar_per_roi_and_condition():
    """The seed mean of the mapped layer's group scores (the summary's rho_mean); the
    full main figure (intervals, ceiling, marks) is tested in test_figures_results.py."""
    fig = plot_rsa_by_roi(known_scores(), LAYER_MAP, ["untrained", "bp"])
    ax = fig.axes[0]
    summary = summarise(known_scores(), LAYER_MAP, ["untrained", "bp"])
    bars = {c.get_label(): [b.get_height() for b in c] for c in ax.containers}
    assert list(bars) == ["untrained", "bp"]
    for condition, heights in bars.items():
        assert heights == pytest.approx(summary[summary["condition"] == condition]["rho_mean"].tolist())
    assert [t.get_text() for t in ax.get_xticklabels()] == ["V1\n(conv1)", "IT\n(fc1)"]
    assert [t.get_text() for t in fig.legends[0].get_texts()][:2] == ["untrained", "bp"]
    assert "Spearman ρ" in ax.get_ylabel()
