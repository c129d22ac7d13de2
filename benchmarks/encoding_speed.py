"""Speed and peak memory of the encoding models' ridge fit against scikit-learn's RidgeCV.

    python benchmarks/encoding_speed.py                 # 8,640 x 2,048 -> 10,000 voxels (~20 min on 2 cores, 11 GB)
    python benchmarks/encoding_speed.py --quick --repeat 3   # a smoke run (720 images, 256 features, 1,000 voxels)
    python benchmarks/encoding_speed.py --device cuda   # also our path on the GPU (himalaya torch_cuda)

The THINGS-fMRI shape of one layer and all voxels of a subject: 8,640 training images
(720 concepts x 12 images) x 2,048 features, 10,000 voxels, 100 test images. Synthetic,
seeded, float64 (what the workflow passes to himalaya; scikit-learn casts to float64
anyway). Features have a decaying spectrum (feature j has sd (j + 1)^-1/2, as CNN
features); a quarter of the voxels carry a planted linear signal with a true R^2 drawn
from U(0.05, 0.5) on a training trial, the rest are pure noise.

- ours: :func:`lrrsa.encoding.ridge.fit_ridge_cv` with the workflow's defaults: alphas
  ``alpha_grid(-1, 7, 17)``, a penalty per voxel chosen by 5-fold cross-validation
  grouped by concept (:func:`lrrsa.encoding.protocols.inner_folds`), refit on all
  training images, predict the test images.
- sklearn: ``sklearn.linear_model.RidgeCV(alphas, alpha_per_target=True)``, its efficient
  leave-one-out (GCV) path: scikit-learn does not support ``alpha_per_target`` with
  ``cv`` set, so LOO is the closest per-voxel equivalent (a different, cheaper criterion:
  one decomposition instead of one per fold, and no grouping by concept).

Each method runs in a fresh child process (this script with ``--child``) with BLAS
limited to ``--threads`` (threadpoolctl and the *_NUM_THREADS variables); it reports the
wall time of fit + predict (data already loaded) and its peak resident memory
(``ru_maxrss``), above the interpreter and libraries and, separately, above the loaded
data (the method's working memory). The data are written by a child as well, since a
child's ru_maxrss starts at its parent's peak. Printed: the table, the ratios sklearn / ours, and
the agreement of the two: the median Pearson r over the signal voxels of each method's
test predictions with the true (noise-free) signal, the median r between the two
methods' predictions, and how often their alphas are within one grid step. The machine's
load average is printed: the figures are only comparable within one run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SCRIPTS = Path(__file__).resolve().parents[1] / "workflow" / "scripts"
sys.path.insert(0, str(SCRIPTS))

MARK = "RESULT "  # prefix of the child's JSON line on stdout


def make_data(out: Path, *, images: int, test: int, features: int, voxels: int, signal: float, seed: int) -> dict:
    """Write x.npy (images + test, features), y.npy (images, voxels) and truth.npy (test,
    n_signal) (the noise-free test signal of the signal voxels, which are the first columns)."""
    rng = np.random.default_rng(seed)
    n = images + test
    x = rng.standard_normal((n, features)) * (np.arange(features) + 1.0) ** -0.5
    n_signal = round(signal * voxels)
    y = np.empty((images, voxels))
    truth = np.empty((test, n_signal))
    block = 1000
    for start in range(0, voxels, block):  # in blocks of voxels: no second full-size array
        stop = min(voxels, start + block)
        y[:, start:stop] = rng.standard_normal((images, stop - start))
        sig = slice(start, min(stop, n_signal))
        if sig.start < sig.stop:
            w = rng.standard_normal((features, sig.stop - sig.start))
            s = x @ w
            s /= s[:images].std(axis=0)
            r2 = rng.uniform(0.05, 0.5, size=s.shape[1])
            y[:, sig] = np.sqrt(r2) * s[:images] + np.sqrt(1 - r2) * y[:, sig]
            truth[:, sig] = s[images:]
    np.save(out / "x.npy", x)
    np.save(out / "y.npy", y)
    np.save(out / "truth.npy", truth)
    return {"x_mb": x.nbytes / 2**20, "y_mb": y.nbytes / 2**20, "n_signal": n_signal}


# --- the child: one method, one process ---------------------------------------------------

def _rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def child(spec: dict) -> dict:
    from threadpoolctl import threadpool_limits

    method, device = spec["method"], spec["device"]
    if method == "data":
        return make_data(Path(spec["data"]), **spec["shape"])
    if method == "ours":
        import himalaya.backend  # noqa: F401  (in the baseline, as sklearn is for the other)
        from lrrsa.encoding.protocols import inner_folds
        from lrrsa.encoding.ridge import alpha_grid, fit_ridge_cv
        if device == "cuda":
            import torch

            if not torch.cuda.is_available():
                return {"skipped": "torch sees no GPU"}
            torch.set_num_threads(spec["threads"])
            torch.zeros(1, device="cuda")  # CUDA context outside the timing
    else:
        from lrrsa.encoding.ridge import alpha_grid
        from sklearn.linear_model import RidgeCV
    base = _rss_mb()
    data = Path(spec["data"])
    x, y = np.load(data / "x.npy"), np.load(data / "y.npy")
    loaded = _rss_mb()
    images = y.shape[0]
    x_fit, x_test = x[:images], x[images:]
    alphas = alpha_grid(-1, 7, 17)
    walls, cpus = [], []
    with threadpool_limits(limits=spec["threads"]):
        for _ in range(spec["repeat"]):  # best of a few: the machine may be shared
            start, cpu = time.perf_counter(), time.process_time()
            if method == "ours":
                concepts = np.repeat(np.arange(spec["concepts"]), images // spec["concepts"]).astype(str)
                fit = fit_ridge_cv(x_fit, y, x_test, alphas=alphas, splits=inner_folds(concepts, 5), device=device)
                prediction, alpha = fit.prediction, fit.alpha
            else:
                model = RidgeCV(alphas=alphas, alpha_per_target=True, fit_intercept=True).fit(x_fit, y)
                prediction, alpha = model.predict(x_test), np.asarray(model.alpha_)
            walls.append(time.perf_counter() - start)
            cpus.append(time.process_time() - cpu)
    best = int(np.argmin(walls))
    out = {"seconds": walls[best], "cpu_seconds": cpus[best], "all_seconds": walls, "base_mb": base,
           "loaded_mb": loaded, "peak_mb": _rss_mb()}
    if method == "ours" and device == "cuda":
        import torch

        out["gpu_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
    np.save(data / f"prediction-{method}-{device}.npy", prediction)
    np.save(data / f"alpha-{method}-{device}.npy", alpha)
    return out


def run_child(spec: dict) -> dict:
    """Run one method in a fresh interpreter with ``threads`` BLAS threads."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(SCRIPTS), os.environ.get("PYTHONPATH")])))
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(spec["threads"])
    done = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)], env=env, capture_output=True,
                          text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"{spec['method']} ({spec['device']}) failed:\n{done.stderr[-3000:]}")
    line = [s for s in done.stdout.splitlines() if s.startswith(MARK)][-1]
    return json.loads(line[len(MARK):])


# --- the parent: data, children, table ----------------------------------------------------

def pearson_columns(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a - a.mean(0)
    b = b - b.mean(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (a * b).sum(0) / np.sqrt((a * a).sum(0) * (b * b).sum(0))


def agreement(data: Path, rows: dict, n_signal: int) -> list[str]:
    """Lines on what each method predicts and how far the two agree."""
    truth = np.load(data / "truth.npy")
    lines, preds, alphas = [], {}, {}
    for key in rows:
        preds[key] = np.load(data / f"prediction-{key[0]}-{key[1]}.npy")
        alphas[key] = np.load(data / f"alpha-{key[0]}-{key[1]}.npy")
        r = pearson_columns(preds[key][:, :n_signal], truth)
        lines.append(f"| {key[0]} ({key[1]}) | {np.nanmedian(r):.3f} | {np.median(alphas[key][:n_signal]):.3g} | "
                     f"{np.median(alphas[key][n_signal:]):.3g} |")
    pairs = [(("ours", "cpu"), ("sklearn", "cpu")), (("ours", "cpu"), ("ours", "cuda"))]
    notes = []
    for a, b in pairs:
        if a in preds and b in preds:
            r = pearson_columns(preds[a][:, :n_signal], preds[b][:, :n_signal])
            step = np.abs(np.log10(alphas[a]) - np.log10(alphas[b]))[:n_signal]
            notes.append(f"{a[0]} ({a[1]}) vs {b[0]} ({b[1]}), signal voxels: median r of the predictions "
                         f"{np.nanmedian(r):.4f} (min {np.nanmin(r):.4f}); alphas equal in {np.mean(step < 1e-9):.2f}, "
                         f"within one grid step (x10^0.5) in {np.mean(step <= 0.5 + 1e-9):.2f}; max |diff| "
                         f"{np.abs(preds[a] - preds[b]).max():.2e}")
    return lines, notes


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=8640, help="training images")
    parser.add_argument("--concepts", type=int, default=720, help="concepts (images / concepts images each)")
    parser.add_argument("--test", type=int, default=100, help="test images")
    parser.add_argument("--features", type=int, default=2048)
    parser.add_argument("--voxels", type=int, default=10_000)
    parser.add_argument("--signal", type=float, default=0.25, help="fraction of voxels with a planted signal")
    parser.add_argument("--threads", type=int, default=2, help="BLAS threads of every method")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                        help="cuda: also time our path on the GPU (skipped when torch sees none)")
    parser.add_argument("--repeat", type=int, default=1, help="fits per method; the fastest counts")
    parser.add_argument("--methods", nargs="+", choices=["ours", "sklearn"], default=["ours", "sklearn"])
    parser.add_argument("--quick", action="store_true", help="720 images (60 concepts), 256 features, 1,000 voxels")
    parser.add_argument("--dir", type=Path, default=None, help="where the temporary data go")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(MARK + json.dumps(child(json.loads(args.child))), flush=True)
        return
    if args.quick:
        args.images, args.concepts, args.features, args.voxels = 720, 60, 256, 1000
    if args.images % args.concepts:
        parser.error("--images must be a multiple of --concepts")
    runs = [(m, "cpu") for m in args.methods] + ([("ours", "cuda")] if args.device == "cuda" else [])
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        data = Path(tmp)
        start = time.perf_counter()
        # In a child too: a child's ru_maxrss starts at its parent's peak (fork copies the
        # high-water mark), so the parent never holds the data.
        shape = {"images": args.images, "test": args.test, "features": args.features, "voxels": args.voxels,
                 "signal": args.signal, "seed": args.seed}
        info = run_child({"method": "data", "device": "cpu", "threads": args.threads, "data": tmp, "shape": shape})
        print(f"Ridge with a penalty per voxel: {args.images:,} training images ({args.concepts} concepts x "
              f"{args.images // args.concepts}) x {args.features:,} features -> {args.voxels:,} voxels "
              f"({info['n_signal']:,} with a planted signal), {args.test} test images; float64 "
              f"(X {info['x_mb']:.0f} MB, Y {info['y_mb']:.0f} MB; made in {time.perf_counter() - start:.0f} s); "
              f"17 alphas 10^-1..10^7; {args.threads} BLAS thread(s) per method; load average before "
              f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores\n", flush=True)
        rows = {}
        for method, device in runs:
            spec = {"method": method, "device": device, "threads": args.threads, "data": tmp,
                    "concepts": args.concepts,
                    "repeat": args.repeat}
            result = run_child(spec)
            if "skipped" in result:
                print(f"{method} ({device}): skipped, {result['skipped']}")
                continue
            rows[(method, device)] = result
            print(f"  {method} ({device}): {', '.join(f'{t:.1f}' for t in result['all_seconds'])} s "
                  f"(load average now {os.getloadavg()[0]:.1f})", flush=True)
        lines, notes = agreement(data, rows, info["n_signal"])
    criterion = {"ours": "5-fold CV grouped by concept (himalaya)", "sklearn": "leave-one-out / GCV (no grouping)"}
    print(f"\n| method | alpha chosen by | wall time (fit + predict{', best of ' + str(args.repeat) if args.repeat > 1 else ''}) "
          "| CPU time | peak RSS | above interpreter + libraries | above loaded data | GPU peak |")
    print("|---|---|---|---|---|---|---|---|")
    for (method, device), r in rows.items():
        gpu = f"{r['gpu_peak_mb']:.0f} MB" if "gpu_peak_mb" in r else "-"
        print(f"| {method} ({device}) | {criterion[method]} | {r['seconds']:.1f} s | {r['cpu_seconds']:.1f} s | {r['peak_mb']:.0f} MB | "
              f"{r['peak_mb'] - r['base_mb']:.0f} MB | {r['peak_mb'] - r['loaded_mb']:.0f} MB | {gpu} |")
    ours, sk = rows.get(("ours", "cpu")), rows.get(("sklearn", "cpu"))
    if ours and sk:
        print(f"\nsklearn / ours (CPU): time {sk['seconds'] / ours['seconds']:.2f}, memory above interpreter "
              f"{(sk['peak_mb'] - sk['base_mb']) / (ours['peak_mb'] - ours['base_mb']):.2f}, working memory "
              f"{(sk['peak_mb'] - sk['loaded_mb']) / (ours['peak_mb'] - ours['loaded_mb']):.2f} "
              f"(> 1: ours is faster / smaller)")
    if ours and ("ours", "cuda") in rows:
        print(f"ours CPU / ours CUDA: time {ours['seconds'] / rows[('ours', 'cuda')]['seconds']:.1f}")
    print("\n| method | median r with the true signal (test images, signal voxels) | median alpha, signal voxels "
          "| median alpha, noise voxels |")
    print("|---|---|---|---|")
    print("\n".join(lines))
    for note in notes:
        print("\n" + note)
    if args.json:
        args.json.write_text(json.dumps({f"{m}-{d}": r for (m, d), r in rows.items()} | {"args": vars(args)},
                                        indent=2, default=str))


if __name__ == "__main__":
    main()
