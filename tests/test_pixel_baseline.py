"""The pixel RDM as a low-level baseline (lrrsa.stats.pixel_baseline and the table
stats/pixel_baseline.tsv): its scores against scipy, its Mantel p against a brute-force
permutation loop, its intervals against the engine run directly, and the test of each
condition against it against contrast_inference with the pixel as a condition of
identical seeds and, over seeds alone, against scipy's one-sample t-test."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial.distance import pdist, squareform
from statsmodels.stats.multitest import multipletests

from lrrsa.rdm_io import save_rdm
from lrrsa.rsa.bootstrap import bootstrap_ci, bootstrap_pvalue
from lrrsa.rsa.comparators import upper_triangle
from lrrsa.rsa.contrasts import contrast_inference
from lrrsa.rsa.permutation import permutation_indices
from lrrsa.stats.fdr_family import with_fdr
from lrrsa.stats.pixel_baseline import PIXEL_TEST_COLUMNS, pixel_roi_tests, pixel_tests
from lrrsa.stats.roi_tests import roi_tests
from lrrsa.stats.seeds import derived_seed
from lrrsa.stats.study_tables import PIXEL_BASELINE_COLUMNS, pixel_baseline_table, read_tests, summary_table
from lrrsa.tsv import write_table

CONDITIONS = ["untrained", "bp", "copy"]  # copy: every seed is the pixel RDM itself
SEEDS = [1, 2, 3]
SUBJECTS = ["sub-01", "sub-02", "sub-03"]
N = 14
PERMUTATIONS = 199


def load(path):
    return np.load(path)["rdm"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """2 ROIs x 3 subjects and their group RDM, a pixel RDM the early ROI shares
    structure with, and 3 conditions x 3 seeds of one layer."""
    root = tmp_path_factory.mktemp("pixel")
    rng = np.random.default_rng(11)
    stimuli = [f"s{i:02d}" for i in range(N)]
    pixels, signal = rng.normal(size=(N, 6)), rng.normal(size=(N, 6))
    save_rdm(root / "pixel.npz", squareform(pdist(pixels)), stimuli)
    for roi, weight in [("V1", 1.0), ("V2", 0.2)]:
        rdms = []
        for s in SUBJECTS:
            rdms.append(squareform(pdist(signal + weight * pixels + rng.normal(size=(N, 6)))))
            save_rdm(root / f"{roi}-{s}.npz", rdms[-1], stimuli)
        save_rdm(root / f"{roi}-group.npz", np.mean(rdms, axis=0), stimuli)
    for k in SEEDS:
        save_rdm(root / f"untrained-{k}.npz", squareform(pdist(pixels + rng.normal(size=(N, 6)))), stimuli)
        save_rdm(root / f"bp-{k}.npz", squareform(pdist(signal + 1.5 * rng.normal(size=(N, 6)))), stimuli)
        save_rdm(root / f"copy-{k}.npz", load(root / "pixel.npz"), stimuli)
    return root


def models(root, conditions=CONDITIONS):
    return {(c, k): root / f"{c}-{k}.npz" for c in conditions for k in SEEDS}


def subjects(root, roi="V1"):
    return {s: root / f"{roi}-{s}.npz" for s in SUBJECTS}


def run(root, roi="V1", **settings):
    options = dict(conditions=CONDITIONS, method="spearman", n_permutations=PERMUTATIONS,
                   permutation_scheme="stimuli", generalise_over=["stimuli", "seeds"], ci_level=0.9, seed=4)
    options.update(settings)
    return pixel_roi_tests(roi, "conv1", models(root, options["conditions"]), root / f"{roi}-group.npz",
                           subjects(root, roi), root / "pixel.npz", **options)


def rows(tests, test, subject=None):
    out = tests[tests["test"] == test]
    return out if subject is None else out[out["subject"] == subject].iloc[0]


@pytest.fixture(scope="module")
def v1(files):
    return run(files)


@pytest.mark.parametrize("method, scipy_test", [("spearman", stats.spearmanr), ("pearson", stats.pearsonr)])
def test_pixel_scores_are_scipy_of_the_upper_triangles(files, method, scipy_test):
    tests = run(files, method=method) if method != "spearman" else run(files)
    pixel = upper_triangle(load(files / "pixel.npz"))
    group = rows(tests, "pixel", "group")
    assert group["estimate"] == pytest.approx(scipy_test(pixel, upper_triangle(load(files / "V1-group.npz")))[0],
                                              abs=1e-12)
    assert group["rho_pixel"] == group["estimate"] and group["n_pairs"] == N * (N - 1) // 2
    per_subject = [scipy_test(pixel, upper_triangle(load(files / f"V1-{s}.npz")))[0] for s in SUBJECTS]
    for s, rho in zip(SUBJECTS, per_subject):
        assert rows(tests, "pixel_subject", s)["estimate"] == pytest.approx(rho, abs=1e-12)
    assert rows(tests, "pixel_subject", "mean")["estimate"] == pytest.approx(np.mean(per_subject), abs=1e-12)


def brute_force_null(pixel, brain, seed):
    """spearmanr of the pixel RDM with the brain RDM under each of the ROI tests' permutations."""
    x, iu = upper_triangle(pixel), np.triu_indices(N, k=1)
    perms = permutation_indices(N, PERMUTATIONS, derived_seed(seed, "permutations"))
    return np.array([stats.spearmanr(x, brain[np.ix_(p, p)][iu]).statistic for p in perms])


def test_mantel_p_is_a_brute_force_loop_over_the_roi_tests_permutations(files, v1):
    pixel = load(files / "pixel.npz")
    p_of = lambda rho, null: (1 + (null >= rho - 1e-12).sum()) / (1 + len(null))  # noqa: E731
    group = load(files / "V1-group.npz")
    observed = stats.spearmanr(upper_triangle(pixel), upper_triangle(group)).statistic
    assert rows(v1, "pixel", "group")["p"] == pytest.approx(p_of(observed, brute_force_null(pixel, group, 4)))
    nulls, rhos = [], []
    for s in SUBJECTS:
        brain = load(files / f"V1-{s}.npz")
        nulls.append(brute_force_null(pixel, brain, 4))
        rhos.append(stats.spearmanr(upper_triangle(pixel), upper_triangle(brain)).statistic)
        assert rows(v1, "pixel_subject", s)["p"] == pytest.approx(p_of(rhos[-1], nulls[-1]))
    assert rows(v1, "pixel_subject", "mean")["p"] == pytest.approx(p_of(np.mean(rhos), np.mean(nulls, axis=0)))
    # the same permutations as the ROI tests, so its p is the ROI tests' p of the pixel RDM as a model
    as_model = roi_tests("V1", "conv1", {("pixel", 1): files / "pixel.npz"}, files / "V1-group.npz", {}, None,
                         conditions=["pixel"], method="spearman", n_permutations=PERMUTATIONS,
                         permutation_scheme="stimuli", inference="bootstrap", n_bootstrap=0, seed=4)
    assert rows(as_model, "score")["p"].iloc[0] == rows(v1, "pixel", "group")["p"]


@pytest.mark.parametrize("factors", [["stimuli"], ["stimuli", "seeds"], ["stimuli", "subjects", "seeds"]])
def test_pixel_intervals_are_contrast_inference_with_one_condition_and_one_seed(files, factors):
    tests = run(files, generalise_over=factors)
    pixel = load(files / "pixel.npz")[None, None]
    brains = np.stack([load(p) for p in subjects(files).values()])
    oracle = contrast_inference(pixel, brains, [[1.0]], level=0.9, factors=factors)
    group = rows(tests, "pixel", "group")
    for column, expected in [("se", oracle.se), ("df", oracle.df), ("ci_low", oracle.low), ("ci_high", oracle.high)]:
        assert group[column] == pytest.approx(expected[0], rel=1e-10), column
    assert group["ci_low"] < group["estimate"] < group["ci_high"]
    # a subject's row generalises over stimuli only (one subject, one seed)
    one = contrast_inference(pixel, brains[1:2], [[1.0]], level=0.9, factors=factors)
    assert one.factors == ("stimuli",)
    sub = rows(tests, "pixel_subject", "sub-02")
    assert (sub["se"], sub["ci_low"], sub["ci_high"]) == pytest.approx((one.se[0], one.low[0], one.high[0]), rel=1e-10)
    assert np.isnan(rows(tests, "pixel_subject", "mean")["ci_low"])


def test_pixel_intervals_under_the_bootstrap_are_the_stimulus_bootstrap(files):
    tests = run(files, inference="bootstrap", n_bootstrap=150, ci_method="bca", bootstrap_scheme="stimuli")
    pixel, group = load(files / "pixel.npz"), load(files / "V1-group.npz")
    boot = bootstrap_ci(pixel[None], group, n_bootstrap=150, ci="bca", level=0.9, seed=derived_seed(4, "bootstrap"))
    row = rows(tests, "pixel", "group")
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((boot.low[0], boot.high[0]), rel=1e-10)
    assert row["n_boot_undefined"] == 0 and np.isnan(row["se"])


def test_a_condition_identical_to_the_pixel_rdm_does_not_differ_from_it(files, v1):
    boot = run(files, inference="bootstrap", n_bootstrap=100, ci_method="percentile")
    for tests in (v1, boot):
        copy = rows(tests, "pixel_difference").set_index("condition").loc["copy"]
        assert copy["estimate"] == 0.0 and copy["p"] == 1.0
        assert (copy["ci_low"], copy["ci_high"]) == (0.0, 0.0)
        assert copy["rho_condition"] == pytest.approx(rows(tests, "pixel", "group")["estimate"], abs=1e-12)
    assert rows(v1, "pixel_difference").set_index("condition").loc["copy", "se"] == 0.0


@pytest.mark.parametrize("factors", [["stimuli", "seeds"], ["stimuli", "subjects", "seeds"]])
def test_differences_are_contrast_inference_with_the_pixel_as_a_condition_of_identical_seeds(files, factors):
    tests = run(files, generalise_over=factors)
    grid = np.stack([[load(files / f"{c}-{k}.npz") for k in SEEDS] for c in CONDITIONS]
                    + [[load(files / "pixel.npz")] * len(SEEDS)])
    brains = np.stack([load(p) for p in subjects(files).values()])
    weights = np.array([[1, 0, 0, -1], [0, 1, 0, -1], [0, 0, 1, -1]], dtype=float)
    oracle = contrast_inference(grid, brains, weights, level=0.9, factors=factors)
    diff = rows(tests, "pixel_difference")
    assert diff["condition"].tolist() == CONDITIONS and (diff["condition_b"] == "pixel").all()
    for column, expected in [("estimate", oracle.estimate), ("se", oracle.se), ("df", oracle.df),
                             ("ci_low", oracle.low), ("ci_high", oracle.high), ("p", oracle.p)]:
        np.testing.assert_allclose(diff[column], expected, rtol=1e-10, err_msg=column)
    np.testing.assert_allclose(diff["estimate"], diff["rho_condition"] - diff["rho_pixel"], atol=1e-12)
    # rho_condition is the seed mean of scipy's scores against the group RDM
    group = upper_triangle(load(files / "V1-group.npz"))
    bp = [stats.spearmanr(upper_triangle(load(files / f"bp-{k}.npz")), group).statistic for k in SEEDS]
    assert diff.set_index("condition").loc["bp", "rho_condition"] == pytest.approx(np.mean(bp), abs=1e-12)


def test_over_seeds_alone_a_difference_is_the_t_test_of_the_paired_per_seed_differences(files):
    """The pixel is constant over seeds, so the seed variance of condition - pixel is the
    condition's own: the test is scipy's one-sample t-test of d_k = rho_(c,k) - rho_pixel."""
    tests = run(files, generalise_over=["seeds"])
    group = upper_triangle(load(files / "V1-group.npz"))
    rho_pixel = stats.spearmanr(upper_triangle(load(files / "pixel.npz")), group).statistic
    for c in ["untrained", "bp"]:
        d = np.array([stats.spearmanr(upper_triangle(load(files / f"{c}-{k}.npz")), group).statistic
                      for k in SEEDS]) - rho_pixel
        t = stats.ttest_1samp(d, 0.0)
        ci = t.confidence_interval(0.9)
        row = rows(tests, "pixel_difference").set_index("condition").loc[c]
        assert row["estimate"] == pytest.approx(d.mean(), abs=1e-12)
        assert row["se"] == pytest.approx(d.std(ddof=1) / np.sqrt(len(SEEDS)), rel=1e-9)
        assert row["df"] == len(SEEDS) - 1 and row["p"] == pytest.approx(t.pvalue, rel=1e-9)
        assert (row["ci_low"], row["ci_high"]) == pytest.approx((ci.low, ci.high), rel=1e-9)
        assert row["std"] == pytest.approx(d.std(ddof=1), rel=1e-9)


def test_bootstrap_differences_score_the_pixel_on_the_same_samples(files):
    tests = run(files, inference="bootstrap", n_bootstrap=120, ci_method="percentile")
    all_models = np.stack([load(files / f"{c}-{k}.npz") for c in CONDITIONS for k in SEEDS]
                          + [load(files / "pixel.npz")] * len(SEEDS))
    weights = np.zeros((3, 12))
    for row in range(3):
        weights[row, 3 * row:3 * row + 3] = 1 / 3
        weights[row, 9:] = -1 / 3
    boot = bootstrap_ci(all_models, load(files / "V1-group.npz"), n_bootstrap=120, ci="percentile", level=0.9,
                        seed=derived_seed(4, "bootstrap"), contrasts=weights)
    diff = rows(tests, "pixel_difference")
    np.testing.assert_allclose(diff["ci_low"], boot.low, rtol=1e-10)
    np.testing.assert_allclose(diff["p"], bootstrap_pvalue(boot.samples), rtol=1e-10)
    assert diff["se"].isna().all() and (diff["n_boot_undefined"] == 0).all()


def test_every_roi_gets_the_pixel_scores_and_only_mapped_ones_the_differences(files):
    settings = dict(conditions=CONDITIONS, method="spearman", n_permutations=99, permutation_scheme="stimuli",
                    generalise_over=["stimuli"], ci_level=0.95, seed=0)
    tests = pixel_tests(["V1", "V2"], {"V1": "conv1"}, {"conv1": models(files)},
                        {roi: files / f"{roi}-group.npz" for roi in ["V1", "V2"]},
                        {roi: subjects(files, roi) for roi in ["V1", "V2"]}, files / "pixel.npz", **settings)
    assert list(tests.columns) == PIXEL_TEST_COLUMNS
    v2 = tests[tests["roi"] == "V2"]
    assert v2["test"].tolist() == ["pixel"] + ["pixel_subject"] * 4 and (v2["layer"] == "").all()
    v1 = tests[tests["roi"] == "V1"]
    assert (v1["layer"] == "conv1").all() and (v1["test"] == "pixel_difference").sum() == 3
    # the planted structure: pixels explain more of V1 than of V2
    assert rows(v1, "pixel", "group")["estimate"] > rows(v2, "pixel", "group")["estimate"]


def with_missing(rdm, stimulus):
    out = rdm.copy()
    out[stimulus, :] = out[:, stimulus] = np.nan
    out[stimulus, stimulus] = 0.0
    return out


def test_a_grey_image_and_a_subject_without_data(files, tmp_path):
    """A uniform grey image (NaN row of the pixel RDM) drops its pairs from every score
    and comparison; a subject without voxels in the ROI has NaN rows with n_pairs 0 and is
    left out of the mean and of the group inference."""
    stimuli = [f"s{i:02d}" for i in range(N)]
    save_rdm(tmp_path / "pixel.npz", with_missing(load(files / "pixel.npz"), 2), stimuli)
    empty = np.full((N, N), np.nan)
    np.fill_diagonal(empty, 0.0)
    save_rdm(tmp_path / "sub-03.npz", empty, stimuli)
    brains = [load(files / f"V1-{s}.npz") for s in SUBJECTS[:2]]
    save_rdm(tmp_path / "group.npz", np.mean(brains, axis=0), stimuli)
    paths = {**{s: files / f"V1-{s}.npz" for s in SUBJECTS[:2]}, "sub-03": tmp_path / "sub-03.npz"}
    conditions = ["untrained", "bp"]
    tests = pixel_roi_tests("V1", "conv1", models(files, conditions), tmp_path / "group.npz", paths,
                            tmp_path / "pixel.npz", conditions=conditions, method="spearman", n_permutations=99,
                            permutation_scheme="stimuli", generalise_over=["stimuli", "subjects", "seeds"], seed=1)
    x, keep = upper_triangle(load(tmp_path / "pixel.npz")), ~np.isnan(upper_triangle(load(tmp_path / "pixel.npz")))
    group = rows(tests, "pixel", "group")
    assert group["estimate"] == pytest.approx(
        stats.spearmanr(x[keep], upper_triangle(load(tmp_path / "group.npz"))[keep]).statistic, abs=1e-12)
    assert group["n_pairs"] == (N - 1) * (N - 2) // 2 and np.isfinite(group["ci_low"])
    missing = rows(tests, "pixel_subject", "sub-03")
    assert np.isnan(missing["estimate"]) and np.isnan(missing["p"]) and missing["n_pairs"] == 0
    per = [rows(tests, "pixel_subject", s)["estimate"] for s in SUBJECTS[:2]]
    assert rows(tests, "pixel_subject", "mean")["estimate"] == pytest.approx(np.mean(per))
    oracle = contrast_inference(load(tmp_path / "pixel.npz")[None, None], np.stack(brains), [[1.0]],
                                factors=["stimuli", "subjects"])
    assert group["se"] == pytest.approx(oracle.se[0], rel=1e-10)
    diff = rows(tests, "pixel_difference")
    assert np.isfinite(diff[["estimate", "se", "p"]].to_numpy()).all()
    assert (diff["n_pairs"] == (N - 1) * (N - 2) // 2).all()
    np.testing.assert_allclose(diff["estimate"], diff["rho_condition"] - diff["rho_pixel"], atol=1e-12)


def test_errors_name_the_roi_and_the_file(files, tmp_path):
    save_rdm(tmp_path / "pixel.npz", load(files / "pixel.npz"), [f"x{i}" for i in range(N)])
    with pytest.raises(ValueError, match=r"ROI V1: .*pixel\.npz: its stimuli differ from .*V1-group\.npz"):
        pixel_roi_tests("V1", "", None, files / "V1-group.npz", {}, tmp_path / "pixel.npz", conditions=CONDITIONS,
                        method="spearman", n_permutations=9, permutation_scheme="stimuli")


# ---------------------------------------------------------------------- the table


@pytest.fixture(scope="module")
def test_files(files, tmp_path_factory):
    """A run's test tables: the per-ROI tests of V1 (mapped) and the pixel baseline of V1 and V2."""
    root = tmp_path_factory.mktemp("tests")
    settings = dict(conditions=CONDITIONS, method="spearman", n_permutations=99, permutation_scheme="stimuli",
                    generalise_over=["stimuli"], ci_level=0.95, seed=0)
    write_table(roi_tests("V1", "conv1", models(files), files / "V1-group.npz", subjects(files), files / "pixel.npz",
                          **settings), root / "V1.tsv")
    write_table(pixel_tests(["V1", "V2"], {"V1": "conv1"}, {"conv1": models(files)},
                            {roi: files / f"{roi}-group.npz" for roi in ["V1", "V2"]},
                            {roi: subjects(files, roi) for roi in ["V1", "V2"]}, files / "pixel.npz", **settings),
                root / "pixel_baseline.tsv")
    return [root / "V1.tsv", root / "pixel_baseline.tsv"]


def test_pixel_baseline_table_layout(test_files):
    table = pixel_baseline_table(read_tests(test_files), ["V1", "V2"], CONDITIONS, family="comparisons",
                                 fdr_method="fdr_bh")
    assert list(table.columns) == PIXEL_BASELINE_COLUMNS
    scores = ["group", *SUBJECTS, "mean"]
    assert table[["roi", "test", "condition", "subject"]].values.tolist() == (
        [["V1", "score", "", s] for s in scores] + [["V1", "difference", c, "group"] for c in CONDITIONS]
        + [["V2", "score", "", s] for s in scores])
    assert table.loc[table["roi"] == "V1", "layer"].eq("conv1").all() and table.loc[table["roi"] == "V2", "layer"].eq("").all()
    diff = table[table["test"] == "difference"]
    np.testing.assert_allclose(diff["delta_rho"], diff["rho_condition"] - diff["rho_pixel"], atol=2e-6)  # 6 digits
    score = table[table["test"] == "score"]
    assert score[["rho_condition", "delta_rho"]].isna().all().all()
    assert (diff["rho_pixel"] == score.iloc[0]["rho_pixel"]).all()


def test_pixel_baseline_fdr_families(test_files):
    tests = read_tests(test_files)
    table = pixel_baseline_table(tests, ["V1", "V2"], CONDITIONS, family="comparisons", fdr_method="fdr_bh")
    diff = table[table["test"] == "difference"]
    np.testing.assert_allclose(diff["p_fdr"], multipletests(diff["p"], method="fdr_bh")[1])
    group = table[(table["test"] == "score") & (table["subject"] == "group")]
    np.testing.assert_allclose(group["p_fdr"], multipletests(group["p"], method="fdr_bh")[1])
    subject = table[(table["test"] == "score") & table["subject"].isin(SUBJECTS)]
    np.testing.assert_allclose(subject["p_fdr"], multipletests(subject["p"], method="fdr_bh")[1])
    # all: one family with every group-level test of the study tables; subject rows apart
    table_all = pixel_baseline_table(tests, ["V1", "V2"], CONDITIONS, family="all", fdr_method="fdr_bh")
    level = tests[~tests["test"].isin(["subject", "pixel_subject"]) & tests["p"].notna()]
    corrected = pd.Series(multipletests(level["p"], method="fdr_bh")[1], index=level.index)
    pixel_rows = level[level["test"].isin(["pixel", "pixel_difference"])]
    expected = corrected[pixel_rows.index].to_numpy()
    got = table_all[(table_all["subject"] == "group")]["p_fdr"].to_numpy()
    np.testing.assert_allclose(np.sort(got), np.sort(expected))
    # the other tables' families are unchanged by the pixel rows under comparisons
    summary = pd.DataFrame({"roi": "V1", "layer": "conv1", "condition": CONDITIONS, "rho_mean": 0.1, "rho_std": 0.0,
                            "n_seeds": 3, "rho_min": 0.0, "rho_max": 0.2, "rho_subject_mean": 0.1})
    with_pixel = summary_table(summary, tests, reference="untrained", family="comparisons", fdr_method="fdr_bh")
    without = summary_table(summary, read_tests(test_files[:1]), reference="untrained", family="comparisons",
                            fdr_method="fdr_bh")
    pd.testing.assert_frame_equal(with_pixel, without)
    subject_all = with_fdr(tests, "all", "fdr_bh").query("test == 'pixel_subject' and subject != 'mean'")
    np.testing.assert_allclose(subject_all["p_fdr"], multipletests(subject_all["p"], method="fdr_bh")[1])
