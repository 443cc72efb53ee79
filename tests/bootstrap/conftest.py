"""Fixtures for bootstrap tests: real docker-registry instances, a teams root pointing at them,
and a recording Broker sink on loopback (real HTTP)."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tekton_dag.config.loading import load_config_or_raise
from tekton_dag.config.models import Config
from tekton_dag.testing.recorder import EventRecorder
from tekton_dag.testing.registry import Registry, start_registry

REPO_ROOT = Path(__file__).resolve().parents[2]
TEAM = "commerce"  # the 40-app example team (teams/commerce, stack "shop")
STACK = "shop"


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """An anonymous registry shared by the session; tests isolate themselves by image tag."""
    running = start_registry(tmp_path_factory.mktemp("registry"))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def basic_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    running = start_registry(tmp_path_factory.mktemp("registry-basic"), auth="basic")
    yield running
    running.stop()


@pytest.fixture(scope="module")
def token_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    running = start_registry(tmp_path_factory.mktemp("registry-token"), auth="token")
    yield running
    running.stop()


@pytest.fixture
def tag() -> str:
    """A fresh image tag: what this test pushes is invisible to every other test."""
    return f"t-{uuid.uuid4().hex[:12]}"


def make_teams(directory: Path, image_registry: str) -> Path:
    """A copy of the example teams root with the commerce team's registry replaced."""
    root = directory / "teams"
    shutil.copytree(REPO_ROOT / "teams", root)
    team_file = root / TEAM / "team.yaml"
    document = yaml.safe_load(team_file.read_text())
    document["imageRegistry"] = image_registry
    team_file.write_text(yaml.safe_dump(document, sort_keys=False))
    return root


@pytest.fixture
def teams_for(tmp_path: Path):  # type: ignore[no-untyped-def]
    """``teams_for(registry_host) -> (teams_dir, Config)``."""
    def build(image_registry: str) -> tuple[Path, Config]:
        root = make_teams(tmp_path / uuid.uuid4().hex[:6], image_registry)
        return root, load_config_or_raise(root)
    return build


@pytest.fixture
def sink() -> Iterator[EventRecorder]:
    recording = EventRecorder()
    with recording.serving():
        yield recording


@pytest.fixture
def request_fixture(request: pytest.FixtureRequest) -> pytest.FixtureRequest:
    """pytest's ``request`` under a name that does not clash with the tests' own ``request()``."""
    return request
