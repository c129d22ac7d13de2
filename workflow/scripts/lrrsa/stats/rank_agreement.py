"""Do two datasets rank the learning rules alike? Kendall's tau-b of the conditions'
scores in corresponding ROIs of two datasets (e.g. human V1 and macaque V1; human IT
and macaque IT), its exact permutation p, and a bootstrap interval over the networks
(seeds).

The statistic. A condition's score in a dataset's ROI is the mean over its seeds of the
per-seed score (an RSA rho, an encoding r: any number where higher means more
brain-like). With n conditions, tau-b (Kendall 1938, Biometrika 30:81; the tie
correction of Kendall 1945, Biometrika 33:239) of the two score vectors x and y is

    tau_b = S / sqrt((n0 - n1) (n0 - n2)),   S = sum over pairs i < j of
            sign(x_i - x_j) sign(y_i - y_j),

n0 = n (n - 1) / 2 the pairs, n1 and n2 the pairs tied in x and in y.

The exact test. Under the null hypothesis that the two rankings are unrelated, every
one of the n! orderings of y relative to x is equally likely (the exact permutation
distribution of Kendall 1938; Kendall & Gibbons 1990, *Rank Correlation Methods*; with
ties, the permutation distribution given the observed tie pattern). The two-sided p is the share of the n! orderings whose |tau| is at least the observed one.
The denominator of tau-b does not change when y is permuted, so the comparison is made
on the integer S, exactly. With n = 5 conditions, tau takes the values -1, -0.8, ..., 1
and the smallest attainable two-sided p is 2 / 120 = 0.017 (tau = +-1): the test has
power only when the rankings agree perfectly or are exactly reversed. tau = 0 has p = 1.
The test takes the conditions' seed-mean scores as given; its null hypothesis is
"unrelated orderings", not "no rule effect". When the same networks are scored in both
datasets, a network's luck in one dataset is partly its luck in the other, so the seed
means' rankings agree beyond chance even where the rules do not differ: with equal true
means and a correlation of 0.8 between a network's two scores, p < 0.05 in 13 % of
simulated studies (2.2 % with uncorrelated scores; exact rate 2/120 = 1.7 %). For a
claim about the rules read the seed-bootstrap interval too.

The interval. A percentile bootstrap over the networks: a seed is one trained network,
and the same networks are scored in both datasets, so a bootstrap draw resamples seed
labels with replacement and applies the same labels to both datasets (paired). Seed k
of every condition starts from the same initialisation (``docs/STATISTICS.md``), so by
default the same labels are also used for every condition; ``pair_conditions=False``
resamples each condition's seeds independently, for conditions trained from
independent initialisations. The interval is conditional on the datasets' stimuli and
recordings (it generalises over networks only). Its coverage of the true tau (that of
the conditions' expected scores) on simulated studies with 5 conditions x 5 seeds
(``benchmarks/rank_agreement_calibration.py``, 1000 studies per regime): 0.98-1.00 for
a nominal 95 % where the truth is inside (-1, 1), whatever the spacing of the true means
(tau is discrete and the limits are attained values, so the interval is conservative);
0.69 where the truth is tau = 1 and adjacent true means are only 0.3 seed SDs apart
(seed noise pulls the sample tau towards 0, mean 0.58, and the percentile interval
rarely reaches the boundary), 0.99 at 1 seed SD. With a shared initialisation
resampling each condition apart covers as well but is 30 % wider.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd

from lrrsa.stats.seeds import derived_seed

#: The most conditions whose n! orderings are enumerated (10! = 3,628,800; a few seconds).
MAX_EXACT_CONDITIONS = 10
#: Columns of the per-seed score tables of :func:`seed_bootstrap_tau`.
SEED_SCORE_COLUMNS = ["condition", "seed", "score"]
#: Columns of the per-seed score tables of :func:`agreement_table`.
ROI_SCORE_COLUMNS = ["roi", "condition", "seed", "score"]
#: Columns of the table of :func:`agreement_table`, one row per ROI pair.
AGREEMENT_COLUMNS = ["roi_a", "roi_b", "n_conditions", "n_seeds", "tau", "p_exact", "ci_low", "ci_high", "level",
                     "n_bootstrap", "n_undefined"]
#: Columns of its second table, the conditions' scores side by side.
SIDE_BY_SIDE_COLUMNS = ["condition", "roi_a", "roi_b", "score_a", "score_b", "sd_a", "sd_b", "n_seeds"]
_PERMUTATION_CHUNK = 40_320  # 8!: orderings scored at once


class TauInterval(NamedTuple):
    """A percentile interval of tau-b over bootstrap draws; ``n_undefined`` draws (a
    constant mean-score vector in a dataset) had no tau and are left out of it."""

    ci_low: float
    ci_high: float
    n_bootstrap: int
    n_undefined: int


def _pair_signs(values: np.ndarray) -> np.ndarray:
    """sign(v_i - v_j) for every pair i < j of the last axis: (..., n) -> (..., n (n - 1) / 2)."""
    i, j = np.triu_indices(values.shape[-1], k=1)
    return np.sign(values[..., i] - values[..., j])


def kendall_tau_b(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Kendall's tau-b (Kendall 1945) of x and y along their last axis, for any leading
    shape: (..., n), (..., n) -> (...). NaN where either is constant, holds a NaN, or
    n < 2. No p; for one pair of vectors and its exact p use :func:`kendall_tau_exact`."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape:
        raise ValueError(f"kendall_tau_b: x and y differ in shape, {x.shape} and {y.shape}")
    sx, sy = _pair_signs(x), _pair_signs(y)
    s = (sx * sy).sum(axis=-1)
    denominator = np.sqrt((sx * sx).sum(axis=-1) * (sy * sy).sum(axis=-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, s / denominator, np.nan)


def _exceedances(signs_x: np.ndarray, y: np.ndarray, s_observed: int) -> int:
    """How many of the n! orderings of y give |S| >= |S_observed| against x's pair signs."""
    n = len(y)
    i, j = np.triu_indices(n, k=1)
    orderings = itertools.permutations(range(n))
    count = 0
    while chunk := list(itertools.islice(orderings, _PERMUTATION_CHUNK)):
        permuted = y[np.array(chunk, dtype=np.intp)]
        s = np.sign(permuted[:, i] - permuted[:, j]).astype(np.int64) @ signs_x
        count += int(np.count_nonzero(np.abs(s) >= abs(s_observed)))
    return count


def kendall_tau_exact(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> tuple[float, float]:
    """Kendall's tau-b of two score vectors over the same n conditions (position i of x
    and of y is the same condition) and its exact two-sided permutation p.

    tau-b: Kendall (1938) with the tie correction of Kendall (1945). p: the share of the
    n! orderings of y relative to x (enumerated) with |tau_b| >= the observed |tau_b|,
    compared on the integer numerator S (the denominator is the same for every
    ordering), so p = count / n!, ties included. Without ties this is
    ``scipy.stats.kendalltau(method="exact")``; scipy has no exact p with ties.

    Returns (tau, p), floats; tau in [-1, 1], p in (0, 1]. (NaN, NaN) with fewer than 3
    conditions, when either vector is constant (tau-b undefined) or holds a NaN.
    Raises ValueError when x and y are not 1-D of one length, or for more than
    :data:`MAX_EXACT_CONDITIONS` conditions (n! orderings are too many to enumerate).
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.ndim != 1 or x.shape != y.shape:
        raise ValueError(f"kendall_tau_exact: x and y must be 1-D of one length (one score per condition), "
                         f"got shapes {x.shape} and {y.shape}")
    n = len(x)
    if n > MAX_EXACT_CONDITIONS:
        raise ValueError(f"kendall_tau_exact: n = {n} conditions; the exact p enumerates all n! orderings and "
                         f"is limited to n <= {MAX_EXACT_CONDITIONS}")
    tau = float(kendall_tau_b(x, y))
    if n < 3 or not np.isfinite(tau):
        return np.nan, np.nan
    signs_x = _pair_signs(x).astype(np.int64)
    s_observed = int(signs_x @ _pair_signs(y).astype(np.int64))
    return tau, _exceedances(signs_x, y, s_observed) / math.factorial(n)


class PairedScores(NamedTuple):
    """Per condition (in order), its seeds and their scores in A and in B, same order."""

    conditions: list[str]
    seeds: list[np.ndarray]
    a: list[np.ndarray]
    b: list[np.ndarray]


def _seed_scores(scores: pd.DataFrame, source: str) -> dict[str, pd.Series]:
    """condition -> its scores indexed by seed; ValueError naming missing columns or a
    repeated (condition, seed)."""
    missing = [c for c in SEED_SCORE_COLUMNS if c not in scores.columns]
    if missing:
        raise ValueError(f"{source}: missing column(s) {', '.join(missing)}; expected {', '.join(SEED_SCORE_COLUMNS)}")
    repeated = scores[scores.duplicated(["condition", "seed"])]
    if len(repeated):
        first = repeated.iloc[0]
        raise ValueError(f"{source}: condition {first['condition']!r} seed {first['seed']} has more than one "
                         f"row; expected one score per (condition, seed)")
    return {c: rows.set_index("seed")["score"].astype(float) for c, rows in scores.groupby("condition", sort=False)}


def _paired_scores(scores_a: pd.DataFrame, scores_b: pd.DataFrame, conditions: Sequence[str] | None = None,
                   sources: tuple[str, str] = ("scores_a", "scores_b")) -> PairedScores:
    """The conditions' seeds and scores in A and in B; ValueError naming a condition
    missing from a dataset or seeds scored in only one dataset (the pairing needs the
    same networks in both). A NaN score is kept (its condition's mean is NaN)."""
    a, b = _seed_scores(scores_a, sources[0]), _seed_scores(scores_b, sources[1])
    conditions = list(a) if conditions is None else list(conditions)
    for source, table in zip(sources, (a, b)):
        absent = [c for c in conditions if c not in table]
        if absent:
            raise ValueError(f"{source}: no scores for condition(s) {', '.join(map(str, absent))}")
    paired = PairedScores(conditions, [], [], [])
    for condition in conditions:
        seeds_a, seeds_b = set(a[condition].index), set(b[condition].index)
        if seeds_a != seeds_b:
            raise ValueError(f"condition {condition!r}: seeds {sorted(seeds_a ^ seeds_b)} are scored in only one "
                             f"dataset; the seed bootstrap pairs the same networks in both")
        seeds = np.array(sorted(seeds_a))
        paired.seeds.append(seeds)
        paired.a.append(a[condition].loc[seeds].to_numpy(float))
        paired.b.append(b[condition].loc[seeds].to_numpy(float))
    return paired


def _resampled_means(paired: PairedScores, rng: np.random.Generator, n_bootstrap: int,
                     pair_conditions: bool) -> tuple[np.ndarray, np.ndarray]:
    """(n_bootstrap, n_conditions) mean scores in A and in B over seeds drawn with
    replacement: per condition one draw of seeds used in both datasets, or with
    ``pair_conditions`` one draw per bootstrap sample used for every condition."""
    n_seeds = len(paired.seeds[0])
    shared = rng.integers(0, n_seeds, size=(n_bootstrap, n_seeds)) if pair_conditions else None
    means_a = np.empty((n_bootstrap, len(paired.conditions)))
    means_b = np.empty_like(means_a)
    for c, (va, vb) in enumerate(zip(paired.a, paired.b)):
        draw = shared if pair_conditions else rng.integers(0, len(va), size=(n_bootstrap, len(va)))
        means_a[:, c], means_b[:, c] = va[draw].mean(axis=1), vb[draw].mean(axis=1)
    return means_a, means_b


def _check_seeds(paired: PairedScores, pair_conditions: bool) -> None:
    """ValueError for a condition with fewer than 2 seeds, or, with ``pair_conditions``,
    for conditions whose seeds (initialisations) differ."""
    few = [c for c, seeds in zip(paired.conditions, paired.seeds) if len(seeds) < 2]
    if few:
        raise ValueError(f"condition(s) {', '.join(map(str, few))} have fewer than 2 seeds: no seed spread to "
                         f"resample (agreement_table with n_bootstrap=0 gives no interval)")
    if not pair_conditions:
        return
    first = paired.seeds[0]
    for condition, seeds in zip(paired.conditions, paired.seeds):
        if not np.array_equal(seeds, first):
            raise ValueError(f"pair_conditions=True resamples seed k of every condition together, but "
                             f"{paired.conditions[0]!r} has seeds {first.tolist()} and {condition!r} "
                             f"{seeds.tolist()}; pass pair_conditions=False")


def seed_bootstrap_tau(scores_a: pd.DataFrame, scores_b: pd.DataFrame, *, n_bootstrap: int, seed: int,
                       level: float = 0.95, pair_conditions: bool = True,
                       conditions: Sequence[str] | None = None) -> TauInterval:
    """Percentile bootstrap interval over networks (seeds) of Kendall's tau-b between the
    conditions' mean scores in dataset A and in dataset B.

    ``scores_a``, ``scores_b``: long tables with columns condition, seed, score (one row
    per trained network and dataset; score in the dataset's units, e.g. Spearman rho).
    A condition's score is its mean over seeds. What is resampled: the networks. A seed
    is one trained network and the same networks are scored in both datasets, so each
    draw takes seeds with replacement and uses the same seeds in A and in B (a network
    measured twice keeps its two measurements together; resampling the datasets
    independently would break the dependence between them that the networks create).
    With ``pair_conditions`` (default) one draw of seeds serves every condition too, as
    seed k of every condition starts from the same initialisation; with False each
    condition draws its own seeds (conditions from independent initialisations).
    Stimuli and recordings are held fixed: the interval generalises over networks only.

    Each of ``n_bootstrap`` draws gives tau-b of the two resampled mean vectors
    (:func:`kendall_tau_b`); the interval is the ``(1 - level) / 2`` and
    ``(1 + level) / 2`` quantiles of the defined draws (inverted empirical CDF, so the
    limits are attained values of tau). A draw is undefined when a dataset's resampled
    means are all equal; those are counted in ``n_undefined`` and left out, and the
    interval is NaN when every draw is. tau takes few values with 5 conditions and 5
    seeds, and the bootstrap percentile interval of such a statistic is approximate:
    see the coverage in ``benchmarks/rank_agreement_calibration.py``.

    ``conditions``: the conditions compared (default: those of ``scores_a``, in order).
    ``seed``: of numpy's default generator. Raises ValueError on a missing column, a
    repeated (condition, seed), a condition absent from a dataset, seeds scored in one
    dataset only, a condition with fewer than 2 seeds, different seeds across
    conditions with ``pair_conditions``, fewer than 3 conditions, ``n_bootstrap < 1`` or
    ``level`` outside (0, 1).
    """
    if n_bootstrap < 1:
        raise ValueError(f"seed_bootstrap_tau: n_bootstrap must be >= 1, got {n_bootstrap}")
    if not 0 < level < 1:
        raise ValueError(f"seed_bootstrap_tau: level must be in (0, 1), got {level}")
    paired = _paired_scores(scores_a, scores_b, conditions)
    if len(paired.conditions) < 3:
        raise ValueError(f"seed_bootstrap_tau: {len(paired.conditions)} condition(s); tau needs at least 3")
    _check_seeds(paired, pair_conditions)
    means_a, means_b = _resampled_means(paired, np.random.default_rng(seed), n_bootstrap, pair_conditions)
    taus = kendall_tau_b(means_a, means_b)
    defined = taus[np.isfinite(taus)]
    if defined.size == 0:
        return TauInterval(np.nan, np.nan, n_bootstrap, n_bootstrap)
    low, high = np.quantile(defined, [(1 - level) / 2, (1 + level) / 2], method="inverted_cdf")
    return TauInterval(float(low), float(high), n_bootstrap, n_bootstrap - int(defined.size))


def _roi_scores(scores: pd.DataFrame, roi: str, source: str) -> pd.DataFrame:
    rows = scores[scores["roi"] == roi]
    if rows.empty:
        raise ValueError(f"{source}: no scores for ROI {roi!r}; its ROIs are "
                         f"{', '.join(map(str, pd.unique(scores['roi'])))}")
    return rows[SEED_SCORE_COLUMNS]


def _require(scores: pd.DataFrame, source: str) -> None:
    missing = [c for c in ROI_SCORE_COLUMNS if c not in scores.columns]
    if missing:
        raise ValueError(f"{source}: missing column(s) {', '.join(missing)}; expected {', '.join(ROI_SCORE_COLUMNS)}")


def _seed_sd(values: np.ndarray) -> float:
    return float(values.std(ddof=1)) if len(values) > 1 else np.nan


def _side_by_side(paired: PairedScores, roi_a: str, roi_b: str) -> pd.DataFrame:
    return pd.DataFrame({
        "condition": paired.conditions, "roi_a": roi_a, "roi_b": roi_b,
        "score_a": [v.mean() for v in paired.a], "score_b": [v.mean() for v in paired.b],
        "sd_a": [_seed_sd(v) for v in paired.a], "sd_b": [_seed_sd(v) for v in paired.b],
        "n_seeds": [len(v) for v in paired.seeds],
    }, columns=SIDE_BY_SIDE_COLUMNS)


def agreement_table(summary_a: pd.DataFrame, summary_b: pd.DataFrame, roi_pairs: Sequence[tuple[str, str]], *,
                    conditions: Sequence[str] | None = None, n_bootstrap: int = 1000, seed: int = 0,
                    level: float = 0.95, pair_conditions: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The agreement of the conditions' rankings in each pair of corresponding ROIs of two
    datasets, and the conditions' scores side by side.

    ``summary_a``, ``summary_b``: long tables of per-seed scores, columns roi (each
    dataset's own ROI names), condition, seed, score (one row per ROI, condition and
    network; e.g. the group-RDM Spearman rho at the ROI's mapped layer). ``roi_pairs``:
    (roi_a, roi_b) pairs, roi_a an ROI of A and roi_b one of B, e.g. [("V1", "V1"),
    ("IT", "IT")]. ``conditions``: those compared (default: those of A's ROI, in order).

    Returns two tables. The agreement (:data:`AGREEMENT_COLUMNS`), one row per pair in
    order: n_conditions, n_seeds (per condition, the fewest), tau (Kendall tau-b of the
    seed-mean scores) and p_exact (its exact two-sided permutation p) from
    :func:`kendall_tau_exact`, and ci_low, ci_high at ``level`` from
    :func:`seed_bootstrap_tau` with ``n_bootstrap`` draws (its seed derived from
    ``seed`` and the pair's names) and the n_undefined draws left out; with
    ``n_bootstrap=0`` no interval (NaN), e.g. for a run with one seed. The conditions'
    scores (:data:`SIDE_BY_SIDE_COLUMNS`), one row per pair and condition: score_a,
    score_b (means over seeds) and sd_a, sd_b (sample SD over seeds, NaN with one seed).

    Raises ValueError naming a missing column, an ROI absent from its table, a
    condition absent from a dataset's ROI, seeds scored in one dataset only, a repeated
    (roi, condition, seed), no ROI pairs, fewer than 3 conditions, and the errors of
    :func:`seed_bootstrap_tau` and :func:`kendall_tau_exact`.
    """
    _require(summary_a, "summary_a")
    _require(summary_b, "summary_b")
    if not roi_pairs:
        raise ValueError("agreement_table: no ROI pairs")
    rows, sides = [], []
    for roi_a, roi_b in roi_pairs:
        a, b = _roi_scores(summary_a, roi_a, "summary_a"), _roi_scores(summary_b, roi_b, "summary_b")
        paired = _paired_scores(a, b, conditions, sources=(f"summary_a ROI {roi_a}", f"summary_b ROI {roi_b}"))
        if len(paired.conditions) < 3:
            raise ValueError(f"ROI pair ({roi_a}, {roi_b}): {len(paired.conditions)} condition(s); tau needs at "
                             f"least 3")
        tau, p = kendall_tau_exact([v.mean() for v in paired.a], [v.mean() for v in paired.b])
        interval = TauInterval(np.nan, np.nan, 0, 0)
        if n_bootstrap:
            interval = seed_bootstrap_tau(a, b, n_bootstrap=n_bootstrap, level=level, conditions=paired.conditions,
                                          seed=derived_seed(seed, f"rank_agreement:{roi_a}:{roi_b}"),
                                          pair_conditions=pair_conditions)
        rows.append([roi_a, roi_b, len(paired.conditions), min(len(s) for s in paired.seeds), tau, p,
                     interval.ci_low, interval.ci_high, level, interval.n_bootstrap, interval.n_undefined])
        sides.append(_side_by_side(paired, roi_a, roi_b))
    return pd.DataFrame(rows, columns=AGREEMENT_COLUMNS), pd.concat(sides, ignore_index=True)
