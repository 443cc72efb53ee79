"""The Knative func projects are thin: the current func-python layout, re-exporting the core's ``new``."""

from __future__ import annotations

import importlib
import importlib.util
import tomllib
from pathlib import Path

import pytest
import yaml

from tekton_dag.events import catalog, github, schemas
from tekton_dag.functions import serving

ROOT = Path(__file__).parents[2]
PROJECTS = {"webhook-ingest": "http", "resolver": "cloudevent"}


@pytest.mark.parametrize(("name", "invoke"), PROJECTS.items())
def test_func_yaml_follows_the_current_schema(name: str, invoke: str) -> None:
    spec = yaml.safe_load((ROOT / "functions" / name / "func.yaml").read_text())
    assert spec["specVersion"] == "0.36.0" and spec["name"] == name and spec["runtime"] == "python"
    assert spec["invoke"] == invoke == serving.FUNCTIONS[name].invoke
    assert spec["created"] and spec["deploy"]["namespace"]
    assert not spec["deploy"].get("subscriptions")  # Triggers belong to knative/ and the Helm chart


@pytest.mark.parametrize("name", PROJECTS)
def test_the_project_depends_on_the_core_and_reexports_its_new(name: str) -> None:
    project = tomllib.loads((ROOT / "functions" / name / "pyproject.toml").read_text())
    assert any(dep.startswith("tekton-dag") for dep in project["project"]["dependencies"])
    path = ROOT / "functions" / name / "function" / "func.py"
    module_spec = importlib.util.spec_from_file_location(f"func_project_{name.replace('-', '_')}", path)
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    assert module.new is importlib.import_module(serving.FUNCTIONS[name].module).new


def test_webhook_ingest_never_scales_to_zero() -> None:
    spec = yaml.safe_load((ROOT / "functions" / "webhook-ingest" / "func.yaml").read_text())
    assert spec["deploy"]["options"]["scale"]["min"] >= 1


def test_the_resolver_sample_for_kn_func_invoke_is_valid_data() -> None:
    data = yaml.safe_load((ROOT / "functions" / "resolver" / "sample.json").read_text())
    schemas.check(catalog.GITHUB_PULL_REQUEST, data, AssertionError)
    assert github.GitHubEvent.from_data(catalog.GITHUB_PULL_REQUEST, "sample", data).repo == "jmjava/tekton-dag-vue-fe"
