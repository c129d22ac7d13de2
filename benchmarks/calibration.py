"""Calibration of the condition comparisons: false-positive rates, interval coverage and
power on simulated studies with a known truth, for the workflow's test and the old one.

    python benchmarks/calibration.py                      # every regime, 400 studies each
    python benchmarks/calibration.py --studies 100 --regimes null workflow

Each simulated study has the workflow's design: n stimuli, 2 conditions x K seeds of a
network, s subjects whose RDMs are averaged into the group RDM. What is known:

- Stimuli: each has feature blocks A, B (what the brain encodes) and S (what it does
  not), ``x_F = lambda_F z_F`` with ``z_F ~ N(0, I_8)`` and a per-stimulus lognormal
  salience ``lambda_F`` (some stimuli stand out, as in real RDMs).
- Subjects (fixed for a regime, as the study's three people): voxel patterns
  ``x_A W_j + x_B W_j P + noise``, with ``W_j`` the subject's own random voxel mixing and
  ``P`` a voxel permutation that is its own inverse, so A and B play exactly symmetric
  roles for every subject; fresh trial noise in every study. RDM: 1 - Pearson r.
- Networks: seed k of condition c has units ``relu([a_cF e_k x_F, eta_k] V_k)``: the
  condition's weights a_cF on the feature blocks, the seed's own random mixing V_k,
  its own private features eta_k (network-instance noise) and a lognormal gain e_k per
  block (seed-to-seed differences in what the network emphasises).

Regimes: the two conditions are identically distributed (or exchangeable under A <-> B)
in every null regime, so their true difference is exactly 0; the planted regimes scale
condition a's brain-feature weights until the true difference (estimated by Monte
Carlo) is 0.02 or 0.05 in rho. ``pretrained``: b is one fixed network in every seed and
study (a pretrained reference, whose seeds are copies: no seed variance), a a trained
condition whose brain weights are scaled until the two score the same in truth. A score's truth is its expectation over studies.
Printed per regime: the rate of p < 0.05 and p < 0.01 for the difference, the coverage of
95 % intervals of both scores and of the difference, for the workflow's procedure
(:func:`lrrsa.rsa.contrasts.contrast_inference`, generalising over stimuli and seeds)
and, beside it in the same studies, the old ones: the Mantel test of the difference
(brain stimulus labels permuted, models fixed) and the stimulus bootstrap (BCa).
A binomial band for a correct 0.05 test over N studies is printed with the table.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import stats

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow" / "scripts"))

from lrrsa.rsa.bootstrap import bootstrap_ci  # noqa: E402
from lrrsa.rsa.contrasts import contrast_inference  # noqa: E402
from lrrsa.rsa.permutation import permutation_test  # noqa: E402

DIM = 8  # dimensions per feature block
VOXELS = 60
UNITS = 64


@dataclass(frozen=True)
class Regime:
    """Condition weights on the feature blocks, and the model's noise."""

    description: str
    a: dict
    b: dict
    private: float = 1.0  # network-instance features (seed x stimulus noise)
    seed_gain: float = 0.0  # sd of log gain per seed and block (seed x feature)
    planted: float = 0.0  # target true difference (rho_a - rho_b); 0 = a null regime
    extra: dict = field(default_factory=dict)
    fixed_b: bool = False  # b is one network for every seed and study (a pretrained reference)


REGIMES = {
    "null": Regime("neither model relates to the brain", {"S": 1}, {"S": 1}),
    "independent": Regime("equal, non-zero, independent model noise", {"A": 1, "B": 1}, {"A": 1, "B": 1},
                          private=1.5),
    "shared_nonbrain": Regime("equal, non-zero, models share structure the brain lacks",
                              {"A": 1, "B": 1, "S": 1.5}, {"A": 1, "B": 1, "S": 1.5}),
    "different_features": Regime("equal, non-zero, models driven by different brain features",
                                 {"A": 1, "S": 0.5}, {"B": 1, "S": 0.5}),
    "workflow": Regime("as the workflow runs it (2 conditions x 5 seeds, 3 subjects, n = 100)",
                       {"A": 1, "B": 0.5, "S": 1}, {"A": 0.5, "B": 1, "S": 1}, seed_gain=0.3),
    "seed_variability": Regime("seed-to-seed variability of the study's size (seed sd of rho ~0.02)",
                               {"A": 1, "B": 1, "S": 1}, {"A": 1, "B": 1, "S": 1}, private=2.0, seed_gain=0.8),
    "pretrained": Regime("equal, non-zero, b one fixed network (a pretrained reference: no seed variance)",
                         {"A": 1, "B": 1, "S": 1}, {"A": 1, "B": 1, "S": 1}, seed_gain=0.3, fixed_b=True),
    "power_0.02": Regime("planted difference 0.02", {"A": 1, "B": 1, "S": 1}, {"A": 1, "B": 1, "S": 1},
                         seed_gain=0.3, planted=0.02),
    "power_0.05": Regime("planted difference 0.05", {"A": 1, "B": 1, "S": 1}, {"A": 1, "B": 1, "S": 1},
                         seed_gain=0.3, planted=0.05),
}


def correlation_rdm(patterns: np.ndarray) -> np.ndarray:
    x = patterns - patterns.mean(axis=1, keepdims=True)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return 1 - x @ x.T


class Subjects:
    """The study's subjects: fixed voxel mixings, fresh trial noise per study. With
    ``random``, a new sample of subjects in every study instead: each with its own
    mixing and its own lognormal gain per feature block (sd ``gain``), so subjects
    differ in what they emphasise (a subject x condition interaction)."""

    def __init__(self, n_subjects: int, noise: float, seed: int = 2026, random: bool = False, gain: float = 0.3):
        rng = np.random.default_rng(seed)
        self.n = n_subjects
        self.mixing = [rng.normal(size=(DIM, VOXELS)) for _ in range(n_subjects)]
        self.noise, self.random, self.gain = noise, random, gain

    def rdms(self, rng: np.random.Generator, x: dict) -> np.ndarray:
        out = []
        for j in range(self.n):
            w = rng.normal(size=(DIM, VOXELS)) if self.random else self.mixing[j]
            gain_a, gain_b = np.exp(self.gain * rng.normal(size=2)) if self.random else (1.0, 1.0)
            swapped = np.roll(w, VOXELS // 2, axis=1)  # the same voxels, halves exchanged: its own inverse
            patterns = gain_a * x["A"] @ w + gain_b * x["B"] @ swapped
            patterns += self.noise * np.sqrt(2 * DIM) * rng.normal(size=patterns.shape)
            out.append(correlation_rdm(patterns))
        return np.array(out)


#: The seed of the one network a fixed condition is (its weights: the same in every study).
FIXED_NETWORK_SEED = 4242


def network_rdms(rng: np.random.Generator, x: dict, weights: dict, regime: Regime, n_seeds: int,
                 fixed: bool = False) -> np.ndarray:
    """(n_seeds, n, n) RDMs of a condition's networks. ``fixed``: one network, whose gains
    and unit mixing are drawn once (FIXED_NETWORK_SEED), shown the study's stimuli (its
    private features are a function of the stimulus: drawn with them), as every seed."""
    n = x["A"].shape[0]
    out = []
    for _ in range(1 if fixed else n_seeds):
        weights_rng = np.random.default_rng(FIXED_NETWORK_SEED) if fixed else rng
        gains = {f: np.exp(regime.seed_gain * weights_rng.normal()) for f in weights}
        blocks = [w * gains[f] * x[f] for f, w in weights.items() if w]
        blocks.append(regime.private * rng.normal(size=(n, DIM)))
        z = np.hstack(blocks)
        units = np.maximum(z @ weights_rng.normal(size=(z.shape[1], UNITS)), 0) + 1e-3 * rng.normal(size=(n, UNITS))
        out.append(correlation_rdm(units))
    return np.array(out * n_seeds if fixed else out)


def study(rng, regime: Regime, subjects: Subjects, n: int, n_seeds: int, boost: float = 0.0):
    """(models (2, K, n, n), subject RDMs (s, n, n)) of one simulated study."""
    x = {f: rng.lognormal(0, 0.4, size=(n, 1)) * rng.normal(size=(n, DIM)) for f in "ABS"}
    brain = subjects.rdms(rng, x)
    a = {f: w * (1 + boost) if f in "AB" else w for f, w in regime.a.items()}
    models = np.stack([network_rdms(rng, x, a, regime, n_seeds),
                       network_rdms(rng, x, regime.b, regime, n_seeds, fixed=regime.fixed_b)])
    return models, brain


def scores(models: np.ndarray, brain: np.ndarray) -> np.ndarray:
    """(2,) seed-mean Spearman scores against the group RDM."""
    iu = np.triu_indices(brain.shape[1], k=1)
    g = stats.rankdata(brain.mean(axis=0)[iu])
    return np.array([[stats.spearmanr(m[iu], g).statistic for m in cond] for cond in models]).mean(axis=1)


def truth(regime, subjects, n, n_seeds, studies, seed, boost=0.0) -> np.ndarray:
    """Monte Carlo expectation of the two scores (independent studies)."""
    rng = np.random.default_rng(seed)
    return np.mean([scores(*study(rng, regime, subjects, n, n_seeds, boost)) for _ in range(studies)], axis=0)


def planted_boost(regime, subjects, n, n_seeds, studies, seed) -> float:
    """The boost of condition a's brain weights whose true difference is regime.planted
    (bisection on Monte Carlo estimates with common random numbers)."""
    lo, hi = (-0.9, 2.0) if regime.fixed_b else (0.0, 2.0)  # a fixed b may score above or below a
    for _ in range(12):
        mid = (lo + hi) / 2
        diff = np.subtract(*truth(regime, subjects, n, n_seeds, studies, seed, mid))
        lo, hi = (mid, hi) if diff < regime.planted else (lo, mid)
    return (lo + hi) / 2


@dataclass
class Tally:
    covered: list = field(default_factory=list)  # per study: [score a, score b, difference]
    p: list = field(default_factory=list)  # per study: p of the difference

    def summary(self):
        cov = np.mean(self.covered, axis=0)
        p = np.asarray(self.p)
        return cov, float(np.mean(p < 0.05)), float(np.mean(p < 0.01))


def run_regime(name: str, args) -> dict:
    regime = REGIMES[name]
    subjects = Subjects(args.subjects, args.noise, random=args.random_subjects)
    # A fixed network's score is its own, not the condition's expectation: a's brain weights
    # are scaled until the two are equal in truth (planted 0), which makes it a null regime.
    boost = planted_boost(regime, subjects, args.stimuli, args.seeds, args.truth_studies // 4, args.seed + 1) \
        if regime.planted or regime.fixed_b else 0.0
    true = truth(regime, subjects, args.stimuli, args.seeds, args.truth_studies, args.seed + 2, boost)
    target = np.array([true[0], true[1], regime.planted if regime.planted else 0.0])
    if regime.planted or regime.fixed_b:
        target[2] = true[0] - true[1]
    rng = np.random.default_rng(args.seed)
    new, old = Tally(), Tally()
    contrasts = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, -1.0]])
    started = time.perf_counter()
    for i in range(args.studies):
        models, brain = study(rng, regime, subjects, args.stimuli, args.seeds, boost)
        result = contrast_inference(models, brain, contrasts, factors=args.generalise_over)
        new.covered.append((result.low <= target) & (target <= result.high))
        new.p.append(result.p[2])
        if args.old:
            flat = models.reshape(-1, *models.shape[2:])
            group = brain.mean(axis=0)
            means = np.kron(np.eye(2), np.full((1, args.seeds), 1 / args.seeds))
            mantel = permutation_test(flat, group, args.permutations, seed=i, threads=1).combine(means)
            boot = bootstrap_ci(flat, group, n_bootstrap=args.bootstrap, seed=i, threads=1,
                                contrasts=np.vstack([means, means[0] - means[1]]))
            old.covered.append((boot.low <= target) & (target <= boot.high))
            old.p.append(mantel.p_diff[0, 1])
        if args.progress and (i + 1) % args.progress == 0:
            print(f"  {name}: {i + 1}/{args.studies} studies ({time.perf_counter() - started:.0f} s)", flush=True)
    return {"regime": name, "target": target, "new": new.summary(), "old": old.summary() if args.old else None}


def band(studies: int, rate: float = 0.05) -> tuple[float, float]:
    lo, hi = stats.binom.ppf([0.025, 0.975], studies, rate) / studies
    return float(lo), float(hi)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--regimes", nargs="+", default=list(REGIMES), choices=list(REGIMES))
    parser.add_argument("--studies", type=int, default=400)
    parser.add_argument("--stimuli", type=int, default=100)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--subjects", type=int, default=3)
    parser.add_argument("--noise", type=float, default=3.0, help="trial noise of the voxel patterns")
    parser.add_argument("--random-subjects", action="store_true",
                        help="draw new subjects in every study (default: the same subjects, new trials)")
    parser.add_argument("--generalise-over", nargs="+", default=["stimuli", "seeds"],
                        choices=["stimuli", "subjects", "seeds"], help="factors of the workflow's inference")
    parser.add_argument("--truth-studies", type=int, default=2000)
    parser.add_argument("--permutations", type=int, default=999)
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--no-old", dest="old", action="store_false", help="skip the old tests")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--progress", type=int, default=0)
    args = parser.parse_args(argv)
    lo, hi = band(args.studies)
    print(f"{args.studies} studies per regime, n = {args.stimuli} stimuli, {args.seeds} seeds, {args.subjects} "
          f"{'random' if args.random_subjects else 'fixed'} subjects; inference over "
          f"{' + '.join(args.generalise_over)}; a correct 0.05 test rejects in [{lo:.3f}, {hi:.3f}] of null studies (95 % binomial band); "
          f"coverage of a correct 95 % interval in [{1 - band(args.studies, 0.05)[1]:.3f}, "
          f"{1 - band(args.studies, 0.05)[0]:.3f}]")
    header = "| regime | truth (a, b, a - b) | p<.05 new | p<.01 new | p<.05 old | p<.01 old | coverage new (a, b, a-b) | coverage old (a, b, a-b) |"
    print(header)
    print("|---" * 8 + "|")
    for name in args.regimes:
        out = run_regime(name, args)
        (cov, p05, p01), old = out["new"], out["old"]
        print(f"| {name} | " + ", ".join(f"{t:.3f}" for t in out["target"]) + f" | {p05:.3f} | {p01:.3f} | "
              + (f"{old[1]:.3f} | {old[2]:.3f} | " if old else "- | - | ") + ", ".join(f"{c:.3f}" for c in cov)
              + " | " + (", ".join(f"{c:.3f}" for c in old[0]) if old else "-") + " |", flush=True)


if __name__ == "__main__":
    main()
