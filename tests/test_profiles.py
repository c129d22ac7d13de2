"""Resources every rule declares, and the Slurm and workstation profiles as Snakemake
reads them (a dry run through each profile). The real cluster run is tests/slurm."""

import re
import subprocess
import sys

import pytest
import yaml

from conftest import REPO, rule_blocks

PROFILES = REPO / "workflow" / "profiles"
GPU_RULES = {"train_model", "extract_activations", "extract_encoding_activations", "fit_encoding",
             "fit_reference_encoding", "extract_pretrained_activations", "extract_pretrained_encoding_activations"}
# Rules whose memory or time grows with the data; a retry must ask for more.
DEMO = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
# One training job per (condition, seed) of the demo, and per dataset one extraction job.
MODELS = len(DEMO["conditions"]) * len(DEMO["seeds"])
DATASETS = list(DEMO["brain_data"])
HEAVY_RULES = GPU_RULES | {"compute_model_rdms", "compute_brain_rdms", "compute_pixel_rdm", "compute_split_half_rdms",
                           "run_roi_tests", "run_pixel_baseline_tests", "estimate_noise_ceiling", "select_layers",
                           "score_model"}


def resource_block(block: str) -> str:
    match = re.search(r"^([ \t]+)resources:\n((?:\1[ \t]+.*\n)+)", block, re.M)
    return match.group(2) if match else ""


@pytest.mark.parametrize("name", sorted(rule_blocks()))
def test_every_rule_declares_threads_memory_and_runtime(name):
    if name in ("all", "dataset_all"):  # targets, no jobs of their own
        return
    _, block = rule_blocks()[name]
    assert re.search(r"^[ \t]+threads: ", block, re.M), f"rule {name}: no threads"
    resources = resource_block(block)
    for key in ("mem_mb", "runtime"):
        assert re.search(rf"^\s+{key}=", resources, re.M), f"rule {name}: no {key} in resources"
    # Partitions and accounts belong to the profile, never to rule code.
    assert "slurm_" not in block, f"rule {name} names a Slurm setting"


@pytest.mark.parametrize("name", sorted(HEAVY_RULES))
def test_heavy_rules_ask_for_more_on_each_retry(name):
    resources = resource_block(rule_blocks()[name][1])
    for key in ("mem_mb", "runtime"):
        assert re.search(rf"^\s+{key}=lambda wildcards, attempt: .*\* attempt", resources, re.M), (name, key)


def test_only_the_gpu_rules_ask_for_a_gpu():
    asking = {name for name, (_, block) in rule_blocks().items() if re.search(r"^\s+gpu=", resource_block(block), re.M)}
    assert asking == GPU_RULES


def dry_run(tmp_path, *args):
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(tmp_path),
           "-n", *args, "--configfile", str(REPO / "config/demo.yaml")]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout + result.stderr


def job_resources(output: str, rule: str) -> list[str]:
    """The resources line of every job of a rule in a dry run (grouped jobs are indented)."""
    return re.findall(rf"^\s*rule {rule}:\n(?:\s+.*\n)*?\s+resources: (.*)$", output, re.M)


def test_slurm_profile_is_read_and_sends_gpu_jobs_to_the_gpu_partition(tmp_path):
    pytest.importorskip("snakemake_executor_plugin_slurm")
    output = dry_run(tmp_path, "--profile", str(PROFILES / "slurm"))
    train = job_resources(output, "train_model")
    assert len(train) == MODELS and all("gpu=1" in r and "slurm_partition=gpu" in r for r in train), train[:2]
    for dataset in DATASETS:  # each dataset's copy of a rule takes the profile's settings of the rule
        extract = job_resources(output, f"{dataset}_extract_activations")
        assert len(extract) == MODELS and all("gpu=1" in r and "slurm_partition=gpu" in r for r in extract), extract[:2]
        rdm = job_resources(output, f"{dataset}_compute_model_rdms")
        assert len(rdm) == MODELS and all("slurm_partition=cpu" in r and "gpu" not in r for r in rdm), rdm[:2]
    # Each model's RDMs and scores go to Slurm as group jobs of 5 models, not one by one.
    assert output.count("Group job model_rdms") == -(-len(DATASETS) * MODELS // 5)


def test_slurm_profile_settings():
    profile = yaml.safe_load((PROFILES / "slurm" / "config.yaml").read_text())
    assert profile["executor"] == "slurm" and profile["retries"] >= 1
    assert set(profile["set-resources"]) == GPU_RULES
    # Grouped tiny jobs: every grouped rule exists, and groups are bounded in width.
    groups = dict(item.split("=") for item in profile["groups"])
    assert set(groups) <= set(rule_blocks()) and isinstance(profile["cores"], int)
    # Every figure is a tiny job: a new plot rule must join the figures group.
    plots = {name for name in rule_blocks() if name.startswith("plot_")}
    assert {name for name in plots if groups.get(name) != "figures"} == set()
    assert set(dict(item.split("=") for item in profile["group-components"])) <= set(groups.values())


def test_workstation_profile_limits_gpu_jobs(tmp_path):
    profile = yaml.safe_load((PROFILES / "workstation" / "config.yaml").read_text())
    assert profile["resources"] == ["gpu=1"] and profile["software-deployment-method"] == "conda"
    # Conda cannot build environments here: read the profile without that one key.
    del profile["software-deployment-method"]
    (tmp_path / "profile").mkdir()
    (tmp_path / "profile" / "config.yaml").write_text(yaml.safe_dump(profile))
    output = dry_run(tmp_path, "--profile", str(tmp_path / "profile"))
    for dataset in DATASETS:
        extract = job_resources(output, f"{dataset}_extract_activations")
        assert len(extract) == MODELS and all("gpu=1" in r for r in extract)
