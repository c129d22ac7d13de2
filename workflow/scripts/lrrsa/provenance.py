"""The run record: the configuration a run used and the software each environment ran.

Every rule runs in one of the workflow's conda environments (under ``--use-conda`` each
in its own), so versions are recorded per environment by a job running in it
(:func:`env_software`). This module therefore imports only the standard library at
import time: ``torch`` only where the environment lists it (its CUDA/cuDNN build and
visible GPUs), ``yaml`` only to read env files and write the configuration.
:func:`software_table` adds what the workflow itself ran with (Snakemake, git commit).
"""

from __future__ import annotations

import csv
import importlib
import importlib.metadata
import os
import platform
import re
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

SOFTWARE_COLUMNS = ["env", "name", "version"]
Row = tuple[str, str, str]  # (env, name, version)
#: conda-forge package name -> installed distribution name, where they differ.
CONDA_TO_DISTRIBUTION = {"pytorch": "torch", "pytables": "tables"}
NOT_INSTALLED = "not installed"


def env_file_packages(path: Path | str) -> list[str]:
    """The conda package names a conda env file lists, version specs dropped."""
    import yaml  # not at the top: the per-environment records run where yaml may be absent

    dependencies = yaml.safe_load(Path(path).read_text())["dependencies"]
    return [re.match(r"[A-Za-z0-9_.-]+", dep).group(0) for dep in dependencies if isinstance(dep, str)]


def package_version(package: str) -> str:
    """The installed version of a conda (or pip) package name, or 'not installed'."""
    try:
        return importlib.metadata.version(CONDA_TO_DISTRIBUTION.get(package, package))
    except importlib.metadata.PackageNotFoundError:
        return NOT_INSTALLED


def interpreter() -> list[tuple[str, str]]:
    """Python and the machine this environment runs on."""
    return [
        ("python", platform.python_version()),
        ("python_implementation", platform.python_implementation()),
        ("platform", platform.platform()),
        ("prefix", sys.prefix),
    ]


def torch_build() -> list[tuple[str, str]]:
    """torch's CUDA and cuDNN build and the GPUs this job sees (none: CPU only)."""
    torch = importlib.import_module("torch")  # only where the environment lists pytorch
    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count() if torch.cuda.is_available() else 0)]
    return [
        ("torch_cuda_build", torch.version.cuda or "none (CPU build)"),
        ("torch_cudnn", str(cudnn) if cudnn else "none"),
        ("visible_gpus", "; ".join(gpus) if gpus else "none"),
    ]


def env_software(env: str, packages: Sequence[str]) -> list[Row]:
    """One environment's record: interpreter, then each package its env file names
    (``packages``: conda names) with the installed version."""
    rows = interpreter() + [(package, package_version(package)) for package in packages if package != "python"]
    if any(CONDA_TO_DISTRIBUTION.get(p, p) == "torch" for p in packages) and package_version("torch") != NOT_INSTALLED:
        rows += torch_build()
    return [(env, name, version) for name, version in rows]


def git_state(directory: Path | str) -> list[tuple[str, str]]:
    """The commit of the git checkout at ``directory`` and whether tracked files differ
    from it; 'unavailable' where there is no git or ``directory`` is not a checkout's top."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(directory), *args], capture_output=True, text=True, check=True,
                              timeout=30).stdout.strip()

    try:
        top = Path(git("rev-parse", "--show-toplevel")).resolve()
        if top != Path(directory).resolve():
            raise ValueError(f"{directory} is inside the checkout {top}, not its top")
        commit = git("rev-parse", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError, ValueError):
        return [("git_commit", "unavailable (not a git checkout)")]
    return [("git_commit", commit), ("git_uncommitted_changes", "yes" if dirty else "no")]


def software_table(env_rows: Sequence[Sequence[Row]], *, snakemake_version: str, workflow_dir: Path | str) -> list[Row]:
    """The workflow's own rows (Snakemake, git) followed by every environment's."""
    workflow = [("snakemake", snakemake_version), *git_state(workflow_dir)]
    return [("workflow", name, value) for name, value in workflow] + [row for rows in env_rows for row in rows]


def write_rows(rows: Sequence[Row], out: Path | str) -> None:
    """A TSV with header SOFTWARE_COLUMNS, written atomically."""
    out = Path(out)
    tmp = out.with_name(out.name + ".tmp")
    with open(tmp, "w", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(SOFTWARE_COLUMNS)
        writer.writerows(rows)
    os.replace(tmp, out)


def read_rows(path: Path | str) -> list[Row]:
    with open(path, newline="") as handle:
        reader = csv.reader(handle, delimiter="\t")
        if next(reader) != SOFTWARE_COLUMNS:
            raise ValueError(f"{path}: not a software table (header {SOFTWARE_COLUMNS})")
        return [tuple(row) for row in reader]


def _plain(value):
    """Mappings and sequences as plain dicts and lists (for YAML)."""
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def config_yaml(config: Mapping) -> str:
    """The validated configuration (defaults filled in) as YAML, in the config's key order."""
    import yaml  # here, not at the top: the per-environment records run where yaml may be absent

    header = (f"# The configuration of run {config.get('run', '?')!s}: the config file as validated against\n"
              "# workflow/schemas/config.schema.yaml, every default filled in. Usable as a --configfile.\n")
    return header + yaml.safe_dump(_plain(config), sort_keys=False, allow_unicode=True)


def write_config(config: Mapping, out: Path | str) -> None:
    Path(out).write_text(config_yaml(config))


def write_env_software(env: str, packages: Sequence[str], out: Path | str) -> None:
    write_rows(env_software(env, packages), out)


def write_software(env_tables: Sequence[Path | str], out: Path | str, *, snakemake_version: str,
                   workflow_dir: Path | str) -> None:
    env_rows = [read_rows(path) for path in env_tables]
    write_rows(software_table(env_rows, snakemake_version=snakemake_version, workflow_dir=workflow_dir), out)
