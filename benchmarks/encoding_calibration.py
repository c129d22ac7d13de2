"""Calibration of the encoding-model inference: false-positive rates of the condition
difference and coverage of the intervals, on simulated studies with a known truth.

    python benchmarks/encoding_calibration.py                  # every regime (~10-14 min on one core)
    python benchmarks/encoding_calibration.py --quick          # a smoke run (60 studies, ~2 min)
    python benchmarks/encoding_calibration.py --regimes equal none --studies 1000

What is tested: :func:`lrrsa.encoding.inference.encoding_tests`, the workflow's ROI
scores (mean over seeds and subjects of the mean voxel Pearson r over the held-out
images) with ``variance_components`` (jackknife influences of the images into
:func:`lrrsa.rsa.contrasts.contrast_inference_from_influence`) generalising over
``[stimuli]`` or ``[stimuli, seeds]``, and with ``bootstrap`` (percentile, images
resampled, seeds and subjects fixed).

A simulated study has the workflow's design: n held-out images (100, as THINGS-fMRI's
test set), s subjects (3, the same people in every study: fixed voxel weights and noise
levels) with v voxels each (200), 2 conditions x K seeds (5). Images are i.i.d. from a
population: a latent vector ``z`` of 16 brain dimensions and 16 the brain ignores,
``lambda * N(0, I)`` with a lognormal salience ``lambda`` (sd 0.4 on the log scale: some
images stand out). Voxel v of subject j responds ``s = z_brain . b_jv``, observed with
noise ``y = s + sigma_jv e`` (``sigma`` lognormal around 1.2: voxel reliabilities vary).
A network (condition c, seed k) predicts, for subject j's voxel v,

    p = g_ck s + z . u_ckjv + t_m m_jv + t eta_ckjv

``g_ck``: its gain on the true signal (lognormal across seeds with sd ``seed_gain``, the
seed's log gain correlated ``pairing`` with the same seed of the other condition);
``u_ckjv``: the seed's own error in the fitted weights (sd ``distortion``), a fixed
function of the image; ``m_jv = z_other . c_jv``: structure that every network predicts and
the brain lacks; ``eta``: the network's idiosyncratic response to an image, independent
over images (a fixed network's private features on a random image). The inference is
conditional on the fitted weights, so held-out predictions are simulated directly; the
``ridge`` regime instead fits ``fit_ridge_cv`` on 300 training images (25 concepts x 12,
5 inner folds grouped by concept, the workflow's alphas) of 20 features per network,
training set fixed, so the whole chain is checked (fewer studies).

Truth. A score's truth is the expectation of the statistic (mean over seeds and subjects
of the mean voxel r over n images), estimated by Monte Carlo over ``--truth-studies``
independent studies: new images (and observation noise) for the same networks when the
networks are ``fixed`` (drawn once per regime: the estimand of generalising over
stimuli only, "these networks"), new images and new seeds when they are ``random``
(generalising over stimuli and seeds). In the null regimes the two conditions are
identically distributed, so the true difference is exactly 0 (not estimated).

Which inference is judged where: ``[stimuli, seeds]`` in the regimes with random
networks; ``[stimuli]`` and the bootstrap in those with fixed networks (with random seeds
their estimand is the conditional truth of the study's own networks, not the population
one: judging them there would measure the wrong thing). In ``equal``, ``weak`` and
``none`` the networks have no fixed parts (no seed gain, no weight error), so both
estimands coincide and all three are judged (the bootstrap not in ``weak``, for time).
Printed per regime and inference: the rate of p < 0.05 and p < 0.01 of the difference
(false positives in null regimes, power otherwise), the coverage of the 95 % intervals of both scores and of the difference, and
the mean standard error over the standard deviation of the estimate across studies
(1 when the variance is right; for the bootstrap, the interval's half width / 1.96). A
binomial band for a correct test over N studies is printed with the table. The
bootstrap (500 samples, the workflow draws 1000) runs in the first 200 studies of a
regime only: it costs ~10 times the rest.

A last table tells why the jackknife is off where it is: in the regimes judged over
stimuli only, the jackknife se of the difference over its sd across studies, for the
median over voxels (Brain-Score's summary, not tested by the workflow) and for the mean over voxels (the workflow's; a smooth function of the
images' sums), computed side by side in the same studies.
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

from lrrsa.encoding.inference import encoding_tests, mean_r

D_BRAIN, D_OTHER = 16, 16  # latent dimensions the brain encodes / ignores
D = D_BRAIN + D_OTHER
SIGMA = 1.2  # typical observation noise sd of a voxel (signal sd 1)
CONDITIONS = ("b", "a")  # encoding_tests' difference is the later minus the earlier: a - b


@dataclass(frozen=True)
class Regime:
    """How the networks predict (see the module docstring)."""

    description: str
    gain: tuple = (1.0, 1.0)  # (a, b): mean gain on the true signal
    private: float = 1.0  # t: idiosyncratic response, independent over images
    shared: float = 0.5  # t_m: structure every network predicts and the brain lacks
    seed_gain: float = 0.0  # sd of the log gain over seeds
    distortion: float = 0.0  # sd of the seed's per-voxel weight error
    pairing: float = 0.0  # correlation of seed k's log gain between the conditions
    networks: str = "random"  # random: new seeds in every study; fixed: the same networks in every study
    null: bool = True  # the two conditions are identically distributed: true difference 0
    ridge: bool = False  # fit ridge models (fit_ridge_cv) instead of simulating predictions
    inferences: tuple = ("stimuli", "stimuli+seeds", "bootstrap")
    studies: float = 1.0  # share of --studies (the ridge regime is slow)


SEEDED = {"seed_gain": 0.15, "distortion": 0.5, "pairing": 0.5}
REGIMES = {
    "equal": Regime("(a) equal models, only image sampling (no seed differences)"),
    "seeds": Regime("(b) seeds vary (gain and weight error per seed), new seeds in every study",
                    inferences=("stimuli+seeds",), **SEEDED),
    "seeds_fixed": Regime("(b') as (b), the same 2 x 5 networks in every study (conditional truth)",
                          networks="fixed", null=False, inferences=("stimuli", "bootstrap"), **SEEDED),
    "weak": Regime("(c) both conditions weakly predictive (mean r ~0.05)", gain=(0.09, 0.09),
                   inferences=("stimuli", "stimuli+seeds")),
    "none": Regime("(d) neither condition predicts (r = 0)", gain=(0.0, 0.0)),
    "better": Regime("(e) a better by a small amount, seeds vary, new seeds in every study", gain=(1.1, 1.0),
                     null=False, inferences=("stimuli+seeds",), **SEEDED),
    "better_fixed": Regime("(e') as (e), the same networks in every study (conditional truth)", gain=(1.1, 1.0),
                           networks="fixed", null=False, inferences=("stimuli", "bootstrap"), **SEEDED),
    "ridge": Regime("(f) fitted ridge models (300 training images, 20 features per network), new seeds per study",
                    ridge=True, inferences=("stimuli+seeds",), studies=0.25),
}


@dataclass
class Design:
    n: int = 100
    subjects: int = 3
    voxels: int = 200
    seeds: int = 5


class Subjects:
    """The study's subjects, fixed for a regime: voxel weights on the brain dimensions,
    noise levels, and the weights of the structure the brain lacks (shared by every
    network)."""

    def __init__(self, design: Design, seed: int):
        rng = np.random.default_rng([seed, 1])
        shape = (design.subjects, design.voxels)
        self.b = rng.normal(size=(design.subjects, D_BRAIN, design.voxels)) / np.sqrt(D_BRAIN)
        self.c = rng.normal(size=(design.subjects, D_OTHER, design.voxels)) / np.sqrt(D_OTHER)
        self.sigma = SIGMA * np.exp(0.4 * rng.normal(size=shape))


def images(rng, n: int) -> np.ndarray:
    """(n, D) latent vectors of n images drawn from the population."""
    return rng.lognormal(0, 0.4, size=(n, 1)) * rng.normal(size=(n, D))


@dataclass
class Networks:
    """The fixed parts of 2 x K networks: gain (2, K) and weight errors (2, K, s, D, v)."""

    gain: np.ndarray
    error: np.ndarray | None


def draw_networks(rng, regime: Regime, design: Design) -> Networks:
    k = design.seeds
    base = rng.normal(size=k)
    other = regime.pairing * base + np.sqrt(1 - regime.pairing**2) * rng.normal(size=k)
    log_gain = regime.seed_gain * np.stack([other, base])  # rows in CONDITIONS order (b, a)
    gain = np.array([regime.gain[1], regime.gain[0]])[:, None] * np.exp(log_gain)
    error = None
    if regime.distortion:
        error = regime.distortion / np.sqrt(D) * rng.normal(size=(2, k, design.subjects, D, design.voxels))
    return Networks(gain, error)


def simulate(rng, regime: Regime, design: Design, subjects: Subjects, networks: Networks) -> dict:
    """One study's held-out fits: (condition, seed, subject) -> (prediction, observed, 1.0)."""
    z = images(rng, design.n)
    fits = {}
    for j in range(design.subjects):
        signal = z[:, :D_BRAIN] @ subjects.b[j]
        observed = signal + subjects.sigma[j] * rng.normal(size=signal.shape)
        common = regime.shared * (z[:, D_BRAIN:] @ subjects.c[j])
        for c, cond in enumerate(CONDITIONS):
            for k in range(design.seeds):
                p = networks.gain[c, k] * signal + common + regime.private * rng.normal(size=signal.shape)
                if networks.error is not None:
                    p += z @ networks.error[c, k, j]
                fits[(cond, k, str(j))] = (p, observed, 1.0)
    return fits


# --- the ridge regime: fitted models --------------------------------------------------------

RIDGE_TRAIN, RIDGE_CONCEPTS, RIDGE_FEATURES = 300, 25, 20


class TrainingSet:
    """The fitted images (25 concepts x 12: images of a concept share half their latent
    vector) and every subject's single-trial responses to them, fixed for the regime."""

    def __init__(self, design: Design, subjects: Subjects, seed: int):
        rng = np.random.default_rng([seed, 2])
        per = RIDGE_TRAIN // RIDGE_CONCEPTS
        centre = np.repeat(rng.normal(size=(RIDGE_CONCEPTS, D)), per, axis=0)
        self.z = rng.lognormal(0, 0.4, size=(RIDGE_TRAIN, 1)) * np.sqrt(0.5) * (centre + rng.normal(size=centre.shape))
        self.concepts = np.repeat(np.arange(RIDGE_CONCEPTS), per).astype(str)
        signal = np.einsum("nd,sdv->nsv", self.z[:, :D_BRAIN], subjects.b)
        noise = 2 * subjects.sigma[None] * rng.normal(size=signal.shape)  # single trials: noisier than test means
        self.y = (signal + noise).reshape(RIDGE_TRAIN, -1)  # (n_train, s * v)


def simulate_ridge(rng, regime: Regime, design: Design, subjects: Subjects, train: TrainingSet) -> dict:
    """One study with fitted models: every network (new seed) gets features
    ``z A_ck + private noise`` (A_ck random, 20 features), fitted to the training set and
    scored on n new images."""
    from lrrsa.encoding.protocols import inner_folds
    from lrrsa.encoding.ridge import alpha_grid, fit_ridge_cv

    z = images(rng, design.n)
    signal = np.einsum("nd,sdv->snv", z[:, :D_BRAIN], subjects.b)
    observed = signal + subjects.sigma[:, None, :] * rng.normal(size=signal.shape)
    splits = inner_folds(train.concepts, 5)
    fits = {}
    for cond in CONDITIONS:
        for k in range(design.seeds):
            mixing = rng.normal(size=(D, RIDGE_FEATURES)) / np.sqrt(D)
            x_fit = train.z @ mixing + regime.private * rng.normal(size=(RIDGE_TRAIN, RIDGE_FEATURES))
            x_test = z @ mixing + regime.private * rng.normal(size=(design.n, RIDGE_FEATURES))
            fit = fit_ridge_cv(x_fit, train.y, x_test, alphas=alpha_grid(-1, 7, 17), splits=splits)
            prediction = fit.prediction.reshape(design.n, design.subjects, design.voxels)
            for j in range(design.subjects):
                fits[(cond, k, str(j))] = (prediction[:, j], observed[j], 1.0)
    return fits


# --- studies, truth, tallies ----------------------------------------------------------------

class World:
    """Everything fixed for a regime, and a study generator."""

    def __init__(self, regime: Regime, design: Design, seed: int):
        self.regime, self.design = regime, design
        self.subjects = Subjects(design, seed)
        self.fixed = draw_networks(np.random.default_rng([seed, 3]), regime, design) \
            if regime.networks == "fixed" else None
        self.train = TrainingSet(design, self.subjects, seed) if regime.ridge else None

    def study(self, rng) -> dict:
        if self.regime.ridge:
            return simulate_ridge(rng, self.regime, self.design, self.subjects, self.train)
        networks = self.fixed or draw_networks(rng, self.regime, self.design)
        return simulate(rng, self.regime, self.design, self.subjects, networks)


def scores(fits: dict, design: Design) -> np.ndarray:
    """(2,) condition scores in (a, b) order: mean over seeds and subjects of the mean voxel r."""
    return np.array([np.mean([mean_r(*fits[(cond, k, str(j))][:2]) for k in range(design.seeds)
                              for j in range(design.subjects)]) for cond in ("a", "b")])


def truth(world: World, studies: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Monte Carlo truth (a, b, a - b) and its Monte Carlo standard error."""
    rng = np.random.default_rng([seed, 4])
    values = np.array([scores(world.study(rng), world.design) for _ in range(studies)])
    values = np.column_stack([values, values[:, 0] - values[:, 1]])
    out = values.mean(axis=0)
    if world.regime.null:
        out[2] = 0.0  # exact: the conditions are identically distributed
    return out, values.std(axis=0, ddof=1) / np.sqrt(studies)


def _loo_r(prediction: np.ndarray, observed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-voxel r (v,) and r with each image left out (n, v)."""
    x = prediction - prediction.mean(0)
    y = observed - observed.mean(0)
    sxy, sxx, syy = (x * y).sum(0), (x * x).sum(0), (y * y).sum(0)
    m = x.shape[0] - 1  # without image i the sums of x and y are -x_i and -y_i
    num = m * (sxy - x * y) - x * y
    den = np.sqrt((m * (sxx - x * x) - x * x) * (m * (syy - y * y) - y * y))
    return sxy / np.sqrt(sxx * syy), num / den


def jackknife_check(fits: dict, design: Design) -> np.ndarray:
    """(2, 2): for the median over voxels and the mean over voxels (the workflow's), the
    a - b difference and its leave-one-image-out jackknife se (seeds and subjects fixed)."""
    out = np.zeros((2, 2))
    for row, reduce in enumerate((np.median, np.mean)):
        estimate, influence = 0.0, 0.0
        for sign, cond in ((1, "a"), (-1, "b")):
            for k in range(design.seeds):
                for j in range(design.subjects):
                    full, loo = _loo_r(*fits[(cond, k, str(j))][:2])
                    theta = reduce(loo, axis=1)
                    estimate += sign * reduce(full)
                    influence = influence + sign * (theta.size - 1) * (theta.mean() - theta)
        m = design.seeds * design.subjects
        n = influence.size
        out[row] = estimate / m, np.sqrt((influence**2).sum() / (n * (n - 1))) / m
    return out


@dataclass
class Tally:
    """Per study: (a, b, a - b) estimates, interval bounds and p."""

    estimate: list = field(default_factory=list)
    low: list = field(default_factory=list)
    high: list = field(default_factory=list)
    se: list = field(default_factory=list)
    p: list = field(default_factory=list)

    def add(self, table, bootstrap: bool) -> None:
        score = table[table["test"] == "score"].set_index("condition").loc[["a", "b"]]
        diff = table[table["test"] == "difference"].iloc[0]
        assert (diff["condition"], diff["condition_b"]) == ("a", "b")
        rows = [score.loc["a"], score.loc["b"], diff]
        self.estimate.append([r["estimate"] for r in rows])
        self.low.append([r["ci_low"] for r in rows])
        self.high.append([r["ci_high"] for r in rows])
        self.p.append([r["p"] for r in rows])
        self.se.append([(r["ci_high"] - r["ci_low"]) / (2 * 1.96) if bootstrap else r["se"] for r in rows])

    def summary(self, target: np.ndarray) -> dict:
        est, low, high = np.array(self.estimate), np.array(self.low), np.array(self.high)
        p = np.array(self.p)
        return {"coverage": ((low <= target) & (target <= high)).mean(axis=0),
                "p05": (p < 0.05).mean(axis=0), "p01": (p < 0.01).mean(axis=0),
                "se_ratio": np.nanmean(np.array(self.se), axis=0) / est.std(axis=0, ddof=1),
                "studies": len(p)}


def run_regime(name: str, args) -> dict:
    regime = REGIMES[name]
    design = Design(args.stimuli, args.subjects, args.voxels, args.seeds)
    world = World(regime, design, args.seed)
    started = time.perf_counter()
    truth_studies = max(20, int(args.truth_studies * (args.ridge_truth if regime.ridge else 1)))
    target, mc_se = truth(world, truth_studies, args.seed)
    truth_s = time.perf_counter() - started
    n_studies = max(10, round(args.studies * regime.studies))
    tallies = {inf: Tally() for inf in regime.inferences}
    checks = []
    rng = np.random.default_rng([args.seed, 5])
    conditions, subjects = list(CONDITIONS), [str(j) for j in range(design.subjects)]
    for i in range(n_studies):
        fits = world.study(rng)
        for inf, tally in tallies.items():
            if inf == "bootstrap" and i >= args.bootstrap_studies:
                continue
            kw = {"inference": "bootstrap", "n_bootstrap": args.bootstrap, "seed": i} if inf == "bootstrap" else \
                {"inference": "variance_components", "generalise_over": inf.split("+")}
            table = encoding_tests("roi", "layer", fits, conditions=conditions, seeds=list(range(design.seeds)),
                                   subjects=subjects, **kw)
            tally.add(table, inf == "bootstrap")
        if "stimuli" in regime.inferences:  # the stimulus-only estimand: the sd over studies is the comparator
            checks.append(jackknife_check(fits, design))
        if args.progress and (i + 1) % args.progress == 0:
            print(f"  {name}: {i + 1}/{n_studies} studies ({time.perf_counter() - started:.0f} s)", flush=True)
    return {"regime": name, "target": target, "mc_se": mc_se, "truth_studies": truth_studies,
            "results": {inf: t.summary(target) for inf, t in tallies.items()}, "checks": np.array(checks),
            "seconds": time.perf_counter() - started, "truth_seconds": truth_s}


def band(studies: int, rate: float = 0.05) -> tuple[float, float]:
    lo, hi = stats.binom.ppf([0.025, 0.975], studies, rate) / studies
    return float(lo), float(hi)


LABEL = {"stimuli": "vc [stimuli]", "stimuli+seeds": "vc [stimuli, seeds]", "bootstrap": "bootstrap (percentile)"}


def print_row(out: dict, inf: str) -> None:
    regime, r = REGIMES[out["regime"]], out["results"][inf]
    # Against 0: a false-positive rate in null regimes, power where a differs; not meaningful
    # for fixed networks of a null design (their own conditional difference is not 0).
    rate = "-" if regime.networks == "fixed" and regime.gain[0] == regime.gain[1] else None
    p05 = rate or f"{r['p05'][2]:.3f}"
    p01 = rate or f"{r['p01'][2]:.3f}"
    print(f"| {out['regime']} | {regime.networks} | {LABEL[inf]} | {r['studies']} | "
          + ", ".join(f"{t:.4f}" for t in out["target"]) + f" | {p05} | {p01} | "
          + ", ".join(f"{c:.3f}" for c in r["coverage"]) + " | "
          + ", ".join(f"{c:.2f}" for c in r["se_ratio"]) + " |", flush=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--regimes", nargs="+", default=list(REGIMES), choices=list(REGIMES))
    parser.add_argument("--studies", type=int, default=400, help="studies per regime (the ridge regime: a quarter)")
    parser.add_argument("--stimuli", type=int, default=100, help="held-out images per study")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--subjects", type=int, default=3)
    parser.add_argument("--voxels", type=int, default=200, help="voxels per subject")
    parser.add_argument("--truth-studies", type=int, default=1000, help="Monte Carlo studies for each truth")
    parser.add_argument("--ridge-truth", type=float, default=0.04, help="share of --truth-studies for ridge")
    parser.add_argument("--bootstrap", type=int, default=500, help="bootstrap samples per study (workflow: 1000)")
    parser.add_argument("--bootstrap-studies", type=int, default=200,
                        help="studies per regime that also run the bootstrap (its cost dominates)")
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads")
    parser.add_argument("--quick", action="store_true", help="60 studies, 300 truth studies, 200 bootstrap samples")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--progress", type=int, default=0, help="print progress every N studies")
    args = parser.parse_args(argv)
    if args.quick:
        args.studies, args.truth_studies, args.bootstrap, args.bootstrap_studies = 60, 300, 200, 60
    from threadpoolctl import threadpool_limits

    threadpool_limits(args.threads)
    lo, hi = band(args.studies)
    print(f"Encoding inference, n = {args.stimuli} held-out images, {args.seeds} seeds x 2 conditions, "
          f"{args.subjects} fixed subjects x {args.voxels} voxels; {args.studies} studies per regime (ridge: "
          f"{round(args.studies * REGIMES['ridge'].studies)}); truth by Monte Carlo over {args.truth_studies} "
          f"studies (ridge: {max(20, int(args.truth_studies * args.ridge_truth))}); bootstrap {args.bootstrap} "
          f"samples in the first {args.bootstrap_studies} studies of a regime. A correct 0.05 test rejects in [{lo:.3f}, {hi:.3f}] of {args.studies} null studies and a "
          f"correct 95 % interval covers in [{1 - band(args.studies)[1]:.3f}, {1 - band(args.studies)[0]:.3f}] "
          f"(95 % binomial bands).\n")
    for name in args.regimes:
        print(f"- {name}: {REGIMES[name].description}")
    print("\n| regime | networks | inference | studies | truth (a, b, a - b) | p<.05 (a - b) | p<.01 (a - b) "
          "| coverage (a, b, a - b) | mean se / sd (a, b, a - b) |")
    print("|---" * 9 + "|", flush=True)
    outs = []
    for name in args.regimes:
        out = run_regime(name, args)
        outs.append(out)
        for inf in out["results"]:
            print_row(out, inf)
    print("\nMonte Carlo standard error of the truths (a, b, a - b) and time per regime:")
    for out in outs:
        print(f"  {out['regime']}: " + ", ".join(f"{s:.5f}" for s in out["mc_se"])
              + f" ({out['truth_studies']} studies); {out['seconds']:.0f} s (truth {out['truth_seconds']:.0f} s)")
    checked = [o for o in outs if o["checks"].size]
    if checked:
        print("\nWhy (jackknife of the a - b difference, images only; seeds and subjects fixed): mean jackknife se / "
              "sd of the estimate over studies, with the median over voxels and with the mean over voxels (the workflow's) "
              "instead (a smooth function of the images' sums)")
        print("| regime | studies | median over voxels: sd, mean se, ratio | mean over voxels: sd, mean se, ratio |")
        print("|---|---|---|---|")
        for out in checked:
            c = out["checks"]  # (studies, 2 reductions, (estimate, se))
            cells = [f"{c[:, r, 0].std(ddof=1):.4f}, {c[:, r, 1].mean():.4f}, "
                     f"{c[:, r, 1].mean() / c[:, r, 0].std(ddof=1):.2f}" for r in (0, 1)]
            print(f"| {out['regime']} | {len(c)} | {cells[0]} | {cells[1]} |")
    zero = [o for o in outs if REGIMES[o["regime"]].gain == (0.0, 0.0)]
    for out in zero:
        print(f"\nScore tests (H0: score = 0, true here) in {out['regime']}: rate of p < 0.05 (a, b): "
              + "; ".join(f"{LABEL[inf]} {r['p05'][0]:.3f}, {r['p05'][1]:.3f}" for inf, r in out["results"].items()))


if __name__ == "__main__":
    main()
