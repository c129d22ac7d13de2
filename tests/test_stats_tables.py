"""The workflow's statistics tables: per-ROI tests, FDR families, noise ceiling,
layer selection and split-half RDMs, against the engine's functions and statsmodels."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial.distance import pdist, squareform
from statsmodels.stats.multitest import multipletests

from lrrsa.rdm_io import save_rdm
from lrrsa.rsa import (
    bootstrap_ci, noise_ceiling, partial_rsa, permutation_test, rsa_score, split_half_reliability, upper_triangle,
)
from lrrsa.stats import (
    TEST_COLUMNS, derived_seed, layer_table, noise_ceiling_table, pairwise_table, read_tests, roi_tests,
    subjects_table, summary_table, with_fdr, write_split_half_rdms, write_table,
)

CONDITIONS = ["untrained", "bp", "fa"]
SEEDS = [1, 2]
N = 14


@pytest.fixture(scope="module")
def rdm_files(tmp_path_factory):
    """Model RDMs (3 conditions x 2 seeds x 2 layers), 2 subjects x 2 ROIs and a pixel RDM
    with planted structure: bp tracks the brain, untrained the pixels."""
    root = tmp_path_factory.mktemp("rdms")
    rng = np.random.default_rng(0)
    stimuli = [f"s{i:02d}" for i in range(N)]
    brain_signal = rng.normal(size=(N, 6))
    pixels = rng.normal(size=(N, 6))
    paths = {"stimuli": stimuli}
    save_rdm(root / "pixel.npz", squareform(pdist(pixels)), stimuli)
    for roi in ["V1", "IT"]:
        for subject in ["sub-01", "sub-02"]:
            x = brain_signal + 0.3 * pixels + rng.normal(size=(N, 6))
            save_rdm(root / f"{roi}-{subject}.npz", squareform(pdist(x)), stimuli)
        group = np.mean([np.load(root / f"{roi}-{s}.npz")["rdm"] for s in ["sub-01", "sub-02"]], axis=0)
        save_rdm(root / f"{roi}-group.npz", group, stimuli)
    signal = {"untrained": pixels, "bp": brain_signal, "fa": rng.normal(size=(N, 6))}
    for c in CONDITIONS:
        for s in SEEDS:
            for layer in ["conv1", "fc1"]:
                weight = 1.0 if layer == "conv1" else 0.2
                x = weight * signal[c] + rng.normal(size=(N, 6))
                save_rdm(root / f"{c}-{s}-{layer}.npz", squareform(pdist(x)), stimuli)
    return root


def load(path):
    return np.load(path)["rdm"]


@pytest.fixture(scope="module")
def v1_tests(rdm_files):
    root = rdm_files
    return roi_tests(
        "V1", "conv1", {(c, s): root / f"{c}-{s}-conv1.npz" for c in CONDITIONS for s in SEEDS}, root / "V1-group.npz",
        {s: root / f"V1-{s}.npz" for s in ["sub-01", "sub-02"]}, root / "pixel.npz", conditions=CONDITIONS,
        method="spearman", n_permutations=199, permutation_scheme="stimuli", n_bootstrap=100,
        bootstrap_scheme="stimuli", bootstrap_subjects=False, ci_method="percentile", ci_level=0.9, seed=3,
    )


def test_roi_tests_are_the_engine_applied_to_condition_means(rdm_files, v1_tests):
    root = rdm_files
    models = np.stack([load(root / f"{c}-{s}-conv1.npz") for c in CONDITIONS for s in SEEDS])
    group = load(root / "V1-group.npz")
    perm = permutation_test(models, group, 199, derived_seed(3, "permutations"))
    means = np.kron(np.eye(3), [0.5, 0.5])
    by_condition = perm.combine(means)
    score = v1_tests[v1_tests["test"] == "score"].set_index("condition")
    np.testing.assert_allclose(score.loc[CONDITIONS, "estimate"], by_condition.rho)
    np.testing.assert_allclose(score.loc[CONDITIONS, "p"], by_condition.p)
    # the estimate is the seed mean of the scipy scores
    bp = [stats.spearmanr(upper_triangle(load(root / f"bp-{s}-conv1.npz")), upper_triangle(group)).statistic for s in SEEDS]
    assert score.loc["bp", "estimate"] == pytest.approx(np.mean(bp))
    assert score.loc["bp", "std"] == pytest.approx(np.std(bp, ddof=1))
    diff = v1_tests[v1_tests["test"] == "difference"].set_index(["condition", "condition_b"])
    assert list(diff.index) == [("bp", "untrained"), ("fa", "untrained"), ("fa", "bp")]
    assert diff.loc[("fa", "bp"), "p"] == by_condition.p_diff[2, 1]
    assert diff.loc[("bp", "untrained"), "estimate"] == pytest.approx(by_condition.rho[1] - by_condition.rho[0])
    boot = bootstrap_ci(models, group, n_bootstrap=100, ci="percentile", level=0.9, seed=derived_seed(3, "bootstrap"),
                        contrasts=np.vstack([means, means[1] - means[0]]))
    assert score.loc["bp", "ci_low"] == pytest.approx(boot.low[1]) and score.loc["bp", "ci_high"] == pytest.approx(boot.high[1])
    assert diff.loc[("bp", "untrained"), "ci_low"] == pytest.approx(boot.low[3])
    partial = partial_rsa(models, group, load(root / "pixel.npz"), n_permutations=199,
                          seed=derived_seed(3, "permutations")).combine(means)
    np.testing.assert_allclose(v1_tests[v1_tests["test"] == "partial"]["p"], partial.p)
    avg = v1_tests[v1_tests["test"] == "seed_average_rdm"].set_index("condition")
    assert avg.loc["fa", "estimate"] == pytest.approx(rsa_score(models[4:].mean(0), group).rho)
    # planted structure: bp beats untrained at V1 and the pixel RDM explains untrained
    assert score.loc["bp", "p"] < 0.05 and score.loc["bp", "estimate"] > score.loc["untrained", "estimate"]
    part = v1_tests[v1_tests["test"] == "partial"].set_index("condition")
    assert part.loc["untrained", "estimate"] < score.loc["untrained", "estimate"]


def test_subject_mean_test_averages_the_subjects_nulls(rdm_files, v1_tests):
    root = rdm_files
    models = np.stack([load(root / f"{c}-{s}-conv1.npz") for c in CONDITIONS for s in SEEDS])
    means = np.kron(np.eye(3), [0.5, 0.5])
    per = [permutation_test(models, load(root / f"V1-{s}.npz"), 199, derived_seed(3, "permutations")).combine(means)
           for s in ["sub-01", "sub-02"]]
    rows = v1_tests[(v1_tests["test"] == "subject")]
    sub2 = rows[rows["subject"] == "sub-02"].set_index("condition")
    np.testing.assert_allclose(sub2.loc[CONDITIONS, "p"], per[1].p)
    mean = rows[rows["subject"] == "mean"].set_index("condition")
    rho = (per[0].rho + per[1].rho) / 2
    null = (per[0].null + per[1].null) / 2
    np.testing.assert_allclose(mean.loc[CONDITIONS, "estimate"], rho)
    np.testing.assert_allclose(mean.loc[CONDITIONS, "p"], (1 + (null >= rho - 1e-12).sum(0)) / 200)


def test_tests_table_round_trips_through_tsv(tmp_path, v1_tests):
    write_table(v1_tests, tmp_path / "V1.tsv")
    back = read_tests([tmp_path / "V1.tsv"])
    assert list(back.columns) == TEST_COLUMNS and len(back) == len(v1_tests)
    assert (back["condition_b"] == v1_tests["condition_b"]).all() and (back["subject"] == v1_tests["subject"]).all()
    assert not list(tmp_path.glob("*.tmp"))


def fake_tests():
    rows = []
    rng = np.random.default_rng(1)
    for roi in ["V1", "IT"]:
        for c in CONDITIONS:
            rows.append([roi, "conv1", "score", c, "", "group", 0.1, 0.01, 0.0, 0.2, rng.uniform(0, 0.1), 91])
            rows.append([roi, "conv1", "partial", c, "", "group", 0.05, 0.01, np.nan, np.nan, rng.uniform(0, 0.1), 91])
            rows.append([roi, "conv1", "seed_average_rdm", c, "", "group", 0.12, np.nan, np.nan, np.nan, np.nan, 91])
            for s in ["sub-01", "sub-02", "mean"]:
                rows.append([roi, "conv1", "subject", c, "", s, 0.08, np.nan, np.nan, np.nan, rng.uniform(0, 0.2), 91])
        for a, b in [("bp", "untrained"), ("fa", "untrained"), ("fa", "bp")]:
            rows.append([roi, "conv1", "difference", a, b, "group", 0.02, np.nan, -0.1, 0.1, rng.uniform(0, 0.1), 91])
    return pd.DataFrame(rows, columns=TEST_COLUMNS)


@pytest.mark.parametrize("family", ["comparisons", "per_roi", "all", "none"])
def test_fdr_families_are_statsmodels_over_the_named_subsets(family):
    tests = with_fdr(fake_tests(), family, "fdr_bh")
    kind = np.where((tests["test"] == "subject") & (tests["subject"] == "mean"), "subject_mean", tests["test"])
    if family == "none":
        np.testing.assert_array_equal(tests["p_fdr"], tests["p"])
        return
    groups = {"comparisons": kind, "per_roi": kind + "/" + tests["roi"],
              "all": np.where(np.isin(kind, ["subject", "subject_mean"]), kind, "group")}[family]
    for g in set(groups):
        rows = (groups == g) & tests["p"].notna()
        if rows.any():
            np.testing.assert_allclose(tests.loc[rows, "p_fdr"], multipletests(tests.loc[rows, "p"], method="fdr_bh")[1])
    assert tests.loc[tests["test"] == "seed_average_rdm", "p_fdr"].isna().all()
    if family == "comparisons":  # the paper's family: all 6 comparisons of both ROIs together
        diff = tests["test"] == "difference"
        np.testing.assert_allclose(tests.loc[diff, "p_fdr"], multipletests(tests.loc[diff, "p"], method="fdr_bh")[1])


def test_tables_read_the_right_rows():
    tests = fake_tests()
    summary = pd.DataFrame({"roi": ["V1"] * 3 + ["IT"] * 3, "layer": "conv1", "condition": CONDITIONS * 2,
                            "rho_mean": 0.1, "rho_std": 0.01, "n_seeds": 2, "rho_min": 0.09, "rho_max": 0.11,
                            "rho_subject_mean": 0.08})
    out = summary_table(summary, tests, reference="untrained", family="comparisons", fdr_method="fdr_bh")
    corrected = with_fdr(tests, "comparisons", "fdr_bh")
    fa_it = corrected[(corrected["test"] == "difference") & (corrected["roi"] == "IT") & (corrected["condition"] == "fa")
                      & (corrected["condition_b"] == "untrained")].iloc[0]
    row = out[(out["roi"] == "IT") & (out["condition"] == "fa")].iloc[0]
    assert row["p_vs_reference"] == fa_it["p"] and row["p_vs_reference_fdr"] == fa_it["p_fdr"]
    assert np.isnan(out[(out["condition"] == "untrained")]["p_vs_reference"]).all()
    assert (out["rho_seed_average_rdm"] == 0.12).all() and list(out.columns[:9]) == list(summary.columns)
    pairs = pairwise_table(tests, ["V1", "IT"], CONDITIONS, family="comparisons", fdr_method="fdr_bh")
    assert pairs[["roi", "condition_a", "condition_b"]].values.tolist() == [
        ["V1", "bp", "untrained"], ["V1", "fa", "untrained"], ["V1", "fa", "bp"],
        ["IT", "bp", "untrained"], ["IT", "fa", "untrained"], ["IT", "fa", "bp"]]
    ceiling = pd.DataFrame({"roi": ["V1", "IT"], "subject": "mean", "lower": [0.3, 0.5], "upper": [0.6, 0.8]})
    subjects = subjects_table(tests, ceiling, ["V1", "IT"], CONDITIONS, family="comparisons", fdr_method="fdr_bh")
    assert subjects["subject"].tolist()[:3] == ["sub-01", "sub-02", "mean"]
    mean_it = subjects[(subjects["subject"] == "mean") & (subjects["roi"] == "IT")]
    assert (mean_it["nc_upper"] == 0.8).all() and subjects[subjects["subject"] != "mean"]["nc_lower"].isna().all()


def test_noise_ceiling_table_is_the_engines_noise_ceiling(rdm_files, tmp_path):
    root = rdm_files
    paths = {roi: {s: root / f"{roi}-{s}.npz" for s in ["sub-01", "sub-02"]} for roi in ["V1", "IT"]}
    rng = np.random.default_rng(2)
    odd = np.stack([squareform(pdist(rng.normal(size=(5, 3)))) for _ in range(2)])
    even = odd + 0.1 * np.stack([squareform(rng.uniform(size=10)) for _ in range(2)])
    np.savez(tmp_path / "V1.npz", odd=odd, even=even, stimuli=np.array(list("abcde")), subjects=np.array(["sub-01", "sub-02"]))
    table = noise_ceiling_table(paths, {"V1": tmp_path / "V1.npz"}, "spearman")
    subjects = np.stack([load(p) for p in paths["IT"].values()])
    nc = noise_ceiling(subjects)
    it = table[table["roi"] == "IT"].set_index("subject")
    assert it.loc["mean", "lower"] == pytest.approx(nc.lower) and it.loc["mean", "upper"] == pytest.approx(nc.upper)
    assert it.loc["sub-02", "upper"] == pytest.approx(nc.upper_subjects[1])
    assert np.isnan(it.loc["mean", "split_half_r"])
    v1 = table[table["roi"] == "V1"].set_index("subject")
    half = split_half_reliability(odd[1], even[1])
    assert v1.loc["sub-02", "split_half_r_corrected"] == pytest.approx(half.r_corrected)
    assert v1.loc["sub-01", "inter_subject_rho"] == pytest.approx(
        rsa_score(load(paths["V1"]["sub-01"]), load(paths["V1"]["sub-02"])).rho)


def test_layer_selection_picks_on_one_half_and_scores_on_the_other(rdm_files):
    root = rdm_files
    scores = []
    for c in CONDITIONS:
        for s in SEEDS:
            for layer in ["conv1", "fc1"]:
                for roi in ["V1", "IT"]:
                    rho = rsa_score(load(root / f"{c}-{s}-{layer}.npz"), load(root / f"{roi}-group.npz")).rho
                    scores.append([c, s, layer, roi, "group", rho, 91])
    scores = pd.DataFrame(scores, columns=["condition", "seed", "layer", "roi", "subject", "rho", "n_pairs"])
    models = {(c, s, layer): root / f"{c}-{s}-{layer}.npz" for c in CONDITIONS for s in SEEDS for layer in ["conv1", "fc1"]}
    groups = {roi: root / f"{roi}-group.npz" for roi in ["V1", "IT"]}
    table = layer_table(scores, models, groups, {"V1": "conv1", "IT": "fc1"}, CONDITIONS, method="spearman", seed=5)
    assert len(table) == 2 * 2 * 3 and table.groupby(["roi", "condition"])["best"].sum().eq(1).all()
    assert table[table["mapped"]][["roi", "layer"]].drop_duplicates().values.tolist() == [["V1", "conv1"], ["IT", "fc1"]]
    # redo V1 / bp by hand with the same split
    rng = np.random.default_rng(derived_seed(5, "layer_selection"))
    order = rng.permutation(N)
    select, held = np.sort(order[: N // 2]), np.sort(order[N // 2:])
    brain = load(groups["V1"])
    for layer in ["conv1", "fc1"]:
        row = table[(table["roi"] == "V1") & (table["condition"] == "bp") & (table["layer"] == layer)].iloc[0]
        sel = [rsa_score(load(models[("bp", s, layer)])[np.ix_(select, select)], brain[np.ix_(select, select)]).rho for s in SEEDS]
        out = [rsa_score(load(models[("bp", s, layer)])[np.ix_(held, held)], brain[np.ix_(held, held)]).rho for s in SEEDS]
        assert row["rho_select"] == pytest.approx(np.mean(sel)) and row["rho_heldout"] == pytest.approx(np.mean(out))
        assert row["rho_mean"] == pytest.approx(scores.query("roi == 'V1' and condition == 'bp' and layer == @layer")["rho"].mean())
    v1_bp = table[(table["roi"] == "V1") & (table["condition"] == "bp")]
    assert v1_bp.loc[v1_bp["rho_select"].idxmax(), "best"]


def test_split_half_rdms_of_the_repeated_stimuli(tmp_path):
    pytest.importorskip("tables")
    from lrrsa.data.demo import write_things_dataset
    from lrrsa.data.things_fmri import split_half_patterns
    from lrrsa.rsa import rdm

    write_things_dataset(tmp_path / "things", n_concepts=8, n_categories=2, n_exemplars=1, n_test_images=5,
                         n_test_repeats=4, subjects=["sub-01", "sub-02"], n_other_voxels=10, image_size=32, seed=1)
    betas = tmp_path / "things" / "betas_csv"
    write_split_half_rdms(betas, ["sub-01", "sub-02"], ["IT"], tmp_path / "IT.npz", zscore=True, min_nc_testset=None,
                          metric="correlation")
    with np.load(tmp_path / "IT.npz") as data:
        stimuli = data["stimuli"].tolist()
        assert len(stimuli) == 5 and data["odd"].shape == (2, 5, 5)
        halves = split_half_patterns(betas, "sub-02", ["IT"], stimuli)
        np.testing.assert_allclose(data["odd"][1], rdm(halves.odd))
        np.testing.assert_allclose(data["even"][1], rdm(halves.even))
