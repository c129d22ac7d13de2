"""The condition comparisons (lrrsa.rsa.influence, lrrsa.rsa.contrasts) against oracles:
leave-one-pair-out derivatives, the textbook U-statistic variance by brute force,
scipy's one-sample t-test, exact algebra on degenerate input, and the calibration of
the whole procedure on simulated studies with a known truth (a fast version of
benchmarks/calibration.py)."""

import sys

import numpy as np
import pytest
from scipy import stats
from scipy.spatial.distance import pdist, squareform

from conftest import REPO
from lrrsa.rsa.contrasts import contrast_inference, reliability_ratio
from lrrsa.rsa.influence import PairDesign, influence, pearson_influence, spearman_influence

sys.path.insert(0, str(REPO / "benchmarks"))
import calibration  # noqa: E402  (the benchmark's simulated studies)


def random_rdm(rng, n, dims=4):
    return squareform(pdist(rng.normal(size=(n, dims)) * rng.lognormal(0, 0.5, size=(n, 1))))


# ------------------------------------------------------------------ influence


@pytest.mark.parametrize("method", ["spearman", "pearson"])
def test_influence_is_the_leave_one_pair_out_derivative(method):
    """(m - 1) (rho - rho without pair p) -> IF_p: the first-order effect of each pair."""
    rng = np.random.default_rng(0)
    m = 300
    x = rng.normal(size=m)
    y = 0.6 * x + rng.normal(size=m)
    x[:30] = np.round(x[:30], 1)  # ties in one vector
    score = (lambda a, b: stats.spearmanr(a, b).statistic) if method == "spearman" else \
        (lambda a, b: stats.pearsonr(a, b).statistic)
    full = score(x, y)
    empirical = np.array([(m - 1) * (full - score(np.delete(x, p), np.delete(y, p))) for p in range(m)])
    got = influence(x[None], y, method)[0]
    assert np.corrcoef(got, empirical)[0, 1] > 0.9999
    np.testing.assert_allclose(got, empirical, atol=0.03 if method == "spearman" else 0.15)
    assert abs(got.mean()) < 1e-12  # an influence function has mean zero


def test_influence_of_a_constant_vector_is_nan_and_of_several_models_is_row_by_row():
    rng = np.random.default_rng(1)
    y = rng.normal(size=50)
    models = rng.normal(size=(3, 50))
    models[1] = 2.0
    out = spearman_influence(models, y)
    assert np.isnan(out[1]).all() and np.isfinite(out[[0, 2]]).all()
    np.testing.assert_array_equal(out[2], spearman_influence(models[2], y)[0])
    assert pearson_influence(models[[0]], y).shape == (1, 50)
    with pytest.raises(ValueError, match="kendall"):
        influence(models, y, "kendall")


# ------------------------------------------------------------------ U-statistic variance


def test_pair_design_covariance_is_the_textbook_unbiased_u_statistic_estimate():
    """U^2 - U(theta^2), U(theta^2) the mean of x_p y_q over ordered pairs of disjoint pairs,
    enumerated by brute force."""
    rng = np.random.default_rng(2)
    n = 7
    design = PairDesign(n)
    i, j = np.triu_indices(n, k=1)
    x, y = rng.normal(size=design.m), rng.normal(size=design.m)
    disjoint = [(p, q) for p in range(design.m) for q in range(design.m) if len({i[p], j[p], i[q], j[q]}) == 4]
    brute = x.mean() * y.mean() - np.mean([x[p] * y[q] for p, q in disjoint])
    assert design.covariance(x, y)[0] == pytest.approx(brute, rel=1e-12)
    g, const = design.contributions(x[None], y[None])
    assert g.sum() + const[0] == pytest.approx(brute, rel=1e-12) and g.shape == (1, n)
    with pytest.raises(ValueError, match="at least 4 stimuli"):
        PairDesign(3)


def test_pair_design_variance_is_unbiased_for_a_u_statistic_of_the_stimuli():
    """A kernel of two stimuli's values with a stimulus effect and a pair effect: the
    estimates average to the variance of the pair mean over fresh samples."""
    rng = np.random.default_rng(3)
    n, studies = 20, 3000
    design = PairDesign(n)
    i, j = np.triu_indices(n, k=1)
    means, estimates = [], []
    for _ in range(studies):
        a = rng.exponential(size=n)  # skewed stimulus effects
        h = a[i] + a[j] + a[i] * a[j] + rng.normal(size=design.m)  # + pair-specific noise
        means.append(h.mean())
        estimates.append(design.covariance(h)[0])
    assert np.mean(estimates) == pytest.approx(np.var(means, ddof=1), rel=0.06)


# ------------------------------------------------------------------ the contrasts


def grid(rng, n_conditions=2, n_seeds=4, n=12):
    return np.array([[random_rdm(rng, n) for _ in range(n_seeds)] for _ in range(n_conditions)])


def test_over_seeds_alone_it_is_the_one_sample_t_test_of_the_per_seed_differences():
    rng = np.random.default_rng(4)
    models, subjects = grid(rng), np.array([random_rdm(rng, 12) for _ in range(3)])
    out = contrast_inference(models, subjects, [[1.0, -1.0], [1.0, 0.0]], factors=["seeds"], level=0.9)
    group = squareform(subjects.mean(axis=0), checks=False)
    rho = np.array([[stats.spearmanr(squareform(m, checks=False), group).statistic for m in c] for c in models])
    d = rho[0] - rho[1]
    oracle = stats.ttest_1samp(d, 0.0)
    assert out.estimate[0] == pytest.approx(d.mean()) and out.p[0] == pytest.approx(oracle.pvalue)
    assert out.se[0] == pytest.approx(d.std(ddof=1) / 2) and out.df[0] == pytest.approx(3)
    low, high = oracle.confidence_interval(0.9)
    assert out.low[0] == pytest.approx(low) and out.high[0] == pytest.approx(high)
    assert out.factors == ("seeds",) and list(out.terms) == ["seeds"]


def test_over_stimuli_alone_it_is_the_u_statistic_variance_of_the_influence():
    rng = np.random.default_rng(5)
    models, subjects = grid(rng, n_seeds=1, n=15), np.array([random_rdm(rng, 15) for _ in range(2)])
    out = contrast_inference(models, subjects, [[1.0, -1.0]], method="pearson", factors=["stimuli", "seeds"])
    assert out.factors == ("stimuli",)  # one seed: nothing to generalise over
    group = squareform(subjects.mean(axis=0), checks=False)
    psi = pearson_influence(np.stack([squareform(m[0], checks=False) for m in models]), group)
    assert out.se[0] ** 2 == pytest.approx(PairDesign(15).covariance(psi[0] - psi[1])[0], rel=1e-10)


def test_every_term_of_three_factors_is_reported_and_combined_by_inclusion_exclusion():
    rng = np.random.default_rng(6)
    models, subjects = grid(rng, n=10), np.array([random_rdm(rng, 10) for _ in range(3)])
    out = contrast_inference(models, subjects, [[1.0, -1.0]], factors=["stimuli", "subjects", "seeds"], pool_alpha=0)
    assert set(out.terms) == {"stimuli", "subjects", "seeds", "stimuli+subjects", "stimuli+seeds", "subjects+seeds",
                              "stimuli+subjects+seeds"}
    signed = sum((-1) ** name.count("+") * value[0] for name, value in out.terms.items())
    assert out.se[0] ** 2 == pytest.approx(max(signed, 0.0))


def test_identical_conditions_differ_by_exactly_zero():
    rng = np.random.default_rng(7)
    models, subjects = grid(rng), np.array([random_rdm(rng, 12) for _ in range(3)])
    models[1] = models[0]
    for factors in (["stimuli", "seeds"], ["stimuli", "subjects", "seeds"], ["seeds"]):
        out = contrast_inference(models, subjects, [[1.0, -1.0]], factors=factors)
        assert out.estimate[0] == 0 and out.se[0] == 0 and out.low[0] == 0 and out.high[0] == 0 and out.p[0] == 1


def test_stimuli_without_dissimilarities_are_dropped():
    """A NaN row (a stimulus with constant features) in one model: the result is that of
    every RDM without that stimulus."""
    rng = np.random.default_rng(8)
    models, subjects = grid(rng, n=13), np.array([random_rdm(rng, 13) for _ in range(3)])
    broken = models.copy()
    broken[1, 2, 4, :] = broken[1, 2, :, 4] = np.nan
    broken[1, 2, 4, 4] = 0
    keep = np.delete(np.arange(13), 4)
    out = contrast_inference(broken, subjects, [[1.0, -1.0]])
    ref = contrast_inference(models[:, :, keep][:, :, :, keep], subjects[:, keep][:, :, keep], [[1.0, -1.0]])
    assert out.n_stimuli == 12
    np.testing.assert_allclose([out.estimate, out.se, out.p], [ref.estimate, ref.se, ref.p], rtol=1e-12)
    scattered = models.copy()
    scattered[0, 0, 1, 2] = scattered[0, 0, 2, 1] = np.nan
    with pytest.raises(ValueError, match="whole stimuli"):
        contrast_inference(scattered, subjects, [[1.0, -1.0]])


def test_bad_input_is_refused_with_its_name():
    rng = np.random.default_rng(9)
    models, subjects = grid(rng, n=6), np.array([random_rdm(rng, 6) for _ in range(2)])
    with pytest.raises(ValueError, match="kendall"):
        contrast_inference(models, subjects, [[1.0, -1.0]], method="kendall")
    with pytest.raises(ValueError, match="unknown random factor"):
        contrast_inference(models, subjects, [[1.0, -1.0]], factors=["voxels"])
    with pytest.raises(ValueError, match="contrasts have 3 columns for 2 conditions"):
        contrast_inference(models, subjects, [[1.0, -1.0, 0.0]])
    with pytest.raises(ValueError, match="at least 4 stimuli"):
        contrast_inference(models[:, :, :3, :3], subjects[:, :3, :3], [[1.0, -1.0]])


def test_reliability_ratio_follows_spearman_brown():
    """R_s / R_(s-1) with R_k = k r / (1 + (k - 1) r): s / (s - 1) for unrelated
    subjects, 1 for identical ones, the closed form in between (Pearson's scale)."""
    rng = np.random.default_rng(10)
    base = rng.normal(size=200)
    assert reliability_ratio(np.stack([base] * 4), "pearson") == pytest.approx(1.0)
    assert reliability_ratio(rng.normal(size=(4, 20000)), "pearson") == pytest.approx(4 / 3, rel=0.01)
    subjects = base + rng.normal(size=(3, 200))
    r = np.corrcoef(subjects)[np.triu_indices(3, 1)].mean()
    R = lambda k: k * r / (1 + (k - 1) * r)  # noqa: E731
    assert reliability_ratio(subjects, "pearson") == pytest.approx(R(3) / R(2))


# ------------------------------------------------------------------ calibration


def simulate(regime_name, studies, seed, *, n=40, n_seeds=5, old=False):
    """Coverage of the difference's interval and its p-values over simulated studies of a
    null regime (the true difference is 0 by symmetry), for the workflow's test and,
    with ``old``, the Mantel test of the difference."""
    from lrrsa.rsa.permutation import permutation_test

    regime = calibration.REGIMES[regime_name]
    subjects = calibration.Subjects(3, noise=3.0)
    rng = np.random.default_rng(seed)
    covered, p_new, p_old = [], [], []
    for i in range(studies):
        models, brain = calibration.study(rng, regime, subjects, n, n_seeds)
        out = contrast_inference(models, brain, [[1.0, -1.0]])
        covered.append(out.low[0] <= 0 <= out.high[0])
        p_new.append(out.p[0])
        if old:
            means = np.kron(np.eye(2), np.full((1, n_seeds), 1 / n_seeds))
            mantel = permutation_test(models.reshape(-1, n, n), brain.mean(0), 199, seed=i, threads=1)
            p_old.append(mantel.combine(means).p_diff[0, 1])
    return np.mean(covered), np.mean(np.asarray(p_new) < 0.05), np.mean(np.asarray(p_old) < 0.05) if old else None


@pytest.mark.parametrize("regime", ["different_features", "seed_variability", "workflow"])
def test_the_difference_test_holds_its_level_and_its_interval_covers(regime):
    """300 simulated studies of two equally good conditions (benchmarks/calibration.py's
    generator, 40 stimuli, 5 seeds): coverage within 0.95 +- 0.03 and the rate of
    p < 0.05 inside the 99 % binomial band of a correct test. A test whose variance
    misses a factor (e.g. the seeds: see the next test) or counts one twice fails
    this."""
    coverage, rejections, _ = simulate(regime, 300, seed=11)
    low, high = stats.binom.ppf([0.005, 0.995], 300, 0.05) / 300
    assert abs(coverage - 0.95) <= 0.03, coverage
    assert low <= rejections <= high, (rejections, low, high)


def test_the_calibration_check_catches_a_miscalibrated_test():
    """The same check on the paper's difference test (Mantel: brain labels permuted,
    models fixed), where the conditions are equally good but driven by different brain
    features: it rejects far more often than 5 %, so the band above would fail it."""
    _, _, rejections = simulate("different_features", 120, seed=12, old=True)
    assert rejections > stats.binom.ppf(0.995, 120, 0.05) / 120, rejections


def test_degrees_of_freedom_are_floored_at_one():
    """A variance estimate that is mostly its own noise (per-stimulus contributions of
    opposite sign, as the U-statistic's can be) has Satterthwaite df far below 1; the floor
    keeps the t quantile finite (the Cauchy at df 1)."""
    from lrrsa.rsa.contrasts import MIN_DF, _combine

    n = 20
    g = np.zeros((1, n))
    g[0, :2] = [1.0, -1.0 + 1e-4]  # the contributions sum to 1e-4 with a spread of about 1
    result = _combine(np.array([0.3]), {"stimuli": g.sum(axis=1)}, {"stimuli": np.array([np.inf])},
                      {"stimuli": g}, 0.95, ("stimuli",), n, 0.25)
    unfloored = 2 * g.sum() ** 2 / (n / (n - 1) * ((g - g.mean()) ** 2).sum())
    assert unfloored < 1e-6 and result.df[0] == MIN_DF == 1.0
    assert result.high[0] == pytest.approx(0.3 + stats.t.ppf(0.975, 1) * 1e-2)
