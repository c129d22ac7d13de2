"""The demo through the Slurm profile on a real (one-node) Slurm cluster.

Run by tests/slurm/run.sh, which starts the cluster; skipped otherwise. Checks that
GPU rules receive a GPU from Slurm, that a run killed mid-training resumes from its
checkpoint without redoing finished jobs, and that the results equal a local run's.
"""

import copy
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))
from test_workflow import TINY  # noqa: E402

pytestmark = pytest.mark.skipif(
    os.environ.get("LRRSA_SLURM_TEST") != "1", reason="needs the cluster from tests/slurm/run.sh"
)

# The tiny demo, on the default device (so GPU jobs ask Slurm for a GPU) and with a
# training long enough to be killed in the middle.
CONFIG = copy.deepcopy(TINY)
CONFIG["device"] = "auto"
CONFIG["training"] = {"epochs": 40, "batch_size": 32}
CONFIG["demo"]["train_per_class"] = 100
CONFIG["training_data"]["n_train"] = 1000


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
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
    return folder


def command(workdir: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
            *args, "--configfile", str(workdir / "config.yaml")]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("slurm")
    local, cluster = root / "local", root / "cluster"
    for workdir in (local, cluster):
        workdir.mkdir()
        (workdir / "config.yaml").write_text(yaml.safe_dump(CONFIG, sort_keys=False))
    done = subprocess.run(["timeout", "-s", "KILL", "1200", *command(local, "--cores", "2")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    return local, cluster, cluster_profile(root / "profile")


def test_killed_cluster_run_resumes_and_matches_the_local_run(runs):
    local, cluster, profile = runs
    checkpoint = cluster / "results/tiny/models/bp/seed-1/checkpoint.pt"
    first = subprocess.Popen(["timeout", "-s", "KILL", "1200", *command(cluster, "--profile", str(profile))],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 900
    while not checkpoint.exists():
        assert first.poll() is None, "the run ended before training started:\n" + first.stdout.read()[-3000:]
        assert time.monotonic() < deadline, "no training checkpoint appeared"
        time.sleep(0.1)
    # Kill it the hard way, like a lost login node: Snakemake and every Slurm job.
    first.send_signal(signal.SIGKILL)
    first.wait()
    subprocess.run(["scancel", "--user", os.environ.get("USER", "root")], check=False)
    time.sleep(3)
    killed_after = torch.load(checkpoint, weights_only=False)["epoch"]
    assert 1 <= killed_after < CONFIG["training"]["epochs"]
    finished_before = {p for p in (cluster / "results").rglob("*") if p.is_file() and "slurm-logs" not in str(p)}

    second = subprocess.run(["timeout", "-s", "KILL", "1500", *command(cluster, "--profile", str(profile))],
                            capture_output=True, text=True)
    assert second.returncode == 0, second.stdout[-5000:] + second.stderr[-3000:]

    train_log = (cluster / "results/tiny/logs/models/bp/seed-1/train.log").read_text()
    assert re.search(r"resuming from .*checkpoint\.pt after epoch \d+", train_log), train_log[-2000:]
    # GPU rules ran on the GPU Slurm gave them (gres backed by /dev/null: CUDA_VISIBLE_DEVICES set).
    for log in ["models/bp/seed-2/train.log", "activations/bp/seed-1.log"]:
        text = (cluster / "results/tiny/logs" / log).read_text()
        assert re.search(r"CUDA_VISIBLE_DEVICES=\d", text), (log, text[-1000:])
    # Nothing that had finished was redone: its rule is not among the second run's jobs.
    rerun = set(re.findall(r"^rule (\w+):", second.stdout, re.M)) | set(re.findall(r"^rule (\w+):", second.stderr, re.M))
    assert "prepare_training_set" not in rerun and "make_demo_brain_dataset" not in rerun, rerun
    assert any("training_set.npz" in str(p) for p in finished_before)

    for table in ["rsa/scores.tsv", "stats/summary.tsv"]:
        pd.testing.assert_frame_equal(
            pd.read_csv(cluster / "results/tiny" / table, sep="\t"),
            pd.read_csv(local / "results/tiny" / table, sep="\t"),
        )
    for name in ["bp/seed-1", "untrained/seed-2"]:
        a = pd.read_csv(cluster / f"results/tiny/models/{name}/history.tsv", sep="\t").drop(columns="seconds")
        b = pd.read_csv(local / f"results/tiny/models/{name}/history.tsv", sep="\t").drop(columns="seconds")
        pd.testing.assert_frame_equal(a, b)
