"""Calibration of the cross-dataset rank agreement (:mod:`lrrsa.stats.rank_agreement`):
coverage of the seed-bootstrap interval of Kendall's tau-b and the rejection rate of its
exact permutation test, on simulated studies with a known truth.

    python benchmarks/rank_agreement_calibration.py               # every regime (~2 min on one core)
    python benchmarks/rank_agreement_calibration.py --studies 200 # a smoke run
    python benchmarks/rank_agreement_calibration.py --regimes close it --seeds 10

A simulated study has the follow-up study's design: 5 conditions x K seeds (5), every
network scored in two datasets A and B. Network (condition c, seed k) scores

    score_A = mu_A[c] + sqrt(w) lambda_c g_A[k] + sqrt(1 - w) e_A[c, k]

and alike in B, in units of the seed SD. ``g[k]``: the initialisation shared by seed k
of every condition (``docs/STATISTICS.md``), loaded ``lambda_c`` by condition (1 for the
untrained network, less the further training moves the weights); ``e``: the network's
own deviation. A network is measured twice, so (g_A, g_B) and (e_A, e_B) correlate
``rho``. The truth is tau-b of the true means (mu_A, mu_B); adjacent true means are
``spacing`` seed SDs apart (the SE of a difference of two 5-seed means is 0.63 SD).

Printed per regime: the truth, the mean of the sample tau over studies, how often the
sample tau equals the truth, the coverage and mean width of the 95 % percentile
interval with seeds resampled jointly across conditions (``pair_conditions=True``, the
library's default) and per condition (``False``), and the rate of exact p < 0.05. In
the ``null`` regimes the true means are all equal (tau undefined, no coverage): the
rate of p < 0.05 is the false-positive rate. With 5 conditions p < 0.05 only at
tau = +-1, whose exact null probability is 2/120 = 0.017.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow" / "scripts"))

from lrrsa.stats.rank_agreement import kendall_tau_b, kendall_tau_exact, seed_bootstrap_tau  # noqa: E402

CONDITIONS = ["untrained", "bp", "fa", "pc", "stdp"]
LOADINGS = np.array([1.0, 0.3, 0.5, 0.8, 0.9])  # on the shared initialisation, per condition
PERMUTED = np.array([1, 0, 2, 4, 3])  # B's order of A's means: tau_b = 0.6
UNRELATED = np.array([0, 3, 4, 2, 1])  # tau_b = 0 (the follow-up study's IT)


@dataclass(frozen=True)
class Regime:
    spacing: float  # adjacent true means, in seed SDs
    order_b: np.ndarray  # ranks of B's true means
    rho: float = 0.5  # correlation of a network's deviations in A and in B
    shared_init: float = 0.0  # share of the seed variance from the shared initialisation

    def means(self) -> tuple[np.ndarray, np.ndarray]:
        a = self.spacing * np.arange(len(CONDITIONS), dtype=float)
        return a, self.spacing * self.order_b.astype(float)


REGIMES = {
    "separated": Regime(2.0, PERMUTED),
    "moderate": Regime(1.0, PERMUTED),
    "close": Regime(0.3, PERMUTED),
    "agree": Regime(1.0, np.arange(5)),
    "agree_close": Regime(0.3, np.arange(5)),
    "it": Regime(0.5, UNRELATED),
    "shared_init": Regime(0.5, PERMUTED, shared_init=0.7),
    "null": Regime(0.0, np.arange(5), rho=0.0),
    "null_paired": Regime(0.0, np.arange(5), rho=0.8),
}


def correlated(rng: np.random.Generator, rho: float, size) -> tuple[np.ndarray, np.ndarray]:
    """Two standard normal arrays with correlation rho."""
    u, v = rng.standard_normal(size), rng.standard_normal(size)
    return u, rho * u + np.sqrt(1 - rho**2) * v


def study(rng: np.random.Generator, regime: Regime, n_seeds: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One simulated study: the per-seed score tables of datasets A and B."""
    mu_a, mu_b = regime.means()
    g_a, g_b = correlated(rng, regime.rho, n_seeds)
    e_a, e_b = correlated(rng, regime.rho, (len(CONDITIONS), n_seeds))
    w = regime.shared_init
    tables = []
    for mu, g, e in ((mu_a, g_a, e_a), (mu_b, g_b, e_b)):
        score = mu[:, None] + np.sqrt(w) * LOADINGS[:, None] * g[None, :] + np.sqrt(1 - w) * e
        tables.append(pd.DataFrame({"condition": np.repeat(CONDITIONS, n_seeds),
                                    "seed": np.tile(np.arange(n_seeds), len(CONDITIONS)), "score": score.ravel()}))
    return tables[0], tables[1]


def run_regime(regime: Regime, args, rng: np.random.Generator) -> dict:
    truth = float(kendall_tau_b(*regime.means()))
    sample, hits, p, cover, width = [], [], [], {True: [], False: []}, {True: [], False: []}
    for _ in range(args.studies):
        a, b = study(rng, regime, args.seeds)
        tau, p_exact = kendall_tau_exact(a.groupby("condition", sort=False)["score"].mean(),
                                         b.groupby("condition", sort=False)["score"].mean())
        sample.append(tau)
        hits.append(np.isclose(tau, truth))
        p.append(p_exact)
        if np.isnan(truth):
            continue
        for paired in (True, False):
            ci = seed_bootstrap_tau(a, b, n_bootstrap=args.bootstrap, seed=int(rng.integers(2**32)),
                                    pair_conditions=paired)
            cover[paired].append(ci.ci_low - 1e-9 <= truth <= ci.ci_high + 1e-9)
            width[paired].append(ci.ci_high - ci.ci_low)
    return {"truth": truth, "mean_tau": float(np.nanmean(sample)), "hit": mean(hits),
            "cover_joint": mean(cover[True]), "width_joint": mean(width[True]),
            "cover_per_condition": mean(cover[False]), "width_per_condition": mean(width[False]),
            "p05": float(np.mean(np.asarray(p) < 0.05))}


def mean(values: list) -> float:
    return float(np.mean(values)) if values else np.nan


def band(studies: int, rate: float) -> tuple[float, float]:
    lo, hi = stats.binom.ppf([0.025, 0.975], studies, rate) / studies
    return float(lo), float(hi)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--regimes", nargs="+", default=list(REGIMES), choices=list(REGIMES))
    parser.add_argument("--studies", type=int, default=1000)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    lo, hi = band(args.studies, 0.95)
    print(f"{args.studies} studies per regime, 5 conditions x {args.seeds} seeds, {args.bootstrap} bootstrap draws; "
          f"a correct 95 % interval covers in [{lo:.3f}, {hi:.3f}] of studies (95 % binomial band)")
    print("| regime | spacing (SD) | rho | shared init | true tau | mean tau | P(tau = truth) | coverage joint "
          "(width) | coverage per condition (width) | exact p < .05 |")
    print("|---" * 10 + "|")
    for name in args.regimes:
        regime, started = REGIMES[name], time.perf_counter()
        r = run_regime(regime, args, rng)
        print(f"| {name} | {regime.spacing:g} | {regime.rho:g} | {regime.shared_init:g} | {r['truth']:.2f} | "
              f"{r['mean_tau']:.2f} | {r['hit']:.3f} | {r['cover_joint']:.3f} ({r['width_joint']:.2f}) | "
              f"{r['cover_per_condition']:.3f} ({r['width_per_condition']:.2f}) | {r['p05']:.3f} |", flush=True)
        print(f"  ({time.perf_counter() - started:.0f} s)", file=sys.stderr)


if __name__ == "__main__":
    main()
