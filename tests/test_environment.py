"""Binder's environment.yml lists the same core packages as pyproject.toml."""

from __future__ import annotations

import re
from pathlib import Path

import tomllib
import yaml

ROOT = Path(__file__).resolve().parents[1]
ENVIRONMENT = ROOT / "environment.yml"
PYPROJECT = ROOT / "pyproject.toml"
#: pip name -> conda-forge name where they differ; all others are identical.
CONDA_NAMES = {"torch": "pytorch-cpu"}


def name_of(spec: str) -> str:
    """Package name of a requirement: ``"numpy>=1.26"``, ``"python=3.11"``, ``"conda-forge::x"``."""
    spec = spec.split("::")[-1].strip()
    return re.match(r"[A-Za-z0-9_.\-]+", spec).group(0).lower()


def load_environment() -> dict:
    assert ENVIRONMENT.is_file(), f"{ENVIRONMENT} is missing (Binder needs it)"
    return yaml.safe_load(ENVIRONMENT.read_text())


def conda_packages(env: dict) -> tuple[dict[str, str], list]:
    """(conda package name -> spec, the pip sub-list or [])."""
    conda, pip = {}, []
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            pip = dep.get("pip", [])
        else:
            conda[name_of(str(dep))] = str(dep)
    return conda, pip


def test_environment_yml_parses_for_binder():
    env = load_environment()
    assert env.get("channels") == ["conda-forge"]
    conda, pip = conda_packages(env)
    assert re.fullmatch(r"python\s*=+\s*3\.11(\.\*)?", conda["python"].replace(" ", "")), conda[
        "python"
    ]
    assert "pytorch-cpu" in conda and "torchvision" in conda
    assert "torch" not in conda and "pytorch" not in conda  # the CPU build only
    assert "pip" in conda and pip == ["-e ."]


def test_environment_lists_the_pyproject_dependencies():
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    core = {CONDA_NAMES.get(name_of(d), name_of(d)) for d in project["dependencies"]}
    dev = {name_of(d) for d in project.get("optional-dependencies", {}).get("dev", [])}
    conda, _ = conda_packages(load_environment())
    listed = set(conda) - {"python", "pip"}
    assert core - listed == set(), (
        f"in pyproject.toml but not environment.yml: {sorted(core - listed)}"
    )
    extra = listed - core - dev
    assert extra == set(), f"in environment.yml but not pyproject.toml: {sorted(extra)}"
