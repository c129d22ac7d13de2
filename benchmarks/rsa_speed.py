"""Speed of the RSA statistics engine against a scipy loop and rsatoolbox.

    python benchmarks/rsa_speed.py                  # n = 720, 10,000 permutations, 1 and 25 models
    python benchmarks/rsa_speed.py --quick          # a smoke run (n = 120)

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

from lrrsa import _kernels  # noqa: E402
from lrrsa.rsa import (  # noqa: E402
    bootstrap_ci, noise_ceiling, partial_rsa, permutation_indices, permutation_test, upper_triangle,
)


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=720, help="stimuli")
    parser.add_argument("--permutations", type=int, default=10_000)
    parser.add_argument("--models", type=int, default=25)
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--quick", action="store_true", help="n = 120, 1,000 permutations, 100 bootstrap samples")
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
    partial_rsa(models[:2], brain, pixel, n_permutations=20)
    bootstrap_ci(models[:2], brain, n_bootstrap=4, ci="bca")

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

    print(f"n = {n} stimuli ({n * (n - 1) // 2:,} pairs), {args.threads} threads, numba={_kernels.HAVE_NUMBA}, "
          f"machine dgemm {results['dgemm_gflops']:.0f} GFLOP/s; scipy spearmanr {per_perm * 1e3:.1f} ms a permutation\n")
    print("| task | lrrsa | baseline (extrapolated) | speed-up |")
    print("|---|---|---|---|")
    for name, ours, base, ratio in rows:
        print(f"| {name} | {ours:.3g} s | {base} | {ratio:,.1f}x |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
