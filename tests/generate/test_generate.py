"""scripts/generate: every generated copy of a shared fact is fresh, and --check names each stale one.

The generators run as CI runs them (``scripts/generate``, a subprocess) on this checkout, or on a
copy of it when a test makes files stale. What the routing generator writes is checked for meaning
in tests/broker/test_knative_manifests.py (the local Broker reads it) and tests/helm/test_eventing.py.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

import tekton_dag
from tekton_dag.bus import routing
from tekton_dag.functions.serving import FUNCTIONS

REPO = Path(__file__).resolve().parents[2]
# Never in a fresh clone (.gitignore): tools, caches and build outputs (scripts/build-images stages into build/).
NOT_COPIED = shutil.ignore_patterns(
    ".git", ".venv", ".tools", "__pycache__", ".pytest_cache", ".hypothesis", "*.egg-info", "build", "dist"
)


def generate(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(root / "scripts" / "generate"), *args], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHON": sys.executable})


def run_generator(name: str, root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    script = REPO / "scripts" / "generators" / f"{name}.py"
    return subprocess.run([sys.executable, str(script), "--root", str(root), *args],
                          capture_output=True, text=True, timeout=60)


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A copy of this checkout's files (no .git, .venv, tools) that a test may make stale."""
    root = tmp_path / "repo"
    shutil.copytree(REPO, root, symlinks=True, ignore=NOT_COPIED)
    return root


def test_no_generated_file_is_stale() -> None:
    result = generate(REPO, "--check")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


@pytest.mark.slow  # two runs of every generator on a copy of the checkout
def test_check_names_every_stale_file_writes_nothing_and_generate_mends_them(checkout: Path) -> None:
    edited = {
        "knative/triggers.yaml": lambda t: t.replace("name: resolver-github-push", "name: resolver-push"),
        "helm/tekton-dag/files/routing.yaml": lambda t: t.replace("  inputs: {}\n", ""),
        "functions/resolver/pyproject.toml": lambda t: t.replace('"tekton-dag==0.', '"tekton-dag==9.'),
        "helm/tekton-dag/Chart.yaml": lambda t: re.sub(r"(?m)^appVersion: .*$", 'appVersion: "9.9.9"', t),
        "tasks/post-result.yaml": lambda t: t + "# an edit by hand\n",
        "teams/default/values.yaml": lambda t: t + "# an edit by hand\n",
    }
    for path, edit in edited.items():
        before = (checkout / path).read_text()
        assert edit(before) != before, f"the test's edit of {path} changes nothing"
        (checkout / path).write_text(edit(before))
    snapshot = {path: (checkout / path).read_text() for path in edited}

    result = generate(checkout, "--check")

    assert result.returncode == 1
    assert {path: (checkout / path).read_text() for path in edited} == snapshot, "--check wrote"
    for path in edited:
        assert path in result.stderr, (path, result.stderr)
    assert generate(checkout).returncode == 0
    for path in edited:
        assert (checkout / path).read_text() == (REPO / path).read_text(), path


@pytest.mark.slow  # two runs of every generator on a copy of the checkout
def test_a_version_bump_in_pyproject_reaches_every_copy(checkout: Path) -> None:
    pyproject = checkout / "pyproject.toml"
    version = tomllib.loads(pyproject.read_text())["project"]["version"]
    pyproject.write_text(pyproject.read_text().replace(f'version = "{version}"', 'version = "9.8.7"', 1))

    stale = generate(checkout, "--check")
    assert stale.returncode == 1
    for path in ("functions/run-creator/pyproject.toml", "helm/tekton-dag/Chart.yaml", "knative/services.yaml",
                 "tasks/containerize.yaml", "pipeline/stack-pr-test.yaml"):
        assert path in stale.stderr, (path, stale.stderr)

    assert generate(checkout).returncode == 0
    # ci/minimal-values.yaml overrides the image tag with a pre-release of its own: not a copy.
    left = subprocess.run(["grep", "-rlF", version, "--exclude-dir=tests", "--exclude-dir=bench",
                           "--exclude=minimal-values.yaml", "."],
                          cwd=checkout, capture_output=True, text=True)
    assert left.stdout == "", f"{version} still written in:\n{left.stdout}"
    chart = yaml.safe_load((checkout / "helm/tekton-dag/Chart.yaml").read_text())
    assert (chart["version"], chart["appVersion"]) == ("9.8.7", "9.8.7")


def test_a_version_the_chart_cannot_spell_is_refused(checkout: Path) -> None:
    pyproject = checkout / "pyproject.toml"
    pyproject.write_text(re.sub(r'(?m)^version = ".*"$', 'version = "0.11.0rc1"', pyproject.read_text(), count=1))
    result = run_generator("version", checkout)
    assert result.returncode == 1
    assert "pyproject.toml: [project] version '0.11.0rc1' is not MAJOR.MINOR.PATCH; nothing written" in result.stderr
    assert "0.11.0rc1" not in (checkout / "helm/tekton-dag/Chart.yaml").read_text()


def test_a_copy_that_lost_its_version_line_is_named(checkout: Path) -> None:
    chart = checkout / "helm/tekton-dag/Chart.yaml"
    chart.write_text(re.sub(r"(?m)^appVersion: .*\n", "", chart.read_text()))
    result = run_generator("version", checkout, "--check")
    assert result.returncode == 1
    assert "helm/tekton-dag/Chart.yaml: no line matches" in result.stderr and "appVersion" in result.stderr


def test_the_package_reports_the_pyproject_version() -> None:
    assert tekton_dag.__version__ == tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]


def test_the_chart_lists_every_function_with_its_values_key_and_inputs() -> None:
    listed = yaml.safe_load((REPO / "helm/tekton-dag/files/routing.yaml").read_text())
    values = yaml.safe_load((REPO / "helm/tekton-dag/values.yaml").read_text())
    assert list(listed) == list(FUNCTIONS)
    for function, entry in listed.items():
        assert entry["key"] in values["functions"], function
        assert {f"{function}-{name}": (a["type"], function) for name, a in entry["inputs"].items()} == \
            {name: route for name, route in routing.routes().items() if route[1] == function}
        assert all(a == routing.filter_attributes(function, a["type"]) for a in entry["inputs"].values())


def test_generated_files_say_so_and_where_they_come_from() -> None:
    for path in ("knative/triggers.yaml", "helm/tekton-dag/files/routing.yaml"):
        first = (REPO / path).read_text().splitlines()[0]
        assert first == "# Generated by scripts/generate from functions/core/tekton_dag/bus/routing.py: do not edit."
