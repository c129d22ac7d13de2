"""Peak memory and throughput of lrrsa.rsa.rdm.rdm on an HDF5 dataset wider than memory wants.

    python benchmarks/rdm_memory.py                   # 720 x 400,000 float16 (576 MB file)
    python benchmarks/rdm_memory.py --features 50000  # smaller

Writes the dataset to a temporary file in the layout extract_activations uses (chunks
of whole rows; ``--layout contiguous`` for none), then runs ``rdm`` in a fresh
process and reports its peak resident memory (ru_maxrss) above the interpreter's
baseline, the time of the read alone, the RDM's throughput in multiply-adds per
second (n^2 p), and the machine's rate for the same Gram product on an in-memory
float64 block (numpy/BLAS ``b @ b.T``, n x chunk), measured in the same run.
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

CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, {scripts!r})
import h5py, numpy as np
from lrrsa.rsa.rdm import rdm, _column_chunks, _chunk_width
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
with h5py.File({path!r}, "r") as h5:
    ds = h5["x"]
    start = time.perf_counter()
    for cols in _column_chunks(ds.shape[1], _chunk_width(ds, {chunk})):
        ds[:, cols]
    read_s = time.perf_counter() - start
    rdm_s = []
    for _ in range({repeat}):  # best of a few: the machine may be shared
        start = time.perf_counter()
        out = rdm(ds, chunk={chunk})
        rdm_s.append(time.perf_counter() - start)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps(dict(read_s=read_s, rdm_s=min(rdm_s), rdm_all_s=rdm_s, base_mb=base / 1024, peak_mb=peak / 1024,
                      finite=bool(np.isfinite(out).all()))))
"""


def write_dataset(path: Path, n: int, p: int, layout: str) -> None:
    import h5py

    rng = np.random.default_rng(0)
    chunks = (max(1, min(n, 2**18 // p)), p) if layout == "rows" else None
    with h5py.File(path, "w") as h5:
        ds = h5.create_dataset("x", shape=(n, p), dtype="float16", chunks=chunks)
        shared = rng.normal(size=p).astype(np.float32)
        for row in range(n):
            ds[row] = (shared + rng.normal(size=p).astype(np.float32)).astype(np.float16)


def gram_rate(n: int, chunk: int) -> float:
    """Multiply-adds per second of the in-memory Gram product of one n x chunk float64 block."""
    block = np.random.default_rng(1).normal(size=(n, chunk))
    best = np.inf
    for _ in range(5):
        start = time.perf_counter()
        block @ block.T
        best = min(best, time.perf_counter() - start)
    return n * n * chunk / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stimuli", type=int, default=720)
    parser.add_argument("--features", type=int, default=400_000)
    parser.add_argument("--chunk", type=int, default=8192)
    parser.add_argument("--layout", choices=["rows", "contiguous"], default="rows")
    parser.add_argument("--dir", type=Path, default=None, help="where the temporary HDF5 file goes")
    parser.add_argument("--repeat", type=int, default=2, help="runs of rdm(); the best counts")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    n, p = args.stimuli, args.features
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        path = Path(tmp) / "wide.h5"
        start = time.perf_counter()
        write_dataset(path, n, p, args.layout)
        write_s = time.perf_counter() - start
        code = CHILD.format(scripts=str(SCRIPTS), path=str(path), chunk=args.chunk, repeat=args.repeat)
        before = gram_rate(n, args.chunk)
        result = json.loads(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                                           text=True).stdout)
        rate = max(before, gram_rate(n, args.chunk))  # the machine's best, before and after
        size_mb = path.stat().st_size / 1e6
    result.update(n=n, p=p, chunk=args.chunk, layout=args.layout, file_mb=size_mb, write_s=write_s,
                  rdm_madds_per_s=n * n * p / result["rdm_s"], gram_madds_per_s=rate,
                  dense_float64_mb=n * p * 8 / 1e6, threads=os.cpu_count())
    print(f"RDM of a {n} x {p:,} float16 HDF5 dataset ({size_mb:.0f} MB on disk, {n * p * 8 / 1e9:.2f} GB as "
          f"float64; {args.layout} layout, chunk {args.chunk} columns, {os.cpu_count()} cores)\n")
    print("| measure | value |")
    print("|---|---|")
    print(f"| peak memory of the process (ru_maxrss) | {result['peak_mb']:.0f} MB "
          f"({result['peak_mb'] - result['base_mb']:.0f} MB above the {result['base_mb']:.0f} MB interpreter) |")
    print(f"| time, rdm() (best of {args.repeat}) | {result['rdm_s']:.1f} s "
          f"({', '.join(f'{t:.1f}' for t in result['rdm_all_s'])}) |")
    print(f"| of which reading the file alone (warm cache) | {result['read_s']:.1f} s |")
    print(f"| throughput, n^2 p / t | {result['rdm_madds_per_s'] / 1e9:.1f} G multiply-adds/s |")
    print(f"| machine, in-memory float64 Gram of one {n} x {args.chunk} block | {rate / 1e9:.1f} G multiply-adds/s |")
    print(f"| ratio | {result['rdm_madds_per_s'] / rate:.2f} of the matrix-multiply rate |")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
