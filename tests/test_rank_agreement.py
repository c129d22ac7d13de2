"""Agreement of the conditions' rankings across datasets (lrrsa.stats.rank_agreement):
tau-b and its exact p against scipy and an independent brute force, the paired seed
bootstrap (what it resamples, its coverage on simulated studies), the agreement table and
its errors, and the RSA-vs-encoding figure's rank_agreement that now calls it."""

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from lrrsa.figures.encoding import rank_agreement
from lrrsa.stats.rank_agreement import (
    AGREEMENT_COLUMNS, MAX_EXACT_CONDITIONS, SIDE_BY_SIDE_COLUMNS, agreement_table, kendall_tau_b, kendall_tau_exact,
    seed_bootstrap_tau,
)

CONDITIONS = ["untrained", "bp", "fa", "pc", "stdp"]


def brute_tau_b(x, y) -> float:
    """Kendall (1945) tau-b from its definition: concordant minus discordant pairs over
    the geometric mean of the pairs untied in x and untied in y."""
    concordant = discordant = untied_x = untied_y = 0
    for i, j in itertools.combinations(range(len(x)), 2):
        dx, dy = x[i] - x[j], y[i] - y[j]
        untied_x += dx != 0
        untied_y += dy != 0
        concordant += dx * dy > 0
        discordant += dx * dy < 0
    return (concordant - discordant) / math.sqrt(untied_x * untied_y)


def brute_p(x, y) -> float:
    """Share of all n! orderings of y with |tau-b| >= the observed one (tolerance 1e-9)."""
    observed = abs(brute_tau_b(x, y))
    orderings = list(itertools.permutations(y))
    return sum(abs(brute_tau_b(x, list(o))) >= observed - 1e-9 for o in orderings) / len(orderings)


# ------------------------------------------------------------------ tau-b and its exact p


@pytest.mark.parametrize("n", [3, 4, 5, 6, 7])
def test_without_ties_tau_and_p_equal_scipys_exact_test(n):
    rng = np.random.default_rng(n)
    for _ in range(15):
        x, y = rng.standard_normal(n), rng.standard_normal(n)
        tau, p = kendall_tau_exact(x, y)
        expected = stats.kendalltau(x, y, method="exact")
        assert tau == pytest.approx(expected.statistic, abs=1e-12)
        assert p == pytest.approx(expected.pvalue, abs=1e-12)


def test_every_ordering_of_five_conditions_matches_scipy_and_p_is_a_count_over_120():
    x = np.arange(5.0)
    for y in itertools.permutations(range(5)):
        tau, p = kendall_tau_exact(x, np.array(y, float))
        expected = stats.kendalltau(x, y, method="exact")
        assert tau == pytest.approx(expected.statistic, abs=1e-12)
        assert p == pytest.approx(expected.pvalue, abs=1e-12)
        assert p * 120 == pytest.approx(round(p * 120), abs=1e-9)  # p = count / n!


def test_the_follow_up_studys_it_result_tau_0_with_5_conditions_has_p_1():
    # A ranking of 5 with 5 concordant and 5 discordant pairs: tau = 0 (arXiv 2605.22401, IT).
    x, y = np.arange(5.0), np.array([0.0, 3, 4, 2, 1])
    tau, p = kendall_tau_exact(x, y)
    assert tau == 0.0
    assert p == 1.0 == stats.kendalltau(x, y, method="exact").pvalue
    # Perfect agreement: the smallest p of 5 conditions, 2 of 120 orderings.
    assert kendall_tau_exact(x, x) == (pytest.approx(1.0), pytest.approx(2 / 120))


@pytest.mark.parametrize(("x", "y"), [
    ([1, 1, 2, 3, 4], [2, 1, 3, 5, 4]),
    ([1, 1, 2, 2, 3], [1, 2, 2, 3, 3]),
    ([0.3, 0.3, 0.3, 0.1, 0.5, 0.2], [5, 4, 4, 1, 3, 2]),
    ([1, 2, 3, 4], [1, 1, 1, 2]),
    ([3, 1, 2, 2, 5, 4, 4], [1, 2, 3, 4, 5, 6, 7]),
])
def test_with_ties_tau_b_and_p_equal_a_brute_force_over_all_orderings(x, y):
    tau, p = kendall_tau_exact(x, y)
    assert tau == pytest.approx(brute_tau_b(x, y), abs=1e-12)
    assert tau == pytest.approx(stats.kendalltau(x, y).statistic, abs=1e-12)  # scipy's tau is tau-b
    assert p == pytest.approx(brute_p(x, y), abs=1e-12)
    assert p * math.factorial(len(x)) == pytest.approx(round(p * math.factorial(len(x))), abs=1e-6)


def test_undefined_cases_give_nan_and_bad_shapes_or_too_many_conditions_raise():
    assert np.isnan(kendall_tau_exact([1, 2], [2, 1])).all()  # fewer than 3 conditions
    assert np.isnan(kendall_tau_exact([1, 1, 1, 1], [1, 2, 3, 4])).all()  # a constant ranking
    assert np.isnan(kendall_tau_exact([1, 2, 3, 4], [5, 5, 5, 5])).all()
    assert np.isnan(kendall_tau_exact([1, 2, np.nan, 4], [1, 2, 3, 4])).all()
    with pytest.raises(ValueError, match="1-D of one length"):
        kendall_tau_exact([1, 2, 3], [1, 2, 3, 4])
    with pytest.raises(ValueError, match=f"n = {MAX_EXACT_CONDITIONS + 1} conditions"):
        kendall_tau_exact(np.arange(MAX_EXACT_CONDITIONS + 1), np.arange(MAX_EXACT_CONDITIONS + 1))


def test_vectorised_tau_b_equals_the_definition_row_by_row():
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 3, (20, 5)).astype(float), rng.integers(0, 3, (20, 5)).astype(float)
    taus = kendall_tau_b(x, y)
    for row in range(20):
        if np.ptp(x[row]) == 0 or np.ptp(y[row]) == 0:
            assert np.isnan(taus[row])
        else:
            assert taus[row] == pytest.approx(brute_tau_b(x[row], y[row]), abs=1e-12)


def test_the_rsa_vs_encoding_figures_rank_agreement_is_the_exact_test():
    rsa = pd.Series([0.076, 0.034, 0.012, 0.056, 0.064], index=CONDITIONS)
    encoding = pd.Series([0.20, 0.25, 0.10, 0.15, 0.30], index=CONDITIONS)
    expected = stats.kendalltau(rsa, encoding, method="exact")
    assert rank_agreement(rsa, encoding) == (pytest.approx(expected.statistic), pytest.approx(expected.pvalue))
    assert np.isnan(rank_agreement(rsa.iloc[:2], encoding.iloc[:2])).all()
    tied = pd.Series([0.2, 0.2, 0.1, 0.15, 0.3], index=CONDITIONS)  # with ties: the exact p, not scipy's asymptotic
    assert rank_agreement(rsa, tied)[1] == pytest.approx(brute_p(rsa.to_list(), tied.to_list()))


# ------------------------------------------------------------------ seed bootstrap


def long_scores(values: np.ndarray, conditions=CONDITIONS, seeds=None) -> pd.DataFrame:
    """condition x seed matrix -> the long table (condition, seed, score)."""
    seeds = list(range(values.shape[1])) if seeds is None else seeds
    return pd.DataFrame({"condition": np.repeat(conditions, len(seeds)), "seed": np.tile(seeds, len(conditions)),
                         "score": values.ravel()})


def test_the_same_networks_in_both_datasets_give_tau_1_in_every_draw():
    # Dataset B scores every network exactly as A does: a paired draw has identical mean
    # vectors in A and B, so tau = 1 in every draw; resampling A and B independently would not.
    values = np.random.default_rng(1).standard_normal((5, 5))
    a, b = long_scores(values), long_scores(values)
    for paired_conditions in (True, False):
        interval = seed_bootstrap_tau(a, b, n_bootstrap=500, seed=3, pair_conditions=paired_conditions)
        assert (interval.ci_low, interval.ci_high, interval.n_undefined) == (1.0, 1.0, 0)


def test_paired_conditions_resample_the_same_seeds_in_every_condition():
    # Each seed shifts every condition alike (a shared initialisation), far more than the
    # conditions differ, and the datasets rank the conditions in reverse. Drawing seed k for
    # every condition keeps each dataset's order, so tau = -1 in every draw; drawing each
    # condition's seeds apart ranks the conditions by their drawn shifts, alike in A and B.
    shift = np.array([0.0, 10.0, 20.0, 30.0, 40.0])
    a = long_scores(np.arange(5.0)[:, None] * 0.1 + shift[None, :])
    b = long_scores(np.arange(5.0)[::-1, None] * 0.1 + shift[None, :])
    joint = seed_bootstrap_tau(a, b, n_bootstrap=400, seed=0, pair_conditions=True)
    apart = seed_bootstrap_tau(a, b, n_bootstrap=400, seed=0, pair_conditions=False)
    assert (joint.ci_low, joint.ci_high) == (-1.0, -1.0)
    assert apart.ci_high == 1.0


def test_the_interval_is_reproducible_attained_and_counts_undefined_draws():
    values = np.random.default_rng(2).standard_normal((5, 5))
    a, b = long_scores(values), long_scores(values[::-1] + 0.5)
    first = seed_bootstrap_tau(a, b, n_bootstrap=300, seed=11)
    assert first == seed_bootstrap_tau(a, b, n_bootstrap=300, seed=11)
    assert -1 <= first.ci_low <= first.ci_high <= 1
    assert round(first.ci_low * 10) == pytest.approx(first.ci_low * 10)  # a value tau takes with 5 conditions
    # B's scores are constant over conditions in seed 0 only; any draw of seed 0 alone has no tau.
    flat = np.tile(np.array([[1.0], [2.0], [3.0], [4.0], [5.0]]), 2)
    flat_b = np.column_stack([np.ones(5), np.arange(5.0)])
    interval = seed_bootstrap_tau(long_scores(flat), long_scores(flat_b), n_bootstrap=1000, seed=0)
    assert 150 < interval.n_undefined < 350  # P(both draws are seed 0) = 1/4
    assert (interval.ci_low, interval.ci_high, interval.n_bootstrap) == (1.0, 1.0, 1000)


def simulated_study(rng, mu_a, mu_b, n_seeds=5, rho=0.5):
    """Seed scores of 5 conditions in two datasets; a network's deviations in A and B
    correlate rho (the same network measured twice)."""
    e_a = rng.standard_normal((len(mu_a), n_seeds))
    e_b = rho * e_a + np.sqrt(1 - rho**2) * rng.standard_normal(e_a.shape)
    return long_scores(mu_a[:, None] + e_a), long_scores(mu_b[:, None] + e_b)


def test_coverage_of_the_95_interval_in_the_follow_up_studys_regime():
    # True means 0.5 seed SDs apart with an unrelated order in B: true tau = 0 (the paper's
    # IT). 150 studies; benchmarks/rank_agreement_calibration.py measures 0.99 here
    # (regime "it", 1000 studies). The bound 0.88 is 4 binomial SDs below 0.95, so a
    # correct interval passes; an interval that does not resample (a point at the sample
    # tau) covers ~0.3 and one of the wrong quantiles ~0.5: they fail. The width bound
    # fails an interval that is [-1, 1] everywhere.
    rng = np.random.default_rng(2026)
    mu_a, mu_b = 0.5 * np.arange(5.0), 0.5 * np.array([0.0, 3, 4, 2, 1])
    covered, widths = [], []
    for _ in range(150):
        a, b = simulated_study(rng, mu_a, mu_b)
        interval = seed_bootstrap_tau(a, b, n_bootstrap=400, seed=int(rng.integers(2**32)))
        covered.append(interval.ci_low <= 0.0 <= interval.ci_high)
        widths.append(interval.ci_high - interval.ci_low)
    assert np.mean(covered) >= 0.88
    assert np.mean(widths) < 1.4


def test_seed_bootstrap_errors_name_what_is_wrong():
    values = np.random.default_rng(3).standard_normal((5, 5))
    a, b = long_scores(values), long_scores(values)
    kwargs = {"n_bootstrap": 10, "seed": 0}
    with pytest.raises(ValueError, match="scores_b: missing column.*score"):
        seed_bootstrap_tau(a, b.drop(columns="score"), **kwargs)
    with pytest.raises(ValueError, match="scores_b: no scores for condition.*stdp"):
        seed_bootstrap_tau(a, b[b["condition"] != "stdp"], **kwargs)
    with pytest.raises(ValueError, match=r"condition 'bp': seeds \[4\] are scored in only one dataset"):
        seed_bootstrap_tau(a, b[~((b["condition"] == "bp") & (b["seed"] == 4))], **kwargs)
    with pytest.raises(ValueError, match="scores_a: condition 'fa' seed 2 has more than one row"):
        seed_bootstrap_tau(pd.concat([a, a[(a["condition"] == "fa") & (a["seed"] == 2)]]), b, **kwargs)
    with pytest.raises(ValueError, match="fewer than 2 seeds"):
        seed_bootstrap_tau(a[a["seed"] == 0], b[b["seed"] == 0], **kwargs)
    few = a[a["condition"].isin(CONDITIONS[:2])]
    with pytest.raises(ValueError, match="2 condition.*at least 3"):
        seed_bootstrap_tau(few, few, **kwargs)
    fewer = a[~((a["condition"] == "pc") & (a["seed"] == 4))]
    fewer_b = b[~((b["condition"] == "pc") & (b["seed"] == 4))]
    with pytest.raises(ValueError, match="'pc' .*pair_conditions=False"):
        seed_bootstrap_tau(fewer, fewer_b, **kwargs)
    assert np.isfinite(seed_bootstrap_tau(fewer, fewer_b, pair_conditions=False, **kwargs).ci_low)
    with pytest.raises(ValueError, match="n_bootstrap must be >= 1"):
        seed_bootstrap_tau(a, b, n_bootstrap=0, seed=0)
    with pytest.raises(ValueError, match="level must be in"):
        seed_bootstrap_tau(a, b, n_bootstrap=10, seed=0, level=95)


# ------------------------------------------------------------------ the agreement table


def roi_scores(rois: dict[str, np.ndarray]) -> pd.DataFrame:
    return pd.concat([long_scores(v).assign(roi=roi) for roi, v in rois.items()], ignore_index=True)


def known_tables():
    rng = np.random.default_rng(4)
    human = {"V1": 0.05 + 0.01 * rng.standard_normal((5, 5)), "IT": 0.01 + 0.01 * rng.standard_normal((5, 5))}
    macaque = {"V1": 0.25 + 0.05 * rng.standard_normal((5, 5)), "IT": 0.1 + 0.02 * rng.standard_normal((5, 5))}
    return human, macaque


def test_agreement_table_gives_tau_p_interval_and_scores_side_by_side():
    human, macaque = known_tables()
    agreement, side = agreement_table(roi_scores(human), roi_scores(macaque), [("V1", "V1"), ("IT", "IT")],
                                      n_bootstrap=200, seed=5)
    assert list(agreement.columns) == AGREEMENT_COLUMNS
    assert list(side.columns) == SIDE_BY_SIDE_COLUMNS
    assert agreement[["roi_a", "roi_b"]].values.tolist() == [["V1", "V1"], ["IT", "IT"]]
    for _, row in agreement.iterrows():
        a, b = human[row["roi_a"]].mean(axis=1), macaque[row["roi_b"]].mean(axis=1)
        assert (row["tau"], row["p_exact"]) == (pytest.approx(stats.kendalltau(a, b, method="exact").statistic),
                                                pytest.approx(stats.kendalltau(a, b, method="exact").pvalue))
        assert (row["n_conditions"], row["n_seeds"], row["n_bootstrap"], row["level"]) == (5, 5, 200, 0.95)
    v1 = side[side["roi_a"] == "V1"].set_index("condition")
    assert v1.loc[CONDITIONS, "score_a"].to_numpy() == pytest.approx(human["V1"].mean(axis=1))
    assert v1.loc[CONDITIONS, "sd_b"].to_numpy() == pytest.approx(macaque["V1"].std(axis=1, ddof=1))
    # One pair's interval is its own bootstrap of the pair's seeds, with a seed derived per pair.
    again, _ = agreement_table(roi_scores(human), roi_scores(macaque), [("IT", "IT")], n_bootstrap=200, seed=5)
    assert again.iloc[0].to_dict() == agreement.iloc[1].to_dict()
    none, _ = agreement_table(roi_scores(human), roi_scores(macaque), [("IT", "IT")], n_bootstrap=0)
    assert np.isnan(none[["ci_low", "ci_high"]].to_numpy()).all() and none["tau"].iloc[0] == agreement["tau"].iloc[1]


def test_agreement_table_with_one_seed_needs_no_interval():
    human, macaque = known_tables()
    one_a, one_b = roi_scores(human), roi_scores(macaque)
    one_a, one_b = one_a[one_a["seed"] == 0], one_b[one_b["seed"] == 0]
    with pytest.raises(ValueError, match="fewer than 2 seeds"):
        agreement_table(one_a, one_b, [("V1", "V1")], n_bootstrap=100)
    agreement, side = agreement_table(one_a, one_b, [("V1", "V1")], n_bootstrap=0)
    assert np.isfinite(agreement["tau"].iloc[0]) and side["sd_a"].isna().all()


def test_agreement_table_errors_name_the_missing_roi_condition_or_column():
    human, macaque = known_tables()
    a, b = roi_scores(human), roi_scores(macaque)
    with pytest.raises(ValueError, match="summary_b: no scores for ROI 'V4'"):
        agreement_table(a, b, [("V1", "V4")], n_bootstrap=10)
    with pytest.raises(ValueError, match="summary_a: missing column.*roi"):
        agreement_table(a.drop(columns="roi"), b, [("V1", "V1")], n_bootstrap=10)
    with pytest.raises(ValueError, match="summary_b ROI IT: no scores for condition.*pc"):
        agreement_table(a, b[~((b["roi"] == "IT") & (b["condition"] == "pc"))], [("IT", "IT")], n_bootstrap=10)
    with pytest.raises(ValueError, match="summary_a ROI V1: no scores for condition.*resnet"):
        agreement_table(a, b, [("V1", "V1")], conditions=[*CONDITIONS, "resnet"], n_bootstrap=10)
    with pytest.raises(ValueError, match="summary_a ROI V1: condition 'bp' seed 1 has more than one row"):
        agreement_table(pd.concat([a, a.iloc[[6]]]), b, [("V1", "V1")], n_bootstrap=10)
    with pytest.raises(ValueError, match="no ROI pairs"):
        agreement_table(a, b, [], n_bootstrap=10)
