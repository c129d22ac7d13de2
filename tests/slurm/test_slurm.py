"""The demo through the Slurm profile on a real (one-node) Slurm cluster.

Run by tests/slurm/run.sh, which starts the cluster; skipped otherwise. The demo
(config/demo.yaml with its simulated fMRI as the one dataset) runs once locally as the reference and once through the
shipped profile, edited the way the README asks a user to edit it. The cluster run is
killed the hard way in the middle of training, unlocked and rerun, as a user would
after losing a login node. Checks: the GPU rules received a GPU from Slurm, training
resumed from its checkpoint, nothing that had finished was redone, and every result
table equals the local run's.
"""

import base64
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import one_dataset_demo

REPO = Path(__file__).resolve().parents[2]
# The demo's fMRI dataset alone: the tables at the run's top level, the rule names
# unprefixed. (A run of several datasets gives each dataset's copy of a rule the
# profile's settings of the rule: tests/test_datasets.py, dry run.)
DEMO = one_dataset_demo()
RESULTS = Path("results") / DEMO["run"]
# Result tables a reader sees; every one must match the local run exactly.
TABLES = ["rsa/scores.tsv", "stats/summary.tsv", "stats/pairwise.tsv", "stats/partial.tsv",
          "stats/noise_ceiling.tsv", "stats/subjects.tsv", "stats/layers.tsv"]

pytestmark = pytest.mark.skipif(
    os.environ.get("LRRSA_SLURM_TEST") != "1", reason="needs the cluster from tests/slurm/run.sh"
)


def cluster_profile(folder: Path) -> Path:
    """The shipped profile with the edits the README asks of a user, for this cluster."""
    profile = yaml.safe_load((REPO / "workflow/profiles/slurm/config.yaml").read_text())
    profile["default-resources"]["slurm_partition"] = "debug"
    del profile["default-resources"]["slurm_account"]
    for rule in profile["set-resources"].values():
        rule["slurm_partition"] = "debug"
    # This cluster has no accounting daemon (no sacct) and no accounts.
    profile["slurm-status-command"] = "squeue"
    profile["slurm-no-account"] = True
    profile["cores"] = os.cpu_count()  # the node's CPUs
    # The plugin polls every 40 s (up to 180 s while nothing finishes), which suits a busy
    # cluster; this one runs its one GPU's jobs one after another, each polled for.
    profile["slurm-init-seconds-before-status-checks"] = 5
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
    return folder


def command(workdir: Path, *args: str) -> list[str]:
    configfile = workdir.parent / f"{workdir.name}.yaml"
    if not configfile.exists():
        configfile.write_text(yaml.safe_dump(DEMO, sort_keys=False))
    return [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
            *args, "--configfile", str(configfile)]


def run(workdir: Path, *args: str, limit: int) -> subprocess.CompletedProcess:
    # SIGKILL: on SIGTERM Snakemake would first wait for its running jobs.
    return subprocess.run(["timeout", "-s", "KILL", str(limit), *command(workdir, *args)],
                          capture_output=True, text=True)


def result_files(workdir: Path) -> dict[Path, int]:
    """Every result file (not logs or checkpoints) with its modification time."""
    found = {}
    for path in (workdir / RESULTS).rglob("*"):
        relative = path.relative_to(workdir / RESULTS)
        if path.is_file() and relative.parts[0] not in {"logs", "benchmarks"} and path.name != "checkpoint.pt":
            found[path] = path.stat().st_mtime_ns
    return found


def incomplete_outputs(workdir: Path) -> set[Path]:
    """Outputs Snakemake marked as being written when it was killed (to be redone)."""
    marks = workdir / ".snakemake/incomplete"
    names = [base64.urlsafe_b64decode(p.name).decode() for p in marks.iterdir()] if marks.exists() else []
    return {(workdir / name).resolve() for name in names}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("slurm")
    local, cluster = root / "local", root / "cluster"
    local.mkdir()
    cluster.mkdir()
    done = run(local, "--cores", "2", limit=2400)
    assert done.returncode == 0, done.stderr[-3000:]
    return local, cluster, cluster_profile(root / "profile")


def test_killed_cluster_run_resumes_and_matches_the_local_run(runs):
    local, cluster, profile = runs
    # Its own process group, so that killing it kills Snakemake itself, not only `timeout`;
    # its output to a file, which (unlike a pipe nobody reads) never blocks it.
    first_log = cluster.parent / "first-run.log"
    with first_log.open("w") as out:
        first = subprocess.Popen(["timeout", "-s", "KILL", "2400", *command(cluster, "--profile", str(profile))],
                                 stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 1800
    checkpoints = []
    while not checkpoints:
        assert first.poll() is None, "the run ended before a training checkpoint:\n" + first_log.read_text()[-3000:]
        assert time.monotonic() < deadline, "no training checkpoint appeared"
        time.sleep(0.1)
        checkpoints = list((cluster / RESULTS / "models").glob("*/seed-*/checkpoint.pt"))
    # Kill it like a lost login node: Snakemake at once, then every Slurm job.
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    subprocess.run(["scancel", "--user", os.environ.get("USER", "root")], check=False)
    time.sleep(3)
    interrupted = checkpoints[0].parent
    before = result_files(cluster)
    incomplete = incomplete_outputs(cluster)
    assert not (interrupted / "model.pt").exists(), "the killed training had already finished"

    # What a user does next (README): unlock the folder, rerun the same command.
    unlock = run(cluster, "--profile", str(profile), "--unlock", limit=300)
    assert unlock.returncode == 0, unlock.stderr[-3000:]
    second = run(cluster, "--profile", str(profile), limit=2400)
    assert second.returncode == 0, second.stdout[-5000:] + second.stderr[-3000:]

    log = interrupted.relative_to(cluster / RESULTS / "models")
    train_log = (cluster / RESULTS / "logs/models" / log / "train.log").read_text()
    assert re.search(r"resuming from .*checkpoint\.pt after epoch [1-9]", train_log), train_log[-2000:]
    assert not (interrupted / "checkpoint.pt").exists()
    # Nothing that had finished was redone: complete outputs keep their mtimes.
    redone = [p for p, mtime in before.items() if p.resolve() not in incomplete and p.stat().st_mtime_ns != mtime]
    assert not redone, redone[:10]
    assert any(p.name == "training_set.npz" for p in before)
    # GPU rules ran on the GPU Slurm gave them (a gres backed by /dev/null sets
    # CUDA_VISIBLE_DEVICES; PyTorch finds no CUDA device and uses the CPU).
    gpu_logs = [*(cluster / RESULTS / "logs/models").glob("*/seed-*/train.log"),
                *(cluster / RESULTS / "logs/activations").glob("*/seed-*.log")]
    assert len(gpu_logs) == 2 * len(DEMO["conditions"]) * len(DEMO["seeds"])
    for path in gpu_logs:
        assert re.search(r"CUDA_VISIBLE_DEVICES=\d", path.read_text()), path

    for table in TABLES:
        pd.testing.assert_frame_equal(pd.read_csv(cluster / RESULTS / table, sep="\t"),
                                      pd.read_csv(local / RESULTS / table, sep="\t"), obj=table)
    for history in (local / RESULTS / "models").glob("*/seed-*/history.tsv"):
        twin = cluster / history.relative_to(local)
        pd.testing.assert_frame_equal(pd.read_csv(twin, sep="\t").drop(columns="seconds"),
                                      pd.read_csv(history, sep="\t").drop(columns="seconds"), obj=str(twin))
