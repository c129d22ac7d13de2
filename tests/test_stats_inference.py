"""Permutation tests, bootstrap, partial RSA, noise ceilings and FDR against oracles:
brute-force loops over the same permutations, rsatoolbox, scipy.stats.bootstrap,
closed-form partial correlations, statsmodels, and the null rate of a valid test."""

import warnings

import numpy as np
import pytest
from scipy import stats
from scipy.spatial.distance import pdist, squareform

from lrrsa.rsa import _kernels
from lrrsa.rsa.bootstrap import bootstrap_ci, bootstrap_indices, subject_indices
from lrrsa.rsa.comparators import kendall_tau_a, upper_triangle
from lrrsa.rsa.fdr import fdr
from lrrsa.rsa.noise_ceiling import inter_subject_consistency, noise_ceiling, spearman_brown, split_half_reliability
from lrrsa.rsa.partial import partial_rsa
from lrrsa.rsa.permutation import _pair_shuffles, mantel_pvalues, permutation_indices, permutation_test

ORACLES = {"spearman": lambda a, b: stats.spearmanr(a, b).statistic,
           "pearson": lambda a, b: stats.pearsonr(a, b).statistic,
           "kendall": lambda a, b: stats.kendalltau(a, b).statistic,
           "kendall_tau_a": kendall_tau_a}


def random_rdm(rng, n, dims=3):
    """Euclidean RDM of random patterns with a random scale per stimulus, so pairs
    that share a stimulus are strongly dependent (as in real RDMs)."""
    return squareform(pdist(rng.normal(size=(n, dims)) * rng.lognormal(0, 0.75, size=(n, 1))))


def permuted(rdm, perm):
    return rdm[np.ix_(perm, perm)]


# ----------------------------------------------------------------- permutation


@pytest.mark.parametrize("method", ["spearman", "pearson"])
def test_permutation_null_equals_a_brute_force_loop_with_the_same_permutations(method):
    rng = np.random.default_rng(0)
    n = 13
    models = [random_rdm(rng, n) for _ in range(4)]
    models[3] = models[3].round(0)  # ties in a model
    brain = random_rdm(rng, n)
    result = permutation_test(models, brain, 300, seed=7, method=method)
    perms = permutation_indices(n, 300, 7)
    oracle = ORACLES[method]
    brute = np.array([[oracle(upper_triangle(m), upper_triangle(permuted(brain, p))) for m in models] for p in perms])
    np.testing.assert_allclose(result.null, brute, atol=1e-12)
    np.testing.assert_allclose(result.rho, [oracle(upper_triangle(m), upper_triangle(brain)) for m in models], atol=1e-12)
    # p = (1 + #{null >= observed}) / (1 + N); differences two-sided
    np.testing.assert_allclose(result.p, (1 + (brute >= result.rho - 1e-12).sum(0)) / 301)
    d_obs = result.rho[1] - result.rho[2]
    d_null = brute[:, 1] - brute[:, 2]
    assert result.p_diff[1, 2] == result.p_diff[2, 1] == (1 + (np.abs(d_null) >= abs(d_obs) - 1e-12).sum()) / 301
    assert result.null.shape == (300, 4) and result.p_diff.shape == (4, 4) and result.n_permutations == 300
    # a single model RDM is k = 1, with the same numbers
    single = permutation_test(models[1], brain, 300, seed=7, method=method)
    np.testing.assert_allclose(single.null[:, 0], result.null[:, 1], atol=1e-14)


@pytest.mark.parametrize("method", ["kendall", "kendall_tau_a", "spearman"])
def test_slow_path_for_kendall_and_nan_entries_is_the_same_brute_force(method):
    rng = np.random.default_rng(1)
    n = 8
    model, brain = random_rdm(rng, n), random_rdm(rng, n)
    brain[0, 3] = brain[3, 0] = np.nan
    result = permutation_test(model, brain, 40, seed=3, method=method)
    oracle = ORACLES[method]

    def score(a, b):
        keep = ~(np.isnan(a) | np.isnan(b))
        return oracle(a[keep], b[keep])

    brute = [score(upper_triangle(model), upper_triangle(permuted(brain, p))) for p in permutation_indices(n, 40, 3)]
    np.testing.assert_allclose(result.null[:, 0], brute, atol=1e-12)
    assert result.n_pairs == n * (n - 1) // 2 - 1


def test_pair_scheme_is_the_papers_shuffle_of_the_upper_triangle():
    rng = np.random.default_rng(2)
    model, brain = random_rdm(rng, 9), random_rdm(rng, 9)
    result = permutation_test(model, brain, 50, seed=4, scheme="pairs")
    b = upper_triangle(brain)
    shuffles = np.vstack([s for _, s in _pair_shuffles(b.size, 50, 4)])
    brute = [stats.spearmanr(upper_triangle(model), b[s]).statistic for s in shuffles]
    np.testing.assert_allclose(result.null[:, 0], brute, atol=1e-12)


def test_combined_scores_are_tested_under_the_same_permutations():
    rng = np.random.default_rng(3)
    models = [random_rdm(rng, 10) for _ in range(4)]
    result = permutation_test(models, random_rdm(rng, 10), 200, seed=0)
    means = result.combine([[0.5, 0.5, 0, 0], [0, 0, 0.5, 0.5]])
    np.testing.assert_allclose(means.rho, [result.rho[:2].mean(), result.rho[2:].mean()])
    np.testing.assert_allclose(means.null[:, 1], result.null[:, 2:].mean(axis=1))
    p, p_diff = mantel_pvalues(means.rho, means.null)
    np.testing.assert_array_equal(means.p, p)
    np.testing.assert_array_equal(means.p_diff, p_diff)


def test_torch_backend_gives_the_same_null():
    pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    n = 10
    a = rng.normal(size=(3, n * (n - 1) // 2))
    b = squareform(rng.normal(size=n * (n - 1) // 2))
    perms = permutation_indices(n, 50, 0)
    np.testing.assert_allclose(_kernels.null_dots(a, b, perms, backend="torch", device="cpu"),
                               _kernels.null_dots(a, b, perms, backend="numpy"), atol=1e-12)


def test_stimulus_permutations_hold_the_nominal_rate_under_a_true_null_and_pair_shuffles_do_not():
    """Independent random RDMs: P(p <= 0.05) is exactly 0.05 for an exact test with 99
    permutations. 1,000 repetitions: binomial sd 0.0069; we allow 3.5 sd. The paper's
    pair shuffle rejects far more often (about 0.18 here)."""
    rng = np.random.default_rng(0)
    n, reps, n_perm = 12, 1000, 99
    pvalues = {"stimuli": [], "pairs": []}
    for r in range(reps):
        model, brain = random_rdm(rng, n), random_rdm(rng, n)
        pvalues["stimuli"].append(permutation_test(model, brain, n_perm, seed=r).p[0])
        if r < 400:
            pvalues["pairs"].append(permutation_test(model, brain, n_perm, seed=r, scheme="pairs").p[0])
    rate = np.mean(np.array(pvalues["stimuli"]) <= 0.05)
    sd = np.sqrt(0.05 * 0.95 / reps)
    assert abs(rate - 0.05) < 3.5 * sd, rate
    pair_rate = np.mean(np.array(pvalues["pairs"]) <= 0.05)
    assert pair_rate > 0.05 + 3.5 * np.sqrt(0.05 * 0.95 / 400), pair_rate


# -------------------------------------------------------------------- bootstrap


@pytest.mark.parametrize("method, rsa_method", [("spearman", "spearman"), ("pearson", "corr"),
                                                ("kendall_tau_a", "tau-a")])
def test_bootstrap_samples_equal_rsatoolbox_on_the_same_resamples(method, rsa_method):
    rsatoolbox = pytest.importorskip("rsatoolbox")
    rng = np.random.default_rng(5)
    n = 10
    models = [random_rdm(rng, n) for _ in range(2)]
    brain = random_rdm(rng, n)
    resamples = bootstrap_indices(n, 6, seed=2)
    result = bootstrap_ci(models, brain, method=method, ci="percentile", resamples=resamples)
    for idx, sample in zip(resamples, result.samples):
        b = rsatoolbox.rdm.RDMs(squareform(brain)[None]).subsample_pattern("index", idx)
        for c, model in enumerate(models):
            a = rsatoolbox.rdm.RDMs(squareform(model)[None]).subsample_pattern("index", idx)
            assert sample[c] == pytest.approx(rsatoolbox.rdm.compare(a, b, rsa_method)[0, 0], abs=1e-12)


@pytest.mark.parametrize("ci", ["percentile", "bca"])
def test_intervals_equal_scipy_bootstrap_given_the_same_distribution(ci):
    rng = np.random.default_rng(6)
    n = 14
    model, brain = random_rdm(rng, n), random_rdm(rng, n)
    result = bootstrap_ci(model, brain, n_bootstrap=300, ci=ci, level=0.9, seed=1)

    def statistic(idx):  # the score of the stimuli in idx, self-pairs of duplicates dropped
        idx = np.asarray(idx, dtype=int)
        iu = np.triu_indices(idx.size, 1)
        keep = (idx[:, None] != idx[None, :])[iu]
        return stats.spearmanr(model[np.ix_(idx, idx)][iu][keep], brain[np.ix_(idx, idx)][iu][keep]).statistic

    class Previous:
        bootstrap_distribution = result.samples[:, 0]

    ref = stats.bootstrap((np.arange(n),), statistic, n_resamples=0, bootstrap_result=Previous, vectorized=False,
                          confidence_level=0.9, method="BCa" if ci == "bca" else "percentile")
    assert result.low[0] == pytest.approx(ref.confidence_interval.low, abs=1e-12)
    assert result.high[0] == pytest.approx(ref.confidence_interval.high, abs=1e-12)
    assert result.estimate[0] == pytest.approx(statistic(np.arange(n)), abs=1e-12)
    if ci == "bca":  # the jackknife leaves out one stimulus
        assert result.jackknife[3, 0] == pytest.approx(statistic(np.delete(np.arange(n), 3)), abs=1e-12)


def test_contrasts_and_subject_resampling():
    rng = np.random.default_rng(7)
    n = 9
    models = np.stack([random_rdm(rng, n) for _ in range(3)])
    subjects = np.stack([random_rdm(rng, n) for _ in range(3)])
    contrasts = np.array([[1, -1, 0], [1 / 3, 1 / 3, 1 / 3]])
    result = bootstrap_ci(models, subjects, n_bootstrap=20, ci="percentile", seed=3, contrasts=contrasts,
                          resample_subjects=True)
    # redo sample 0 by hand: the same stimulus draw, and the subject draw from the subjects' own stream
    idx = bootstrap_indices(n, 20, 3)[0]
    subject_idx = subject_indices(3, 20, 3)[0]
    group = subjects[subject_idx].mean(axis=0)
    iu = np.triu_indices(n, 1)
    keep = (idx[:, None] != idx[None, :])[iu]
    scores = [stats.spearmanr(m[np.ix_(idx, idx)][iu][keep], group[np.ix_(idx, idx)][iu][keep]).statistic for m in models]
    np.testing.assert_allclose(result.samples[0], contrasts @ scores, atol=1e-12)
    observed = [stats.spearmanr(upper_triangle(m), upper_triangle(subjects.mean(0))).statistic for m in models]
    np.testing.assert_allclose(result.estimate, contrasts @ observed, atol=1e-12)
    assert np.all(result.low <= result.high)
    with pytest.raises(ValueError, match="BCa"):
        bootstrap_ci(models, subjects, ci="bca", resample_subjects=True)


def test_pair_bootstrap_draws_m_pairs():
    rng = np.random.default_rng(8)
    model, brain = random_rdm(rng, 8), random_rdm(rng, 8)
    result = bootstrap_ci(model, brain, n_bootstrap=50, ci="percentile", scheme="pairs", seed=0)
    assert result.samples.shape == (50, 1) and result.low[0] < result.estimate[0] < result.high[0]


def test_stimulus_bootstrap_interval_covers_the_truth_about_nominally():
    """Coverage check of the stimulus bootstrap: model = noisy copy of a fixed 'true'
    RDM generator; the truth is the population score, approximated by a large n. Loose
    bound: the percentile interval is known to undercover a little at small n."""
    rng = np.random.default_rng(9)

    def pair(n):
        x = rng.normal(size=(n, 4))
        return squareform(pdist(x + 0.9 * rng.normal(size=(n, 4)))), squareform(pdist(x + 0.9 * rng.normal(size=(n, 4))))

    truth = np.mean([stats.spearmanr(*map(upper_triangle, pair(300))).statistic for _ in range(3)])
    covered = []
    for r in range(60):
        a, b = pair(25)
        res = bootstrap_ci(a, b, n_bootstrap=200, ci="percentile", seed=r)
        covered.append(res.low[0] <= truth <= res.high[0])
    assert np.mean(covered) > 0.75


# ------------------------------------------------------------------ partial RSA


def partial_from_correlations(vectors):
    """Closed form: -P_xy / sqrt(P_xx P_yy), P the inverse correlation matrix of the
    rank vectors (x, y, controls...)."""
    ranks = np.array([stats.rankdata(v) for v in vectors])
    precision = np.linalg.inv(np.corrcoef(ranks))
    return -precision[0, 1] / np.sqrt(precision[0, 0] * precision[1, 1])


def test_partial_rsa_is_the_partial_correlation_of_ranks():
    rng = np.random.default_rng(10)
    n = 15
    pixel = random_rdm(rng, n)
    model = pixel + random_rdm(rng, n)
    brain = pixel + random_rdm(rng, n)
    result = partial_rsa(model, brain, pixel, n_permutations=10)
    x, y, z = map(upper_triangle, (model, brain, pixel))
    r = [stats.spearmanr(a, b).statistic for a, b in [(x, y), (x, z), (y, z)]]
    closed = (r[0] - r[1] * r[2]) / np.sqrt((1 - r[1] ** 2) * (1 - r[2] ** 2))
    assert result.rho[0] == pytest.approx(closed, abs=1e-12)
    other = random_rdm(rng, n)
    two = partial_rsa(model, brain, [pixel, other], n_permutations=10)
    assert two.rho[0] == pytest.approx(partial_from_correlations([x, y, z, upper_triangle(other)]), abs=1e-12)


def test_partial_rsa_null_equals_brute_force_with_the_same_permutations():
    rng = np.random.default_rng(11)
    n = 11
    pixel = random_rdm(rng, n)
    models = [pixel + random_rdm(rng, n) for _ in range(3)]
    brain = pixel + random_rdm(rng, n)
    result = partial_rsa(models, brain, pixel, n_permutations=100, seed=5)
    z = upper_triangle(pixel)
    brute = [[partial_from_correlations([upper_triangle(m), upper_triangle(permuted(brain, p)), z]) for m in models]
             for p in permutation_indices(n, 100, 5)]
    np.testing.assert_allclose(result.null, brute, atol=1e-10)
    np.testing.assert_allclose(result.p, (1 + (np.array(brute) >= result.rho - 1e-12).sum(0)) / 101)
    means = result.combine(np.ones((1, 3)) / 3)
    np.testing.assert_allclose(means.null[:, 0], np.mean(brute, axis=1), atol=1e-10)


def test_partial_rsa_null_rate():
    rng = np.random.default_rng(12)
    reps = 300
    ps = [partial_rsa(random_rdm(rng, 10), random_rdm(rng, 10), random_rdm(rng, 10), n_permutations=99, seed=r).p[0]
          for r in range(reps)]
    assert abs(np.mean(np.array(ps) <= 0.05) - 0.05) < 3.5 * np.sqrt(0.05 * 0.95 / reps)


# ---------------------------------------------------------------- noise ceilings


@pytest.mark.parametrize("method, rsa_method", [("spearman", "spearman"), ("pearson", "corr"),
                                                ("kendall_tau_a", "tau-a")])
def test_noise_ceiling_equals_rsatoolbox(method, rsa_method):
    rsatoolbox = pytest.importorskip("rsatoolbox")
    from rsatoolbox.inference.noise_ceiling import boot_noise_ceiling

    rng = np.random.default_rng(13)
    shared = rng.normal(size=(12, 4))
    subjects = np.stack([squareform(pdist(shared + rng.normal(size=(12, 4)))) for _ in range(4)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lower, upper = boot_noise_ceiling(rsatoolbox.rdm.RDMs(np.stack([squareform(s) for s in subjects])), method=rsa_method)
    ceiling = noise_ceiling(subjects, method)
    assert ceiling.lower == pytest.approx(lower, abs=1e-12)
    assert ceiling.upper == pytest.approx(upper, abs=1e-12)
    assert ceiling.lower < ceiling.upper


def test_split_half_reliability_and_spearman_brown():
    assert spearman_brown(0.5) == pytest.approx(2 / 3)
    assert spearman_brown(0.25, factor=4) == pytest.approx(4 / 7)
    rng = np.random.default_rng(14)
    signal = rng.normal(size=(20, 6))
    odd, even = (squareform(pdist(signal + rng.normal(size=(20, 6)))) for _ in range(2))
    half = split_half_reliability(odd, even)
    r = stats.spearmanr(upper_triangle(odd), upper_triangle(even)).statistic
    assert half.r == pytest.approx(r) and half.r_corrected == pytest.approx(2 * r / (1 + r))
    consistency = inter_subject_consistency(np.stack([odd, even, odd]))
    assert consistency[0, 1] == pytest.approx(r) and consistency[0, 2] == pytest.approx(1.0)


def test_fdr_is_statsmodels_benjamini_hochberg_with_nan_kept_out():
    from statsmodels.stats.multitest import multipletests

    p = np.array([0.001, 0.04, np.nan, 0.03, 0.2, 0.011])
    keep = ~np.isnan(p)
    for method in ["fdr_bh", "fdr_by"]:
        out = fdr(p, method)
        np.testing.assert_allclose(out[keep], multipletests(p[keep], method=method)[1])
        assert np.isnan(out[2])


# ---------------------------------------------------- noise ceiling of the group RDM


def test_group_noise_ceiling_closed_form():
    from lrrsa.rsa.noise_ceiling import group_noise_ceiling

    # Pearson: r = 0.5 for 3 subjects -> R = 1.5 / 2 = 0.75; upper sqrt(0.75).
    assert group_noise_ceiling(0.5, 3, "pearson") == pytest.approx((0.75, np.sqrt(0.75)))
    # Spearman: the same through rho_s = (6 / pi) asin(r / 2) on both sides.
    r = 0.4
    rho_s = 6 / np.pi * np.arcsin(r / 2)
    big_r = 4 * r / (1 + 3 * r)
    assert group_noise_ceiling(rho_s, 4, "spearman") == pytest.approx(
        (6 / np.pi * np.arcsin(big_r / 2), 6 / np.pi * np.arcsin(np.sqrt(big_r) / 2)))
    # Kendall: tau = (2 / pi) asin(r).
    tau = 2 / np.pi * np.arcsin(r)
    assert group_noise_ceiling(tau, 4, "kendall") == pytest.approx(
        (2 / np.pi * np.arcsin(big_r), 2 / np.pi * np.arcsin(np.sqrt(big_r))))
    assert group_noise_ceiling(-0.1, 3, "pearson") == (0.0, 0.0)
    assert np.isnan(group_noise_ceiling(0.5, 1, "pearson")).all()


@pytest.mark.parametrize("method", ["spearman", "pearson", "kendall"])
@pytest.mark.parametrize("n_subjects, noise", [(3, 1.0), (5, 1.5)])
def test_group_noise_ceiling_matches_a_simulation_with_a_known_true_rdm(method, n_subjects, noise):
    """Subject RDM = true RDM + independent noise. The estimate from the subjects alone
    equals, on average, the true RDM's score against the group RDM (upper) and the
    score of an independent group of as many subjects (lower)."""
    from lrrsa.rsa.comparators import compare_vectors
    from lrrsa.rsa.noise_ceiling import group_noise_ceiling

    rng = np.random.default_rng(21)
    m, reps = 60 * 59 // 2, 30
    estimates, truth = [], []
    for _ in range(reps):
        true = rng.normal(size=m)
        subjects = true + noise * rng.normal(size=(n_subjects, m))
        replication = true + noise * rng.normal(size=(n_subjects, m))
        consistency = inter_subject_consistency(np.stack([squareform(v) for v in subjects]), method)
        estimates.append(group_noise_ceiling(consistency[np.triu_indices(n_subjects, 1)].mean(), n_subjects, method))
        group = subjects.mean(axis=0)
        truth.append([compare_vectors(replication.mean(axis=0), group, method).rho,
                      compare_vectors(true, group, method).rho])
    estimate, truth = np.mean(estimates, axis=0), np.mean(truth, axis=0)
    np.testing.assert_allclose(estimate, truth, atol=0.006)
    assert truth[0] < truth[1]


def test_noise_ceiling_table_has_a_group_row(tmp_path):
    from lrrsa.rdm_io import save_rdm
    from lrrsa.rsa.noise_ceiling import group_noise_ceiling
    from lrrsa.stats.noise_ceiling_table import noise_ceiling_table

    rng = np.random.default_rng(22)
    stimuli = [f"s{i}" for i in range(15)]
    shared = rng.normal(size=(15, 5))
    subjects = ["sub-01", "sub-02", "sub-03"]
    rdms = [squareform(pdist(shared + rng.normal(size=(15, 5)))) for _ in subjects]
    for s, r in zip(subjects, rdms):
        save_rdm(tmp_path / f"{s}.npz", r, stimuli)
    odd = np.stack([squareform(pdist(shared[:6] + rng.normal(size=(6, 5)))) for _ in subjects])
    even = np.stack([squareform(pdist(shared[:6] + rng.normal(size=(6, 5)))) for _ in subjects])
    np.savez(tmp_path / "split.npz", odd=odd, even=even, stimuli=np.array(stimuli[:6]), subjects=np.array(subjects))
    table = noise_ceiling_table({"V1": {s: tmp_path / f"{s}.npz" for s in subjects}}, {"V1": tmp_path / "split.npz"},
                                "spearman")
    assert table["subject"].tolist() == [*subjects, "mean", "group"]
    group = table.set_index("subject").loc["group"]
    pairs = [stats.spearmanr(upper_triangle(rdms[a]), upper_triangle(rdms[b])).statistic
             for a, b in [(0, 1), (0, 2), (1, 2)]]
    assert group["inter_subject_rho"] == pytest.approx(np.mean(pairs))
    assert (group["lower"], group["upper"]) == pytest.approx(group_noise_ceiling(np.mean(pairs), 3, "spearman"))
    half = split_half_reliability(odd.mean(axis=0), even.mean(axis=0))
    assert group["split_half_r"] == pytest.approx(half.r)
    assert group["split_half_r_corrected"] == pytest.approx(half.r_corrected)
    assert group["lower"] < group["upper"]


# ------------------------------------------------------------------ degenerate input


def with_missing(rdm, *stimuli):
    """The RDM with the stimuli's rows and columns NaN (diagonal 0): what ``rdm`` gives
    for a stimulus with constant features."""
    out = np.array(rdm, dtype=float)
    for s in stimuli:
        out[s, :] = out[:, s] = np.nan
        out[s, s] = 0.0
    return out


def score_kept(a, b, method):
    """The definition: the comparator over the pairs where neither RDM is NaN (NaN if
    fewer than 2 pairs or either vector constant there)."""
    keep = ~(np.isnan(a) | np.isnan(b))
    a, b = a[keep], b[keep]
    if a.size < 2 or np.all(a == a[0]) or np.all(b == b[0]):
        return np.nan
    return ORACLES[method](a, b)


MISSING_CASES = {  # case -> (stimuli missing in each of the 3 models, in the brain)
    "brain": ([(), (), ()], (2,)),
    "one model": ([(), (5,), ()], ()),
    "every model": ([(6,), (6,), (6, 2)], ()),
    "model and brain": ([(1,), (), ()], (7,)),
    "the same stimulus in both": ([(), (), (3,)], (3,)),
    "two in the brain": ([(), (), ()], (0, 9)),
}


@pytest.mark.parametrize("method", ["spearman", "pearson"])
@pytest.mark.parametrize("case", list(MISSING_CASES))
def test_missing_stimuli_keep_the_compiled_null_and_equal_the_brute_force_definition(case, method):
    """Whole stimuli missing (NaN rows): every permutation equals scipy over the pairs
    that permutation keeps, ranked among those pairs only."""
    rng = np.random.default_rng(30)
    n, N = 11, 80
    model_missing, brain_missing = MISSING_CASES[case]
    models = [with_missing(random_rdm(rng, n), *s) for s in model_missing]
    models[1] = np.where(np.isnan(models[1]), np.nan, models[1].round(0))  # ties in a model
    brain = with_missing(random_rdm(rng, n), *brain_missing)
    result = permutation_test(models, brain, N, seed=4, method=method)
    brute = np.array([[score_kept(upper_triangle(m), upper_triangle(permuted(brain, p)), method) for m in models]
                      for p in permutation_indices(n, N, 4)])
    np.testing.assert_allclose(result.null, brute, atol=1e-12)
    observed = [score_kept(upper_triangle(m), upper_triangle(brain), method) for m in models]
    np.testing.assert_allclose(result.rho, observed, atol=1e-12)
    np.testing.assert_allclose(result.p, (1 + (brute >= result.rho - 1e-12).sum(0)) / (1 + N))
    kept = [(~(np.isnan(upper_triangle(m)) | np.isnan(upper_triangle(brain)))).sum() for m in models]
    assert result.n_pairs == min(kept)


def test_missing_stimuli_are_found_and_other_nan_patterns_are_not_taken_for_them():
    from lrrsa.rsa.missing import missing_stimuli

    rng = np.random.default_rng(31)
    rdm = with_missing(random_rdm(rng, 6), 1, 4)
    found = missing_stimuli(np.stack([upper_triangle(rdm), upper_triangle(random_rdm(rng, 6))]), 6)
    np.testing.assert_array_equal(found, [[False, True, False, False, True, False], [False] * 6])
    single = random_rdm(rng, 6)
    single[0, 3] = single[3, 0] = np.nan  # one missing pair: not a missing stimulus
    assert missing_stimuli(upper_triangle(single)[None], 6) is None


@pytest.mark.parametrize("missing_in", ["pixel", "brain", "model"])
def test_partial_rsa_drops_missing_stimuli_like_the_closed_form_on_the_kept_pairs(missing_in):
    rng = np.random.default_rng(32)
    n, N = 12, 60
    pixel = random_rdm(rng, n)
    models = [pixel + random_rdm(rng, n) for _ in range(2)]
    brain = pixel + random_rdm(rng, n)
    if missing_in == "pixel":
        pixel = with_missing(pixel, 4)  # a uniform grey image
    elif missing_in == "brain":
        brain = with_missing(brain, 7)
    else:
        models[0] = with_missing(models[0], 9)  # a ReLU layer silent for one image
    result = partial_rsa(models, brain, pixel, n_permutations=N, seed=2)
    z = upper_triangle(pixel)

    def closed(x, y):
        keep = ~(np.isnan(x) | np.isnan(y) | np.isnan(z))
        return partial_from_correlations([x[keep], y[keep], z[keep]])

    brute = [[closed(upper_triangle(m), upper_triangle(permuted(brain, p))) for m in models]
             for p in permutation_indices(n, N, 2)]
    np.testing.assert_allclose(result.null, brute, atol=1e-10)
    np.testing.assert_allclose(result.rho, [closed(upper_triangle(m), upper_triangle(brain)) for m in models], atol=1e-12)
    assert result.n_pairs == (n - 1) * (n - 2) // 2


def test_partial_rsa_with_a_missing_pair_rescores_every_permutation():
    rng = np.random.default_rng(33)
    n = 9
    pixel, model, brain = (random_rdm(rng, n) for _ in range(3))
    brain[2, 5] = brain[5, 2] = np.nan
    result = partial_rsa(model, brain, pixel, n_permutations=30, seed=1)
    x, z = upper_triangle(model), upper_triangle(pixel)

    def closed(y):
        keep = ~np.isnan(y)
        return partial_from_correlations([x[keep], y[keep], z[keep]])

    np.testing.assert_allclose(result.null[:, 0], [closed(upper_triangle(permuted(brain, p)))
                                                   for p in permutation_indices(n, 30, 1)], atol=1e-10)


@pytest.mark.parametrize("scheme", ["stimuli", "pairs"])
def test_a_constant_rdm_has_no_score_and_no_p(scheme):
    """A constant RDM orders no pairs: rho and p are NaN (not 0 and 1), for the brain as
    for a model, in the Mantel test and in partial RSA."""
    rng = np.random.default_rng(34)
    n = 8
    model, pixel = random_rdm(rng, n), random_rdm(rng, n)
    constant = np.ones((n, n)) - np.eye(n)
    for models, brain in [(model, constant), (np.stack([constant, model]), model)]:
        result = permutation_test(models, brain, 20, scheme=scheme)
        undefined = np.isnan(result.rho)
        assert undefined[0] and np.isnan(result.p[0]) and np.isnan(result.p_diff[0]).all()
        assert np.isnan(partial_rsa(models, brain, pixel, n_permutations=20, scheme=scheme).rho[0])
    assert not np.isnan(result.rho[1])  # the other model keeps its score
    boot = bootstrap_ci(constant, model, n_bootstrap=20, ci="percentile")
    assert np.isnan(boot.estimate[0]) and np.isnan(boot.low[0]) and boot.n_undefined[0] == 20


def test_a_constant_control_controls_nothing():
    rng = np.random.default_rng(35)
    model, brain = random_rdm(rng, 9), random_rdm(rng, 9)
    constant = np.ones((9, 9)) - np.eye(9)
    partial = partial_rsa(model, brain, constant, n_permutations=10)
    assert partial.rho[0] == pytest.approx(stats.spearmanr(upper_triangle(model), upper_triangle(brain)).statistic)


@pytest.mark.parametrize("ci", ["percentile", "bca"])
def test_identical_models_differ_by_exactly_zero(ci):
    """Two conditions whose models are the same RDMs: the difference of their seed means
    is 0 in every permutation and every bootstrap sample, so p = 1 and the interval
    is [0, 0] (no rounding residue)."""
    rng = np.random.default_rng(36)
    n = 10
    seeds = [random_rdm(rng, n) for _ in range(2)]
    models = np.stack(seeds + seeds)  # condition a: seeds 0, 1; condition b: the same RDMs
    brain = random_rdm(rng, n)
    means = np.array([[0.5, 0.5, 0, 0], [0, 0, 0.5, 0.5]])
    test = permutation_test(models, brain, 50).combine(means)
    assert test.rho[0] - test.rho[1] == 0.0 and test.p_diff[0, 1] == 1.0
    boot = bootstrap_ci(models, brain, n_bootstrap=40, ci=ci, contrasts=means[0:1] - means[1:2])
    assert boot.estimate[0] == 0.0 and (boot.samples == 0.0).all()
    assert (boot.low[0], boot.high[0]) == (0.0, 0.0) and boot.n_undefined[0] == 0


@pytest.mark.parametrize("ci", ["percentile", "bca"])
def test_undefined_bootstrap_samples_of_a_small_set_are_left_out_and_counted(ci):
    """6 stimuli: a resample with fewer than 3 distinct stimuli has at most one distinct
    pair, a constant vector, so its score is undefined. Those samples are counted, and
    the interval is that of the other samples (rsatoolbox leaves them out too)."""
    rng = np.random.default_rng(37)
    n, B = 6, 400
    model, brain = random_rdm(rng, n), random_rdm(rng, n)
    resamples = bootstrap_indices(n, B, seed=5)
    distinct = np.array([np.unique(r).size for r in resamples])
    assert (distinct < 3).any()  # the draw holds some degenerate resamples
    result = bootstrap_ci(model, brain, ci=ci, resamples=resamples, level=0.9)
    assert result.n_undefined[0] == (distinct < 3).sum()
    np.testing.assert_array_equal(np.isnan(result.samples[:, 0]), distinct < 3)
    defined = result.samples[distinct >= 3, 0]
    if ci == "percentile":
        assert (result.low[0], result.high[0]) == pytest.approx(tuple(np.quantile(defined, [0.05, 0.95])))
    else:
        def statistic(idx):
            idx = np.asarray(idx, dtype=int)
            iu = np.triu_indices(idx.size, 1)
            keep = (idx[:, None] != idx[None, :])[iu]
            return stats.spearmanr(model[np.ix_(idx, idx)][iu][keep], brain[np.ix_(idx, idx)][iu][keep]).statistic

        class Previous:  # a resample of all 6 stimuli scores the estimate: a tie, not a rounding residue
            estimate = statistic(np.arange(n))
            bootstrap_distribution = np.where(np.isclose(defined, estimate, rtol=0, atol=1e-12), estimate, defined)

        ref = stats.bootstrap((np.arange(n),), statistic, n_resamples=0, bootstrap_result=Previous, vectorized=False,
                              confidence_level=0.9, method="BCa")
        assert result.low[0] == pytest.approx(ref.confidence_interval.low, abs=1e-12)
        assert result.high[0] == pytest.approx(ref.confidence_interval.high, abs=1e-12)


def test_fewer_than_four_stimuli_is_an_error_naming_the_statistic():
    rng = np.random.default_rng(38)
    a, b, c = (random_rdm(rng, 3) for _ in range(3))
    for call, name in [(lambda: permutation_test(a, b, 10), "permutation_test"),
                       (lambda: bootstrap_ci(a, b, n_bootstrap=10), "bootstrap_ci"),
                       (lambda: partial_rsa(a, b, c, n_permutations=10), "partial_rsa")]:
        with pytest.raises(ValueError, match=rf"{name} needs RDMs of at least 4 stimuli.*these have 3"):
            call()


def test_reliability_at_or_below_zero_is_zero_after_spearman_brown():
    """A reliability is a variance share in [0, 1]: nothing reliable (r <= 0) stays 0
    after the prophecy, instead of 2r / (1 + r) (= -2 at r = -0.5, infinite at -1)."""
    np.testing.assert_array_equal(spearman_brown(np.array([-1.0, -0.5, 0.0])), [0.0, 0.0, 0.0])
    assert spearman_brown(1.0) == 1.0 and np.isnan(spearman_brown(np.nan))
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        spearman_brown(1.5)
    rng = np.random.default_rng(39)
    odd = random_rdm(rng, 10)
    even = odd.max() - odd  # the same order reversed: r = -1
    np.fill_diagonal(even, 0.0)
    half = split_half_reliability(odd, even)
    assert half.r == pytest.approx(-1.0) and half.r_corrected == 0.0


def test_subject_draws_come_from_their_own_stream():
    """With subject resampling each sample's subjects are drawn from a stream spawned
    for subjects, not from the stimuli's: every sample redone by hand, and the subject
    draws agree with what the stimulus stream would give for them only at chance
    (1 / s), where one shared stream makes them agree almost always."""
    from lrrsa.rsa.bootstrap import resample_streams

    rng = np.random.default_rng(40)
    n, s, B = 9, 3, 30
    models = np.stack([random_rdm(rng, n) for _ in range(2)])
    subjects = np.stack([random_rdm(rng, n) for _ in range(s)])
    result = bootstrap_ci(models, subjects, n_bootstrap=B, ci="percentile", seed=3, resample_subjects=True)
    iu = np.triu_indices(n, 1)
    for b, (idx, who) in enumerate(zip(bootstrap_indices(n, B, 3), subject_indices(s, B, 3))):
        group = subjects[who].mean(axis=0)
        keep = (idx[:, None] != idx[None, :])[iu]
        expected = [stats.spearmanr(m[np.ix_(idx, idx)][iu][keep], group[np.ix_(idx, idx)][iu][keep]).statistic
                    for m in models]
        np.testing.assert_allclose(result.samples[b], expected, atol=1e-12)
    draws = subject_indices(s, 20_000, 3).ravel()
    shared = resample_streams(3)[0].integers(0, s, size=draws.size)  # the same draw from the stimuli's stream
    agreement = np.mean(draws == shared)
    assert abs(agreement - 1 / s) < 4 * np.sqrt((1 / s) * (1 - 1 / s) / draws.size), agreement


def test_split_half_noise_ceiling_closed_form():
    from lrrsa.rsa.noise_ceiling import split_half_noise_ceiling

    # Pearson: halves agree 0.6 -> R = 2 * 0.6 / 1.6 = 0.75; upper sqrt(0.75).
    assert split_half_noise_ceiling(0.6, "pearson") == pytest.approx((0.75, np.sqrt(0.75)))
    rho_s = 6 / np.pi * np.arcsin(0.6 / 2)  # Spearman's rho of bivariate normals with r = 0.6
    assert split_half_noise_ceiling(rho_s, "spearman") == pytest.approx(
        (6 / np.pi * np.arcsin(0.75 / 2), 6 / np.pi * np.arcsin(np.sqrt(0.75) / 2)))
    assert split_half_noise_ceiling(-0.2, "pearson") == (0.0, 0.0)
    assert np.isnan(split_half_noise_ceiling(np.nan, "pearson")).all()


@pytest.mark.parametrize("method", ["spearman", "pearson", "kendall"])
@pytest.mark.parametrize("noise", [1.0, 2.0])
def test_split_half_noise_ceiling_matches_a_simulation_with_a_known_true_rdm(method, noise):
    """One subject: each half of its trials gives true RDM + noise, the whole data their
    mean. The estimate from the two halves equals, on average, the true RDM's score
    against the whole data (upper) and a replication's (lower)."""
    from lrrsa.rsa.comparators import compare_vectors
    from lrrsa.rsa.noise_ceiling import split_half_noise_ceiling

    rng = np.random.default_rng(22)
    m, reps = 60 * 59 // 2, 200  # one split per subject varies more than many pairs: more repetitions
    estimates, truth = [], []
    for _ in range(reps):
        true = rng.normal(size=m)
        halves = true + noise * rng.normal(size=(2, m))
        replication = (true + noise * rng.normal(size=(2, m))).mean(axis=0)
        estimates.append(split_half_noise_ceiling(compare_vectors(halves[0], halves[1], method).rho, method))
        whole = halves.mean(axis=0)
        truth.append([compare_vectors(replication, whole, method).rho, compare_vectors(true, whole, method).rho])
    np.testing.assert_allclose(np.mean(estimates, axis=0), np.mean(truth, axis=0), atol=0.006)


def test_a_one_subject_group_ceiling_comes_from_its_split_halves(tmp_path):
    """A recording without an animal coordinate (one pooled subject) has no other subject:
    its group ceiling is the split-half one, so the noise-normalised figure can be drawn."""
    from lrrsa.rdm_io import save_rdm
    from lrrsa.rsa.noise_ceiling import split_half_noise_ceiling, split_half_reliability
    from lrrsa.stats.noise_ceiling_table import noise_ceiling_table

    rng = np.random.default_rng(5)
    n = 12
    true = squareform(rng.random(n * (n - 1) // 2))
    odd, even = (true + squareform(0.3 * rng.random(n * (n - 1) // 2)) for _ in range(2))
    ids = [f"s{i}" for i in range(n)]
    save_rdm(tmp_path / "pooled.npz", (odd + even) / 2, ids)
    np.savez(tmp_path / "split.npz", subjects=np.array(["pooled"]), odd=odd[None], even=even[None],
             stimuli=np.array(ids))
    table = noise_ceiling_table({"V1": {"pooled": tmp_path / "pooled.npz"}}, {"V1": tmp_path / "split.npz"},
                                "spearman").set_index("subject")
    r = split_half_reliability(odd, even, "spearman").r
    assert (table.loc["group", "lower"], table.loc["group", "upper"]) == pytest.approx(
        split_half_noise_ceiling(r, "spearman"))
    assert 0 < table.loc["group", "lower"] < table.loc["group", "upper"] < 1
