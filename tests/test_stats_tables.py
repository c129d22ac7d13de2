"""The workflow's statistics tables: per-ROI tests, FDR families, noise ceiling,
layer selection and split-half RDMs, against the engine's functions and statsmodels."""

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial.distance import pdist, squareform
from statsmodels.stats.multitest import multipletests

from lrrsa.rdm_io import save_rdm
from lrrsa.rsa.bootstrap import bootstrap_ci, bootstrap_pvalue
from lrrsa.rsa.contrasts import contrast_inference
from lrrsa.rsa.comparators import rsa_score, upper_triangle
from lrrsa.rsa.noise_ceiling import noise_ceiling, split_half_reliability
from lrrsa.rsa.partial import partial_rsa
from lrrsa.rsa.permutation import permutation_test
from lrrsa.stats.fdr_family import with_fdr
from lrrsa.stats.layer_selection import layer_table
from lrrsa.stats.noise_ceiling_table import noise_ceiling_table
from lrrsa.stats.roi_tests import TEST_COLUMNS, roi_tests
from lrrsa.stats.seeds import derived_seed
from lrrsa.stats.split_half import write_split_half_rdms
from lrrsa.stats.study_tables import pairwise_table, read_tests, subjects_table, summary_table
from lrrsa.tsv import write_table

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
        method="spearman", n_permutations=199, permutation_scheme="stimuli", inference="bootstrap", n_bootstrap=100,
        bootstrap_scheme="stimuli", bootstrap_subjects=False, ci_method="percentile", ci_level=0.9, seed=3,
    )


def test_variance_components_rows_are_the_contrast_inference_of_the_conditions(rdm_files):
    """The default inference: every score and difference row is
    lrrsa.rsa.contrasts.contrast_inference of the (condition, seed) grid against the
    subjects' RDMs; the paper's Mantel test of each difference sits beside it."""
    root = rdm_files
    models = {(c, s): root / f"{c}-{s}-conv1.npz" for c in CONDITIONS for s in SEEDS}
    subjects = {s: root / f"V1-{s}.npz" for s in ["sub-01", "sub-02"]}
    for factors in (["stimuli", "seeds"], ["stimuli", "subjects", "seeds"]):
        tests = roi_tests("V1", "conv1", models, root / "V1-group.npz", subjects, None, conditions=CONDITIONS,
                          method="spearman", n_permutations=99, permutation_scheme="stimuli",
                          generalise_over=factors, ci_level=0.9, seed=3)
        grid = np.stack([[load(models[(c, s)]) for s in SEEDS] for c in CONDITIONS])
        weights = np.vstack([np.eye(3), [-1, 1, 0], [-1, 0, 1], [0, -1, 1]])
        oracle = contrast_inference(grid, np.stack([load(p) for p in subjects.values()]), weights, level=0.9,
                                    factors=factors)
        rows = pd.concat([tests[tests["test"] == "score"], tests[tests["test"] == "difference"]])
        for column, expected in [("estimate", oracle.estimate), ("se", oracle.se), ("df", oracle.df),
                                 ("ci_low", oracle.low), ("ci_high", oracle.high)]:
            np.testing.assert_allclose(rows[column], expected, rtol=1e-10, err_msg=column)
        diff = tests[tests["test"] == "difference"]
        np.testing.assert_allclose(diff["p"], oracle.p[3:], rtol=1e-10)
        models_flat = np.stack([load(models[(c, s)]) for c in CONDITIONS for s in SEEDS])
        mantel = permutation_test(models_flat, load(root / "V1-group.npz"), 99,
                                  derived_seed(3, "permutations")).combine(np.kron(np.eye(3), [0.5, 0.5]))
        np.testing.assert_allclose(diff["p_exchangeable"], [mantel.p_diff[1, 0], mantel.p_diff[2, 0], mantel.p_diff[2, 1]])
        assert tests[tests["test"] == "score"]["p_exchangeable"].isna().all()


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
    assert diff.loc[("fa", "bp"), "p_exchangeable"] == by_condition.p_diff[2, 1]
    assert diff.loc[("bp", "untrained"), "estimate"] == pytest.approx(by_condition.rho[1] - by_condition.rho[0])
    boot = bootstrap_ci(models, group, n_bootstrap=100, ci="percentile", level=0.9, seed=derived_seed(3, "bootstrap"),
                        contrasts=np.vstack([means, means[1] - means[0]]))
    assert diff.loc[("bp", "untrained"), "p"] == bootstrap_pvalue(boot.samples)[3]
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
            rows.append([roi, "conv1", "score", c, "", "group", 0.1, 0.01, 0.05, 8.0, 0.0, 0.2, rng.uniform(0, 0.1),
                         np.nan, 91, 0])
            rows.append([roi, "conv1", "partial", c, "", "group", 0.05, 0.01, np.nan, np.nan, np.nan, np.nan,
                         rng.uniform(0, 0.1), np.nan, 91, np.nan])
            rows.append([roi, "conv1", "seed_average_rdm", c, "", "group", 0.12, np.nan, np.nan, np.nan, np.nan, np.nan,
                         np.nan, np.nan, 91, np.nan])
            for s in ["sub-01", "sub-02", "mean"]:
                rows.append([roi, "conv1", "subject", c, "", s, 0.08, np.nan, np.nan, np.nan, np.nan, np.nan,
                             rng.uniform(0, 0.2), np.nan, 91, np.nan])
        for a, b in [("bp", "untrained"), ("fa", "untrained"), ("fa", "bp")]:
            rows.append([roi, "conv1", "difference", a, b, "group", 0.02, np.nan, 0.05, 6.0, -0.1, 0.1,
                         rng.uniform(0, 0.1), rng.uniform(0, 0.1), 91, 3])
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
        # the paper's own difference test is corrected over the same family, apart from the calibrated one
        np.testing.assert_allclose(tests.loc[diff, "p_exchangeable_fdr"],
                                   multipletests(tests.loc[diff, "p_exchangeable"], method="fdr_bh")[1])


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
    from lrrsa.rsa.rdm import rdm

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


# ------------------------------------------------------------------ degenerate input


def with_missing(rdm, stimulus):
    out = rdm.copy()
    out[stimulus, :] = out[:, stimulus] = np.nan
    out[stimulus, stimulus] = 0.0
    return out


def test_roi_tests_drop_missing_stimuli_and_leave_out_a_subject_without_data(rdm_files, tmp_path):
    """A uniform grey image (NaN row of the pixel RDM), a model silent for one image
    (NaN row) and a subject without voxels in the ROI (an RDM of NaN): every test still
    runs; scores and partial correlations are those of the kept pairs; the subject
    without data has NaN rows with n_pairs 0 and is left out of the subject mean."""
    root = rdm_files
    stimuli = [f"s{i:02d}" for i in range(N)]
    save_rdm(tmp_path / "pixel.npz", with_missing(load(root / "pixel.npz"), 3), stimuli)
    models = {(c, s): root / f"{c}-{s}-conv1.npz" for c in CONDITIONS for s in SEEDS}
    save_rdm(tmp_path / "bp-1.npz", with_missing(load(root / "bp-1-conv1.npz"), 5), stimuli)
    models[("bp", 1)] = tmp_path / "bp-1.npz"
    empty = np.full((N, N), np.nan)
    np.fill_diagonal(empty, 0.0)
    save_rdm(tmp_path / "sub-02.npz", empty, stimuli)
    group = load(root / "V1-sub-01.npz")  # the mean of the subjects with data
    save_rdm(tmp_path / "group.npz", group, stimuli)
    tests = roi_tests("V1", "conv1", models, tmp_path / "group.npz",
                      {"sub-01": root / "V1-sub-01.npz", "sub-02": tmp_path / "sub-02.npz"}, tmp_path / "pixel.npz",
                      conditions=CONDITIONS, method="spearman", n_permutations=99, permutation_scheme="stimuli",
                      n_bootstrap=50, bootstrap_scheme="stimuli", bootstrap_subjects=True, ci_method="percentile",
                      ci_level=0.9, seed=3)
    y, z = upper_triangle(group), upper_triangle(load(tmp_path / "pixel.npz"))

    def kept(*vectors):
        keep = ~np.any([np.isnan(v) for v in vectors], axis=0)
        return [v[keep] for v in vectors]

    def partial(x):  # partial correlation of ranks over the kept pairs, closed form
        r = [stats.spearmanr(a, b).statistic for a, b in itertools.combinations(kept(x, y, z), 2)]
        return (r[0] - r[1] * r[2]) / np.sqrt((1 - r[1] ** 2) * (1 - r[2] ** 2))

    bp = [upper_triangle(load(models[("bp", s)])) for s in SEEDS]
    score = tests[tests["test"] == "score"].set_index("condition")
    assert score.loc["bp", "estimate"] == pytest.approx(np.mean([stats.spearmanr(*kept(x, y)).statistic for x in bp]))
    assert score.loc["bp", "n_pairs"] == (N - 1) * (N - 2) // 2 and np.isfinite(score["ci_low"]).all()
    part = tests[tests["test"] == "partial"].set_index("condition")
    assert part.loc["bp", "estimate"] == pytest.approx(np.mean([partial(x) for x in bp]))
    assert np.isfinite(part["p"]).all()
    subject = tests[tests["test"] == "subject"]
    missing = subject[subject["subject"] == "sub-02"]
    assert missing["estimate"].isna().all() and missing["p"].isna().all() and (missing["n_pairs"] == 0).all()
    one = subject[subject["subject"] == "sub-01"].set_index("condition")
    mean = subject[subject["subject"] == "mean"].set_index("condition")
    np.testing.assert_allclose(mean.loc[CONDITIONS, "estimate"], one.loc[CONDITIONS, "estimate"])
    np.testing.assert_allclose(mean.loc[CONDITIONS, "p"], one.loc[CONDITIONS, "p"])


def test_roi_tests_need_four_stimuli_and_the_error_names_the_roi_and_file(tmp_path):
    rng = np.random.default_rng(3)
    stimuli = ["a", "b", "c"]
    for name in ["m", "group"]:
        save_rdm(tmp_path / f"{name}.npz", squareform(pdist(rng.normal(size=(3, 2)))), stimuli)
    with pytest.raises(ValueError, match=r"ROI IT: .*group\.npz has 3 stimuli; the statistics need at least 4"):
        roi_tests("IT", "fc1", {("bp", 1): tmp_path / "m.npz"}, tmp_path / "group.npz", {}, None, conditions=["bp"],
                  method="spearman", n_permutations=9, permutation_scheme="stimuli", n_bootstrap=0,
                  bootstrap_scheme="stimuli", bootstrap_subjects=False, ci_method="percentile", ci_level=0.9, seed=0)


def test_noise_ceiling_table_leaves_out_a_subject_without_data(rdm_files, tmp_path):
    root = rdm_files
    stimuli = [f"s{i:02d}" for i in range(N)]
    rng = np.random.default_rng(4)
    third = load(root / "V1-sub-01.npz") + squareform(rng.uniform(size=N * (N - 1) // 2))
    save_rdm(tmp_path / "sub-03.npz", third, stimuli)
    empty = np.full((N, N), np.nan)
    np.fill_diagonal(empty, 0.0)
    save_rdm(tmp_path / "sub-04.npz", empty, stimuli)
    paths = {"V1": {"sub-01": root / "V1-sub-01.npz", "sub-02": root / "V1-sub-02.npz", "sub-03": tmp_path / "sub-03.npz",
                    "sub-04": tmp_path / "sub-04.npz"}}
    table = noise_ceiling_table(paths, None, "spearman").set_index("subject")
    with_data = np.stack([load(paths["V1"][s]) for s in ["sub-01", "sub-02", "sub-03"]])
    nc = noise_ceiling(with_data)
    assert table.loc["sub-04", ["lower", "upper", "inter_subject_rho"]].isna().all()
    assert table.loc["sub-04", "n_subjects"] == 0 and (table.drop(index="sub-04")["n_subjects"] == 3).all()
    assert table.loc["sub-02", "lower"] == pytest.approx(nc.lower_subjects[1])
    assert table.loc["mean", "lower"] == pytest.approx(nc.lower) and table.loc["mean", "upper"] == pytest.approx(nc.upper)
    pairs = [rsa_score(with_data[a], with_data[b]).rho for a, b in [(0, 1), (0, 2), (1, 2)]]
    from lrrsa.rsa.noise_ceiling import group_noise_ceiling

    assert (table.loc["group", "lower"], table.loc["group", "upper"]) == pytest.approx(
        group_noise_ceiling(np.mean(pairs), 3, "spearman"))


def test_a_subject_without_voxels_in_an_roi_is_recorded_not_fatal(tmp_path):
    """sub-02 has no IT voxel: roi_voxels.tsv counts 0, its IT RDM is NaN, the group RDM
    is sub-01's, its split-half RDMs are NaN; sub-02's other ROI and sub-01 are computed."""
    pytest.importorskip("tables")
    from lrrsa.data.demo import write_things_dataset
    from lrrsa.data.stimuli import write_stimulus_table
    from lrrsa.data.things_fmri import roi_voxel_counts
    from lrrsa.rdms import write_group_rdm, write_roi_rdm

    write_things_dataset(tmp_path / "things", n_concepts=8, n_categories=2, n_exemplars=1, n_test_images=5,
                         n_test_repeats=4, subjects=["sub-01", "sub-02"], n_other_voxels=10, image_size=32, seed=1)
    betas = tmp_path / "things" / "betas_csv"
    voxels = pd.read_csv(betas / "sub-02_VoxelMetadata.csv")
    voxels["IT"] = 0
    voxels.to_csv(betas / "sub-02_VoxelMetadata.csv", index=False)
    counts = roi_voxel_counts(betas, ["sub-01", "sub-02"], {"IT": ["IT"], "V1": ["V1"]}).set_index(["roi", "subject"])
    assert counts.loc[("IT", "sub-02"), "n_voxels"] == 0 and counts.loc[("IT", "sub-02"), "n_selected"] == 0
    assert counts.loc[("IT", "sub-01"), "n_voxels"] > 0 and counts.loc[("V1", "sub-02"), "n_voxels"] > 0
    meta = pd.read_csv(betas / "sub-01_StimulusMetadata.csv")
    train = meta[meta["trial_type"] == "train"].drop_duplicates("stimulus")
    write_stimulus_table(tmp_path / "stimuli.tsv", train[["stimulus", "concept"]].reset_index(drop=True))
    for subject in ["sub-01", "sub-02"]:
        write_roi_rdm(betas, subject, ["IT"], tmp_path / "stimuli.tsv", tmp_path / f"IT-{subject}.npz", zscore=True,
                      min_nc_testset=None, metric="correlation")
    empty = load(tmp_path / "IT-sub-02.npz")
    assert np.isnan(upper_triangle(empty)).all() and (np.diag(empty) == 0).all()
    assert np.isfinite(upper_triangle(load(tmp_path / "IT-sub-01.npz"))).all()
    write_group_rdm([tmp_path / "IT-sub-01.npz", tmp_path / "IT-sub-02.npz"], tmp_path / "stimuli.tsv",
                    tmp_path / "IT-group.npz")
    np.testing.assert_array_equal(load(tmp_path / "IT-group.npz"), load(tmp_path / "IT-sub-01.npz"))
    write_split_half_rdms(betas, ["sub-01", "sub-02"], ["IT"], tmp_path / "IT-split.npz", zscore=True,
                          min_nc_testset=None, metric="correlation")
    with np.load(tmp_path / "IT-split.npz") as data:
        assert np.isnan(upper_triangle(data["odd"][1])).all() and np.isfinite(upper_triangle(data["odd"][0])).all()


def test_the_fdr_family_of_the_comparisons_is_the_runs_pairs_times_rois():
    """The paper's family (stats.fdr.family: comparisons) is every pair of the run's
    conditions in every ROI: 6 conditions x 4 ROIs -> 15 x 4 = 60, and summary.md's
    legend says so (not the paper's 40, which was 10 pairs of 5 conditions x 4 ROIs)."""
    from lrrsa.stats.roi_tests import _condition_pairs
    from lrrsa.tables import legend

    conditions = ["untrained", "bp", "fa", "pc", "stdp", "hebb"]
    rois = ["V1", "V2", "LOC", "IT"]
    rng = np.random.default_rng(5)
    rows = [[roi, "conv1", "difference", conditions[a], conditions[b], "group", 0.0, np.nan, np.nan, np.nan, np.nan,
             np.nan, rng.uniform(), rng.uniform(), 91, 0] for roi in rois for a, b in _condition_pairs(conditions)]
    rows += [[roi, "conv1", "score", c, "", "group", 0.1, np.nan, np.nan, np.nan, np.nan, np.nan, rng.uniform(),
              np.nan, 91, 0] for roi in rois for c in conditions]
    tests = with_fdr(pd.DataFrame(rows, columns=TEST_COLUMNS), "comparisons", "fdr_bh")
    diff = tests["test"] == "difference"
    assert diff.sum() == 60
    np.testing.assert_allclose(tests.loc[diff, "p_fdr"], multipletests(tests.loc[diff, "p"], method="fdr_bh")[1])
    summary = pd.DataFrame({"roi": np.repeat(rois, 6), "layer": "conv1", "condition": conditions * 4, "n_seeds": 5,
                            "p": 0.01})
    stats_config = {"n_permutations": 10000, "permutation_scheme": "stimuli", "n_bootstrap": 1000,
                    "bootstrap_scheme": "stimuli", "bootstrap_subjects": False, "ci_method": "bca", "ci_level": 0.95,
                    "reference": "untrained", "fdr": {"family": "comparisons", "method": "fdr_bh"}}
    text = legend(summary, method="spearman", stats=stats_config)
    assert "fdr_bh over the 60 condition comparisons (15 pairs of 6 conditions x 4 ROIs" in text
    per_roi = legend(summary, method="spearman", stats={**stats_config, "fdr": {"family": "per_roi", "method": "fdr_bh"}})
    assert "fdr_bh over the 15 condition comparisons (15 pairs of 6 conditions: vs the reference and pairwise) within " \
           "each ROI" in per_roi


def test_tables_carry_the_count_of_undefined_bootstrap_samples(v1_tests):
    assert (v1_tests.loc[v1_tests["test"].isin(["score", "difference"]), "n_boot_undefined"] >= 0).all()
    assert v1_tests.loc[~v1_tests["test"].isin(["score", "difference"]), "n_boot_undefined"].isna().all()
    tests = v1_tests.assign(n_boot_undefined=np.where(v1_tests["test"] == "difference", 7, v1_tests["n_boot_undefined"]))
    pairs = pairwise_table(tests, ["V1"], CONDITIONS, family="comparisons", fdr_method="fdr_bh")
    assert (pairs["n_boot_undefined"] == 7).all()
    summary = pd.DataFrame({"roi": "V1", "layer": "conv1", "condition": CONDITIONS, "rho_mean": 0.1, "rho_std": 0.01,
                            "n_seeds": 2, "rho_min": 0.0, "rho_max": 0.2, "rho_subject_mean": 0.1})
    table = summary_table(summary, tests, reference="untrained", family="comparisons", fdr_method="fdr_bh")
    score = v1_tests[v1_tests["test"] == "score"].set_index("condition")
    np.testing.assert_array_equal(table.set_index("condition").loc[CONDITIONS, "n_boot_undefined"],
                                  score.loc[CONDITIONS, "n_boot_undefined"])
