"""functions/run-creator is a thin Knative func project over the core."""

from __future__ import annotations

import importlib.util
import json
import tomllib

import yaml

from runcreator.conftest import ROOT
from tekton_dag.events.requests import RunRequest
from tekton_dag.functions import run_creator, serving

PROJECT = ROOT / "functions" / "run-creator"


def test_func_yaml_is_a_cloudevent_python_function_with_a_namespace() -> None:
    spec = yaml.safe_load((PROJECT / "func.yaml").read_text())
    assert (spec["specVersion"], spec["name"], spec["runtime"], spec["invoke"]) == (
        "0.36.0",
        "run-creator",
        "python",
        "cloudevent",
    )
    assert spec["invoke"] == serving.FUNCTIONS["run-creator"].invoke
    assert spec["created"] and spec["deploy"]["namespace"] and not spec["deploy"].get("subscriptions")


def test_the_project_depends_on_the_core_and_reexports_its_new() -> None:
    project = tomllib.loads((PROJECT / "pyproject.toml").read_text())
    assert any(dep.startswith("tekton-dag") for dep in project["project"]["dependencies"])
    spec = importlib.util.spec_from_file_location("func_project_run_creator", PROJECT / "function" / "func.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.new is run_creator.new


def test_the_sample_for_kn_func_invoke_is_a_valid_run_request() -> None:
    request = RunRequest.from_data(json.loads((PROJECT / "sample.json").read_text()))
    assert (request.team, request.pipeline) == ("default", "stack-pr-test")
