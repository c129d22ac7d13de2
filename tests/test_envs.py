"""Conda environments: each rule names one, and each env lists exactly the packages its
rules' scripts import (followed through the lrrsa modules they use); pins agree with
pyproject.toml. `--use-conda` cannot build them here (no conda channels), so this
checks them statically."""

import ast
import re
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

from conftest import REPO, rule_blocks

SCRIPTS = REPO / "workflow" / "scripts"
# Import name -> conda-forge package name, where they differ.
CONDA_NAME = {"torch": "pytorch", "PIL": "pillow", "yaml": "pyyaml", "tables": "pytables", "sklearn": "scikit-learn",
              "netCDF4": "netcdf4"}
# Conda package name -> pip (pyproject) name, where they differ.
PIP_NAME = {"pytorch": "torch", "pytables": "tables", "pyyaml": "pyyaml"}


def rules() -> dict[str, dict[str, Path]]:
    """rule name -> {"conda": env file, "script": script file}, read from the rule files."""
    found = {}
    for name, (smk, block) in rule_blocks().items():
        entry = {}
        for directive in ("conda", "script"):
            if match := re.search(rf"^[ \t]+{directive}:\s*\n\s+\"([^\"]+)\"", block, re.M):
                entry[directive] = (smk.parent / match.group(1)).resolve()
        found[name] = entry
    return found


def module_file(module: str) -> Path | None:
    if not module.startswith("lrrsa"):
        return None
    path = SCRIPTS.joinpath(*module.split("."))
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def third_party_imports(script: Path) -> set[str]:
    """Top-level third-party modules a script needs, through every lrrsa module it imports
    (function-level imports included); pandas HDF5 I/O counts as needing `tables`."""
    needed, seen, todo = set(), set(), [script]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        source = path.read_text()
        if re.search(r"\.(to_hdf|read_hdf)\(|pd\.HDFStore", source):
            needed.add("tables")
        for node in ast.walk(ast.parse(source)):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            for name in names:
                if (target := module_file(name)) is not None:
                    if target.exists():
                        todo.append(target)
                elif name.split(".")[0] not in sys.stdlib_module_names and name != "__future__":
                    needed.add(name.split(".")[0])
    return needed


def env_packages(env: Path) -> dict[str, str]:
    """conda package -> pinned version ('' when not pinned to one release), python excluded."""
    packages = {}
    for dep in yaml.safe_load(env.read_text())["dependencies"]:
        name, operator, version = re.match(r"([A-Za-z0-9_.-]+)\s*(=+|>=|<=|>|<|!=)?\s*(.*)", dep).groups()
        if name != "python":
            packages[name] = version if operator in ("=", "==") else ""
    return packages


def test_every_rule_names_an_env_and_a_script():
    missing = {name: entry for name, entry in rules().items() if name not in ("all", "dataset_all") and set(entry) != {"conda", "script"}}
    assert missing == {}
    for entry in rules().values():
        for path in entry.values():
            assert path.exists(), path


def test_each_env_lists_exactly_what_its_scripts_import():
    wanted: dict[Path, set[str]] = {}
    for entry in rules().values():
        if "conda" in entry:
            imports = third_party_imports(entry["script"])
            wanted.setdefault(entry["conda"], set()).update(CONDA_NAME.get(name, name) for name in imports)
    assert wanted, "no rules found"
    for env, packages in wanted.items():
        assert set(env_packages(env)) == packages, f"{env.name}: lists {sorted(env_packages(env))}, scripts import {sorted(packages)}"


@pytest.mark.parametrize("env", sorted((REPO / "envs").glob("*.yaml")), ids=lambda p: p.name)
def test_env_pins_agree_with_pyproject(env):
    declared = yaml.safe_load(env.read_text())
    assert declared["channels"][0] == "conda-forge"
    assert any(str(dep).startswith("python=3.11") for dep in declared["dependencies"])
    requirements = {
        Requirement(r).name.lower(): Requirement(r)
        for r in tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    }
    for package, version in env_packages(env).items():
        assert version, f"{env.name}: {package} is not pinned to a release (name=X.Y)"
        pip = PIP_NAME.get(package, package).lower()
        assert pip in requirements, f"{env.name}: {package} is not a dependency in pyproject.toml"
        assert requirements[pip].specifier.contains(version + ".0", prereleases=True) or \
            requirements[pip].specifier.contains(version, prereleases=True), (
            f"{env.name}: {package}={version} is outside pyproject's {requirements[pip]}")
