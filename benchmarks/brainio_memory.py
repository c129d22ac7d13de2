"""Peak memory and time of lrrsa.data.brainio_responses.stimulus_responses on an assembly
of FreemanZiemba2013's shape, against the naive xarray load-then-average.

    python benchmarks/brainio_memory.py                  # 205 x 300 x 2,700 float64 (1.33 GB)
    python benchmarks/brainio_memory.py --stimuli 20     # smaller

Writes a synthetic brainio assembly (dims neuroid, time_bin, presentation as the real
file; 0/1 spikes in 1-ms bins 0-300; ``--stimuli`` x ``--repetitions`` presentations)
with ``write_assembly`` in a child process, then, each in a fresh child process (the
parent stays small, since ru_maxrss is inherited across fork and exec):

- reader: ``stimulus_responses(path, time_window=(50, 200))``, read in slabs;
- naive: ``xr.open_dataarray(path).load()``, the 50-200 ms bins selected, averaged
  over time, then over repetitions (pandas groupby).

It reports each child's peak resident memory (``resource.getrusage(RUSAGE_SELF).ru_maxrss``
at the end, and the interpreter's before the work, after imports), the wall time, and
the ratios; and checks that both give the same responses.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parents[1] / "workflow" / "scripts"

WRITE = r"""
import sys
sys.path.insert(0, {scripts!r})
import numpy as np
from lrrsa.data.brainio import write_assembly
n_neuroids, n_bins, n_stimuli, n_reps = {neuroids}, {bins}, {stimuli}, {reps}
rng = np.random.default_rng(0)
n_pres = n_stimuli * n_reps
data = np.empty((n_neuroids, n_bins, n_pres))  # FreemanZiemba's order, float64
rate = rng.uniform(0.02, 0.3, size=(n_neuroids, n_stimuli))
for n in range(n_neuroids):  # 0/1 spikes; the rate depends on the stimulus
    data[n] = rng.random((n_bins, n_pres)) < np.repeat(rate[n], n_reps)[None, :]
ids = np.repeat([f"tex{{i:03d}}" for i in range(n_stimuli)], n_reps)
write_assembly({path!r}, data, dict(stimulus_id=ids, repetition=np.tile(np.arange(n_reps), n_stimuli)),
               dict(neuroid_id=np.arange(n_neuroids), region=np.where(np.arange(n_neuroids) % 2, "V2", "V1")),
               time_bins=[(t, t + 1) for t in range(n_bins)], dims=("neuroid", "time_bin", "presentation"))
"""

READER = r"""
import json, resource, sys, time
sys.path.insert(0, {scripts!r})
import numpy as np
from lrrsa.data.brainio_responses import stimulus_responses
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
out = stimulus_responses({path!r}, time_window=({t0}, {t1}), chunk_mb={chunk_mb})
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
np.save({result!r}, out.responses)
print(json.dumps(dict(seconds=seconds, base_mb=base / 1024, peak_mb=peak / 1024)))
"""

NAIVE = r"""
import json, resource, sys, time
import netCDF4
import numpy as np, pandas as pd, xarray as xr
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
da = xr.open_dataarray({path!r}).load()
keep = ((da["time_bin_start"] >= {t0}) & (da["time_bin_end"] <= {t1})).values
mean = da.isel(time_bin=keep).mean("time_bin").transpose("presentation", "neuroid")
stim = pd.DataFrame(mean.values).groupby(da["stimulus_id"].values, sort=False).mean()
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
np.save({result!r}, stim.to_numpy())
print(json.dumps(dict(seconds=seconds, base_mb=base / 1024, peak_mb=peak / 1024)))
"""


def child(code: str) -> dict:
    done = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1]) if done.stdout.strip() else {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--neuroids", type=int, default=205)
    parser.add_argument("--bins", type=int, default=300, help="1-ms time bins from 0 ms")
    parser.add_argument("--stimuli", type=int, default=135)
    parser.add_argument("--repetitions", type=int, default=20)
    parser.add_argument("--window", type=float, nargs=2, default=(50.0, 200.0), metavar=("START", "END"))
    parser.add_argument("--chunk-mb", type=float, default=64.0, help="slab size of the reader")
    parser.add_argument("--skip-naive", action="store_true", help="only the reader (the naive load needs the whole array)")
    parser.add_argument("--dir", type=Path, default=None, help="where the temporary assembly goes")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    n_pres = args.stimuli * args.repetitions
    dense_gb = args.neuroids * args.bins * n_pres * 8 / 1e9
    t0, t1 = args.window
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        path, reader_out, naive_out = (str(Path(tmp) / name) for name in ("assy.nc", "reader.npy", "naive.npy"))
        start = time.perf_counter()
        child(WRITE.format(scripts=str(SCRIPTS), path=path, neuroids=args.neuroids, bins=args.bins,
                           stimuli=args.stimuli, reps=args.repetitions))
        write_s = time.perf_counter() - start
        file_mb = Path(path).stat().st_size / 1e6
        reader = child(READER.format(scripts=str(SCRIPTS), path=path, t0=t0, t1=t1, chunk_mb=args.chunk_mb, result=reader_out))
        naive = None if args.skip_naive else child(NAIVE.format(path=path, t0=t0, t1=t1, result=naive_out))
        import numpy as np

        same = None if naive is None else bool(np.allclose(np.load(reader_out), np.load(naive_out), rtol=1e-12, atol=1e-12))
    result = dict(neuroids=args.neuroids, bins=args.bins, presentations=n_pres, window=[t0, t1], chunk_mb=args.chunk_mb,
                  file_mb=file_mb, dense_float64_gb=dense_gb, write_s=write_s, reader=reader, naive=naive, same_responses=same)
    print(f"Assembly of {args.neuroids} neuroids x {args.bins} time bins x {n_pres:,} presentations "
          f"({args.stimuli} stimuli x {args.repetitions} repetitions), float64 0/1 spikes: {dense_gb:.2f} GB as float64, "
          f"{file_mb:.0f} MB on disk (written in {write_s:.0f} s); window {t0:g}-{t1:g} ms, slabs of {args.chunk_mb:g} MB\n")
    print("| method | peak memory (ru_maxrss) | above the interpreter | time |")
    print("|---|---|---|---|")
    rows = [("stimulus_responses (slabs)", reader)] + ([("naive: open_dataarray().load() + mean", naive)] if naive else [])
    for name, r in rows:
        print(f"| {name} | {r['peak_mb']:.0f} MB | {r['peak_mb'] - r['base_mb']:.0f} MB | {r['seconds']:.1f} s |")
    if naive:
        print(f"\nratio reader / naive: peak memory {reader['peak_mb'] / naive['peak_mb']:.2f}, "
              f"time {reader['seconds'] / naive['seconds']:.2f}; same responses: {same}")
    print(f"reader peak under 1 GB: {reader['peak_mb'] < 1024}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
