"""Each image's install, done here in a clean venv from its build context alone, then its entry point.

The build context is what `scripts/build-images` stages (the core wheel built from this checkout);
the third-party wheels come from a local wheelhouse; pip runs with ``--no-index`` and no pip
configuration, so no index could supply a ``tekton-dag``. Then the image's entry point
(``tekton-dag serve`` with ``TEKTON_DAG_FUNCTION``, what the Dockerfile sets) starts in that venv
on loopback and answers ``/health/readiness`` (the dead-letter sink's with a fake API to keep its
letters in). What this does not cover: the base image itself
(test_image_build.py builds over a Debian one; the pinned python image is not reachable here).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from support.images import NO_PIP_CONFIG, build_images, core_wheel, wheelhouse
from tekton_dag.testing.github import environment, write_teams
from tekton_dag.testing.kube_api import FakeKubeApi
from tekton_dag.testing.serving import served_function

pytestmark = pytest.mark.slow

FUNCTIONS = ("webhook-ingest", "resolver", "run-creator", "bootstrap-batcher", "status-reporter", "all-in-one",
             "dead-letters")


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory) -> Path:
    context = tmp_path_factory.mktemp("context")
    result = build_images("--stage-only", "--context", str(context))
    assert result.returncode == 0, result.stderr
    return context


@pytest.fixture(scope="module")
def wheels(context: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return wheelhouse(core_wheel(context), tmp_path_factory.mktemp("wheelhouse"))


@pytest.fixture(scope="module")
def venv(context: Path, wheels: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    # As the Dockerfile's build stage does: the core by file path, the rest from find-links.
    installed = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--quiet", "--no-index", "--find-links", str(context / "wheels"),
         "--find-links", str(wheels), str(core_wheel(context))],
        capture_output=True, text=True, env=NO_PIP_CONFIG)
    assert installed.returncode == 0, installed.stderr
    return venv


def test_no_index_could_supply_the_core(wheels: Path, tmp_path: Path) -> None:
    """The control: the same pip, without the context, cannot find a tekton-dag at all."""
    result = subprocess.run([sys.executable, "-m", "pip", "download", "--no-index", "--find-links", str(wheels),
                             "--dest", str(tmp_path), "--no-deps", "tekton-dag"],
                            capture_output=True, text=True, env=NO_PIP_CONFIG)
    assert result.returncode != 0
    assert "No matching distribution found for tekton-dag" in result.stderr


def test_the_venv_runs_the_core_of_this_checkout(venv: Path, context: Path) -> None:
    version = subprocess.run(
        [str(venv / "bin" / "tekton-dag"), "--version"], capture_output=True, text=True, check=True
    )
    assert version.stdout.split() == ["tekton-dag", core_wheel(context).name.split("-")[1]]


@pytest.mark.parametrize("function", FUNCTIONS)
def test_the_entry_point_serves_the_function_and_is_ready(function: str, venv: Path, tmp_path: Path,
                                                          request: pytest.FixtureRequest) -> None:
    env = {**environment(write_teams(tmp_path / "teams")), "TEKTON_DAG_FUNCTION": function}
    if function == "dead-letters":  # its store is ConfigMaps in its namespace (the chart sets it): an API to reach
        kube_api: FakeKubeApi = request.getfixturevalue("kube_api")
        env |= {"TEKTON_DAG_NAMESPACE": "tekton-dag", "KUBECONFIG": str(kube_api.kubeconfig)}
    entry_point = [str(venv / "bin" / "tekton-dag"), "serve"]  # the Dockerfile's ENTRYPOINT, in the venv
    with served_function(function, env, tmp_path, command=entry_point) as served:
        assert httpx.get(f"{served.url}/health/readiness", timeout=5).status_code == 200
        assert httpx.get(f"{served.url}/health/liveness", timeout=5).status_code == 200
