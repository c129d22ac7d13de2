"""Speed of the RSA statistics engine against a scipy loop and rsatoolbox.

    python benchmarks/rsa_speed.py                  # n = 720, 10,000 permutations, 1 and 25 models
    python benchmarks/rsa_speed.py --quick          # a smoke run (n = 120)
    python benchmarks/rsa_speed.py --only-missing   # only the NaN-row table (below)

The condition comparisons (``lrrsa.rsa.contrasts``: intervals and tests over stimuli,
subjects and seeds, no resampling) are timed against rsatoolbox's corrected 2-factor
bootstrap (``eval_dual_bootstrap``, stimuli x subjects, the same models), the nearest
procedure rsatoolbox offers.

A second table times the tests with one stimulus missing (a NaN row and column: a
uniform grey image, a ReLU layer silent for one image) in the brain RDM, in one model
RDM, in every model RDM, in both, and in the pixel RDM of partial RSA, each beside the
same test without it (ratio = with / without): the null stays on the compiled path
(``lrrsa.rsa.missing``) instead of re-scoring every permutation.

Every figure of one run is measured in that run, on the same machine and load; the
baselines (a ``scipy.stats.spearmanr`` loop, rsatoolbox) are timed on a few
iterations and extrapolated linearly (they are loops of identical iterations).
Prints a markdown table; ``--json FILE`` also writes the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from scipy import stats
from scipy.spatial.distance import pdist, squareform

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow" / "scripts"))

from lrrsa.rsa import _kernels  # noqa: E402
from lrrsa.rsa.bootstrap import bootstrap_ci  # noqa: E402
from lrrsa.rsa.contrasts import contrast_inference  # noqa: E402
from lrrsa.rsa.comparators import upper_triangle  # noqa: E402
from lrrsa.rsa.noise_ceiling import noise_ceiling  # noqa: E402
from lrrsa.rsa.partial import partial_rsa  # noqa: E402
from lrrsa.rsa.permutation import permutation_indices, permutation_test  # noqa: E402


def timed(fn, repeat: int = 1) -> float:
    """Best of ``repeat`` wall-clock times (the machine is shared)."""
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def dgemm_gflops(size: int = 2000) -> float:
    x = np.random.default_rng(0).normal(size=(size, size))
    return 2 * size**3 / timed(lambda: x @ x, 3) / 1e9


def model_rdms(rng, n: int, k: int) -> np.ndarray:
    """k model RDMs of a shared structure plus noise (like seeds x conditions)."""
    base = rng.normal(size=(n, 64))
    return np.stack([squareform(pdist(base + rng.normal(size=(n, 64)), "correlation")) for _ in range(k)])


def with_missing_stimulus(rdms: np.ndarray, stimulus: int) -> np.ndarray:
    """A copy with one stimulus's row and column NaN (diagonal 0), as ``rdm`` gives for
    a stimulus with constant features."""
    out = np.array(rdms, dtype=np.float64)
    out[..., stimulus, :] = np.nan
    out[..., :, stimulus] = np.nan
    out[..., stimulus, stimulus] = 0.0
    return out


def missing_rows(models: np.ndarray, brain: np.ndarray, pixel: np.ndarray, N: int, t1: float, tk: float,
                 tp: float | None) -> list[tuple[str, float, float]]:
    """(task, seconds, ratio to the same task without a missing stimulus)."""
    n, k = brain.shape[0], models.shape[0]
    gap, other = n // 3, n // 2
    one_model = models.copy()
    one_model[0] = with_missing_stimulus(models[0], gap)
    cases = [
        ("brain RDM, 1 model", lambda: permutation_test(models[0], with_missing_stimulus(brain, gap), N, seed=1), t1),
        (f"brain RDM, {k} models", lambda: permutation_test(models, with_missing_stimulus(brain, gap), N, seed=1), tk),
        (f"1 of {k} model RDMs", lambda: permutation_test(one_model, brain, N, seed=1), tk),
        (f"all {k} model RDMs", lambda: permutation_test(with_missing_stimulus(models, gap), brain, N, seed=1), tk),
        ("brain and the model (other stimulus), 1 model",
         lambda: permutation_test(with_missing_stimulus(models[0], other), with_missing_stimulus(brain, gap), N, seed=1),
         t1),
    ]
    if tp is not None:
        cases.append((f"pixel RDM (partial RSA), {k} models",
                      lambda: partial_rsa(models, brain, with_missing_stimulus(pixel, gap), n_permutations=N, seed=1),
                      tp))
    rows = []
    for name, run, without in cases:
        seconds = timed(run, 1)
        rows.append((name, seconds, seconds / without))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=720, help="stimuli")
    parser.add_argument("--permutations", type=int, default=10_000)
    parser.add_argument("--models", type=int, default=25)
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--quick", action="store_true", help="n = 120, 1,000 permutations, 100 bootstrap samples")
    parser.add_argument("--only-missing", action="store_true",
                        help="only the tests with a missing stimulus, beside the same tests without")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.quick:
        args.n, args.permutations, args.bootstrap = 120, 1000, 100
    n, N, k = args.n, args.permutations, args.models
    _kernels.set_threads(args.threads)
    rng = np.random.default_rng(0)
    models = model_rdms(rng, n, k)
    brain = 0.5 * squareform(pdist(rng.normal(size=(n, 200)), "correlation")) + 0.5 * models[0]
    pixel = squareform(pdist(rng.normal(size=(n, 32)), "correlation"))
    rows: list[tuple[str, float, str]] = []
    results: dict[str, float] = {"n": n, "permutations": N, "models": k, "threads": args.threads}

    # warm-up: numba compiles (or loads its cache) on the first call
    permutation_test(models[:2], brain, 20)
    permutation_test(with_missing_stimulus(models[:2], 1), with_missing_stimulus(brain, 2), 20)
    partial_rsa(models[:2], brain, pixel, n_permutations=20)
    bootstrap_ci(models[:2], brain, n_bootstrap=4, ci="bca")

    if args.only_missing:
        t1 = timed(lambda: permutation_test(models[0], brain, N, seed=1), 2)
        tk = timed(lambda: permutation_test(models, brain, N, seed=1), 1)
        tp = timed(lambda: partial_rsa(models, brain, pixel, n_permutations=N, seed=1), 1)
        print_missing(n, N, args.threads, t1, tk, tp, missing_rows(models, brain, pixel, N, t1, tk, tp), results)
        if args.json:
            args.json.write_text(json.dumps(results, indent=2))
        return

    results["dgemm_gflops"] = dgemm_gflops()

    # --- permutation tests
    t1 = timed(lambda: permutation_test(models[0], brain, N, seed=1), 2)
    tk = timed(lambda: permutation_test(models, brain, N, seed=1), 1)
    results.update(perm_1_s=t1, perm_k_s=tk)

    a, b = upper_triangle(models[0]), brain
    perms = permutation_indices(n, 20, 0)
    iu = np.triu_indices(n, 1)
    per_perm = timed(lambda: [stats.spearmanr(a, b[np.ix_(p, p)][iu]) for p in perms]) / len(perms)
    results["scipy_perm_ms"] = per_perm * 1e3
    results["scipy_perm_1_s"] = per_perm * N
    results["scipy_perm_k_s"] = per_perm * N * k

    rsatoolbox_per_perm = None
    try:
        import rsatoolbox

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model_obj = rsatoolbox.rdm.RDMs(np.stack([upper_triangle(m) for m in models]))
            brain_obj = rsatoolbox.rdm.RDMs(upper_triangle(brain)[None])

            def rsatoolbox_loop():
                for p in perms[:5]:
                    shuffled = brain_obj.copy()
                    shuffled.reorder(p)
                    rsatoolbox.rdm.compare(model_obj, shuffled, "spearman")

            rsatoolbox_per_perm = timed(rsatoolbox_loop) / 5  # k models per call
        results["rsatoolbox_perm_k_s"] = rsatoolbox_per_perm * N
    except ImportError:
        pass

    # --- partial RSA and bootstrap
    tp = timed(lambda: partial_rsa(models, brain, pixel, n_permutations=N, seed=1), 1)
    results["partial_k_s"] = tp
    tb = timed(lambda: bootstrap_ci(models, brain, n_bootstrap=args.bootstrap, ci="bca", seed=1), 1)
    results["bootstrap_k_bca_s"] = tb
    idx = np.random.default_rng(0).integers(0, n, size=(3, n))

    def scipy_boot():
        for r in idx:
            keep = (r[:, None] != r[None, :])[iu]
            for m in models:
                stats.spearmanr(m[np.ix_(r, r)][iu][keep], b[np.ix_(r, r)][iu][keep])

    boot_sample = timed(scipy_boot) / len(idx)
    results["scipy_bootstrap_k_s"] = boot_sample * args.bootstrap
    rsatoolbox_boot = None
    try:
        import rsatoolbox

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")

            def rsatoolbox_boot_loop():
                for r in idx:
                    rsatoolbox.rdm.compare(model_obj.subsample_pattern("index", r),
                                           brain_obj.subsample_pattern("index", r), "spearman")

            rsatoolbox_boot = timed(rsatoolbox_boot_loop) / len(idx)
        results["rsatoolbox_bootstrap_k_s"] = rsatoolbox_boot * args.bootstrap
        subjects = np.stack([0.5 * brain + 0.5 * m for m in models[:3]])
        tn = timed(lambda: noise_ceiling(subjects))
        from rsatoolbox.inference.noise_ceiling import boot_noise_ceiling

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tnr = timed(lambda: boot_noise_ceiling(rsatoolbox.rdm.RDMs(np.stack([upper_triangle(s) for s in subjects])),
                                                   method="spearman"))
        results.update(noise_ceiling_s=tn, rsatoolbox_noise_ceiling_s=tnr)
    except ImportError:
        pass

    # --- condition comparisons: the variance-components inference against rsatoolbox's
    # corrected 2-factor bootstrap (eval_dual_bootstrap), the nearest procedure it has
    conditions, seeds = max(1, k // 5), min(k, 5)
    grid = models[: conditions * seeds].reshape(conditions, seeds, n, n)
    subjects = np.stack([0.5 * brain + 0.5 * squareform(pdist(rng.normal(size=(n, 64)), "correlation"))
                         for _ in range(3)])
    pairs = [(a, b) for a in range(conditions) for b in range(a)]
    weights = np.vstack([np.eye(conditions)] + [np.eye(conditions)[a] - np.eye(conditions)[b] for a, b in pairs])
    factors = ["stimuli", "subjects", "seeds"]
    tc = timed(lambda: contrast_inference(grid, subjects, weights, factors=factors), 1)
    results["contrasts_s"] = tc
    rsatoolbox_dual = None
    try:
        import rsatoolbox
        from rsatoolbox.inference import eval_dual_bootstrap

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fixed = [rsatoolbox.model.ModelFixed(f"m{i}", rsatoolbox.rdm.RDMs(upper_triangle(m)[None]))
                     for i, m in enumerate(grid.reshape(-1, n, n))]
            data = rsatoolbox.rdm.RDMs(np.stack([upper_triangle(x) for x in subjects]))
            samples = 3
            rsatoolbox_dual = timed(lambda: eval_dual_bootstrap(fixed, data, method="spearman", N=samples,
                                                                k_pattern=1, k_rdm=1), 1) / samples
        results["rsatoolbox_dual_bootstrap_s"] = rsatoolbox_dual * args.bootstrap
    except ImportError:
        pass
    # One ROI of the study: Mantel tests of every model against the group and 3 subjects,
    # partial RSA, and the condition comparisons.
    results["roi_job_s"] = 4 * tk + tp + tc

    def add(name, ours, base, base_name):
        rows.append((name, ours, f"{base:.3g} s ({base_name})", base / ours))

    add(f"{N:,} stimulus permutations, 1 model", t1, results["scipy_perm_1_s"], "spearmanr loop")
    add(f"{N:,} stimulus permutations, {k} models", tk, results["scipy_perm_k_s"], "spearmanr loop")
    if rsatoolbox_per_perm is not None:
        add(f"{N:,} stimulus permutations, {k} models", tk, results["rsatoolbox_perm_k_s"], "rsatoolbox reorder+compare loop")
    add(f"partial RSA, {N:,} permutations, {k} models", tp, results["scipy_perm_k_s"], "spearmanr loop, not even partial")
    add(f"BCa bootstrap, {args.bootstrap:,} samples + {n} jackknife, {k} models", tb,
        results["scipy_bootstrap_k_s"], "spearmanr loop, no jackknife")
    if rsatoolbox_boot is not None:
        add(f"BCa bootstrap, {args.bootstrap:,} samples + {n} jackknife, {k} models", tb,
            results["rsatoolbox_bootstrap_k_s"], "rsatoolbox subsample_pattern+compare, no jackknife")
        add("noise ceiling, 3 subjects", results["noise_ceiling_s"], results["rsatoolbox_noise_ceiling_s"],
            "rsatoolbox boot_noise_ceiling")
    if rsatoolbox_dual is not None:
        add(f"condition comparisons, {conditions} conditions x {seeds} seeds, 3 subjects, {len(weights)} contrasts "
            "(variance components over stimuli, subjects, seeds)", tc, results["rsatoolbox_dual_bootstrap_s"],
            f"rsatoolbox eval_dual_bootstrap, {args.bootstrap:,} samples, stimuli x subjects only")

    print(f"n = {n} stimuli ({n * (n - 1) // 2:,} pairs), {args.threads} threads, numba={_kernels.HAVE_NUMBA}, "
          f"machine dgemm {results['dgemm_gflops']:.0f} GFLOP/s; scipy spearmanr {per_perm * 1e3:.1f} ms a permutation\n")
    print("| task | lrrsa | baseline (extrapolated) | speed-up |")
    print("|---|---|---|---|")
    for name, ours, base, ratio in rows:
        print(f"| {name} | {ours:.3g} s | {base} | {ratio:,.1f}x |")
    print(f"\nOne ROI's statistics job at these settings ({k} models: Mantel tests against the group and 3 subject "
          f"RDMs, partial RSA, condition comparisons): {results['roi_job_s']:.0f} s\n")
    print_missing(n, N, args.threads, t1, tk, tp, missing_rows(models, brain, pixel, N, t1, tk, tp), results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


def print_missing(n: int, N: int, threads: int, t1: float, tk: float, tp: float,
                  rows: list[tuple[str, float, float]], results: dict) -> None:
    print(f"One stimulus missing (a NaN row), n = {n}, {N:,} stimulus permutations, {threads} threads; without it: "
          f"{t1:.3g} s (1 model), {tk:.3g} s (all models), {tp:.3g} s (partial RSA)\n")
    print("| stimulus missing in | lrrsa | ratio to no missing stimulus |")
    print("|---|---|---|")
    for name, seconds, ratio in rows:
        print(f"| {name} | {seconds:.3g} s | {ratio:.2f}x |")
        results[f"missing: {name}"] = {"seconds": seconds, "ratio": ratio}


if __name__ == "__main__":
    main()
