"""The run record: the config written back as YAML, package versions per environment,
the torch build rows, and the git state (against git itself)."""

import importlib.metadata
import platform
import shutil
import subprocess
import sys
import types

import pytest
import yaml

from conftest import REPO
from lrrsa import provenance
from lrrsa.config import load_schema, validate_config
from lrrsa.provenance import (
    SOFTWARE_COLUMNS, config_yaml, env_file_packages, env_software, git_state, package_version, read_rows,
    software_table, write_rows,
)

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"


def test_the_config_record_reloads_to_the_validated_config():
    validated = validate_config(yaml.safe_load((REPO / "config" / "demo.yaml").read_text()), load_schema(SCHEMA))
    text = config_yaml(validated)
    assert text.startswith("# The configuration of run demo")
    reloaded = yaml.safe_load(text)
    assert reloaded == validated and list(reloaded) == list(validated)  # same values, same key order
    assert validate_config(reloaded, load_schema(SCHEMA)) == validated  # usable as --configfile


def test_env_file_packages(tmp_path):
    env = tmp_path / "env.yaml"
    env.write_text("channels: [conda-forge]\ndependencies:\n  - python=3.11\n  - numpy>=1.26\n  - pytables >=3.9\n"
                   "  - pip\n  - pip:\n      - something\n")
    assert env_file_packages(env) == ["python", "numpy", "pytables", "pip"]
    assert "tabulate" in env_file_packages(REPO / "envs" / "analysis.yaml")


def test_package_versions_come_from_the_installed_distributions():
    assert package_version("pandas") == importlib.metadata.version("pandas")
    assert package_version("pytables") == importlib.metadata.version("tables")  # conda name -> distribution
    assert package_version("surely-not-a-package-xyz") == "not installed"


def test_env_software_lists_interpreter_and_each_package():
    rows = env_software("analysis", ["python", "pandas", "surely-not-a-package-xyz"])
    assert all(env == "analysis" for env, _, _ in rows)
    values = {name: version for _, name, version in rows}
    assert values["python"] == platform.python_version()
    assert values["prefix"] == sys.prefix
    assert values["pandas"] == importlib.metadata.version("pandas")
    assert values["surely-not-a-package-xyz"] == "not installed"
    assert "torch_cuda_build" not in values  # torch rows only where the env lists pytorch


@pytest.mark.parametrize("cuda, cudnn, gpus, expected", [
    (None, None, [], {"torch_cuda_build": "none (CPU build)", "torch_cudnn": "none", "visible_gpus": "none"}),
    ("12.4", 90100, ["NVIDIA H100", "NVIDIA H100"],
     {"torch_cuda_build": "12.4", "torch_cudnn": "90100", "visible_gpus": "NVIDIA H100; NVIDIA H100"}),
])
def test_torch_rows_report_the_build_and_visible_gpus(monkeypatch, cuda, cudnn, gpus, expected):
    fake = types.SimpleNamespace(
        version=types.SimpleNamespace(cuda=cuda),
        backends=types.SimpleNamespace(cudnn=types.SimpleNamespace(is_available=lambda: cudnn is not None,
                                                                   version=lambda: cudnn)),
        cuda=types.SimpleNamespace(is_available=lambda: bool(gpus), device_count=lambda: len(gpus),
                                   get_device_name=lambda i: gpus[i]),
    )
    monkeypatch.setattr(provenance.importlib, "import_module", lambda name: fake)
    monkeypatch.setattr(provenance, "package_version", lambda package: "2.4.0")
    values = {name: version for _, name, version in env_software("torch", ["python", "pytorch"])}
    assert values["pytorch"] == "2.4.0"
    assert {key: values[key] for key in expected} == expected


git = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


def run_git(directory, *args):
    result = subprocess.run(["git", "-C", str(directory), *args], capture_output=True, text=True, check=True)
    return result.stdout.strip()


@git
def test_git_state_names_the_commit_and_uncommitted_changes(tmp_path):
    run_git(tmp_path, "init", "-q")
    (tmp_path / "Snakefile").write_text("rule all:\n")
    run_git(tmp_path, "add", "Snakefile")
    run_git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "first")
    commit = run_git(tmp_path, "rev-parse", "HEAD")
    assert git_state(tmp_path) == [("git_commit", commit), ("git_uncommitted_changes", "no")]
    (tmp_path / "untracked.txt").write_text("x")  # untracked files do not count
    assert dict(git_state(tmp_path))["git_uncommitted_changes"] == "no"
    (tmp_path / "Snakefile").write_text("rule all:\n    input: []\n")
    assert git_state(tmp_path) == [("git_commit", commit), ("git_uncommitted_changes", "yes")]
    # A folder inside someone else's checkout is not a checkout of the workflow.
    (tmp_path / "sub").mkdir()
    assert git_state(tmp_path / "sub") == [("git_commit", "unavailable (not a git checkout)")]


def test_git_state_outside_a_checkout(tmp_path):
    assert git_state(tmp_path / "missing") == [("git_commit", "unavailable (not a git checkout)")]


def test_software_table_round_trip(tmp_path):
    env_rows = [[("analysis", "python", "3.11.7"), ("analysis", "platform", "Linux\twith a tab")],
                [("torch", "pytorch", "2.4.0")]]
    rows = software_table(env_rows, snakemake_version="9.1.0", workflow_dir=tmp_path)
    assert rows[0] == ("workflow", "snakemake", "9.1.0") and rows[1][1] == "git_commit"
    assert rows[-3:] == [row for block in env_rows for row in block]
    write_rows(rows, tmp_path / "software.tsv")
    assert (tmp_path / "software.tsv").read_text().splitlines()[0] == "\t".join(SOFTWARE_COLUMNS)
    assert read_rows(tmp_path / "software.tsv") == rows
