"""The chart's Tasks and Pipelines are the files of tasks/ and pipeline/, read through symlinks,
changed only where the chart injects values (labels, namespace, sync wave, string param defaults)."""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from support.helm import CHART, REPO, find, render

FOLDERS = {"tasks": "Task", "pipeline": "Pipeline"}
INJECTED_PARAMS = ("image-registry", "cache-repo", "max-parallel-builds")


def source_objects(folder: str, kind: str) -> dict[str, dict[str, Any]]:
    objects = {}
    for path in sorted((REPO / folder).glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == kind:
                objects[doc["metadata"]["name"]] = doc
    return objects


def without_injections(doc: dict[str, Any], chart_labels: set[str]) -> dict[str, Any]:
    """``doc`` minus what the chart adds: its labels, namespace, sync wave and injected defaults."""
    doc = copy.deepcopy(doc)
    meta = doc["metadata"]
    meta.pop("namespace", None)
    for key in chart_labels:
        meta.get("labels", {}).pop(key, None)
    if not meta.get("labels"):
        meta.pop("labels", None)
    meta.get("annotations", {}).pop("argocd.argoproj.io/sync-wave", None)
    if not meta.get("annotations"):
        meta.pop("annotations", None)
    for param in doc.get("spec", {}).get("params", []):
        if param["name"] in INJECTED_PARAMS:
            param.pop("default", None)
    return doc


@pytest.mark.parametrize("folder", FOLDERS)
def test_chart_folder_is_a_symlink_to_the_repository_folder(folder: str) -> None:
    link = CHART / "files" / folder
    assert link.is_symlink(), f"{link} must be a symlink (no second copy of {folder}/)"
    assert (link.parent / os.readlink(link)).resolve() == (REPO / folder).resolve()


@pytest.mark.parametrize("folder,kind", FOLDERS.items())
def test_chart_renders_exactly_the_repository_objects(folder: str, kind: str) -> None:
    sources = source_objects(folder, kind)
    assert sources, f"{folder}/ holds no {kind}"
    rendered = {d["metadata"]["name"]: d for d in find(render(), kind)}
    assert sorted(rendered) == sorted(sources)
    chart_labels = set(render()[0]["metadata"]["labels"])
    for name, source in sources.items():
        assert without_injections(rendered[name], chart_labels) == without_injections(source, chart_labels), name


def test_a_changed_task_file_changes_the_chart_without_any_copy_step(tmp_path: Path) -> None:
    """Build a throwaway repository whose chart links to a tasks/ we edit: the edit shows at once."""
    repo = tmp_path / "repo"
    (repo / "helm").mkdir(parents=True)
    import shutil

    shutil.copytree(CHART, repo / "helm" / "tekton-dag", symlinks=True)
    for folder in FOLDERS:
        shutil.copytree(REPO / folder, repo / folder)
    task_file = sorted((repo / "tasks").glob("*.yaml"))[0]
    task = yaml.safe_load(task_file.read_text())
    task["spec"]["description"] = "edited in place"
    task_file.write_text(yaml.safe_dump(task))
    docs = render(chart=repo / "helm" / "tekton-dag")
    edited = [d for d in find(docs, "Task", task["metadata"]["name"])]
    assert edited[0]["spec"]["description"] == "edited in place"


def declared(docs: list[dict[str, Any]], param: str) -> list[tuple[str, Any]]:
    return [(d["metadata"]["name"], p.get("default")) for d in docs if d["kind"] in FOLDERS.values()
            for p in d["spec"].get("params", []) if p["name"] == param and p.get("type", "string") == "string"]


@pytest.mark.parametrize("param,value_key,value", [
    ("image-registry", "team.imageRegistry", "registry.team.example:5000"),
    ("cache-repo", "team.cacheRepo", "registry.team.example:5000/cache"),
    ("max-parallel-builds", "team.maxParallelBuilds", "7"),
])
def test_team_facts_reach_the_param_defaults(param: str, value_key: str, value: str) -> None:
    found = declared(render(sets=[f"{value_key}={value}"]), param)
    assert found, f"no Task or Pipeline declares {param}"
    assert {default for _, default in found} == {value}


def test_param_defaults_value_overrides_any_declared_param() -> None:
    docs = render()
    name = next(p["name"] for d in docs if d["kind"] == "Task" for p in d["spec"].get("params", [])
                if p.get("type", "string") == "string" and p["name"] not in INJECTED_PARAMS)
    found = declared(render(sets=[f"tekton.paramDefaults.{name}=pinned-by-values"]), name)
    assert found and {default for _, default in found} == {"pinned-by-values"}


def test_object_param_defaults_target_one_object() -> None:
    """Several compile tasks share the param name `image`: one of them can be given its own."""
    docs = render()
    shared = {}
    for doc in (d for d in docs if d["kind"] == "Task"):
        for param in doc["spec"].get("params", []):
            if param.get("type", "string") == "string" and param["name"] not in INJECTED_PARAMS:
                shared.setdefault(param["name"], []).append(doc["metadata"]["name"])
    name, owners = next((n, o) for n, o in sorted(shared.items()) if len(o) > 1)
    target, other = owners[0], owners[1]
    docs = render(sets=[f"tekton.objectParamDefaults.{target}.{name}=only-here:1"])
    defaults = {d["metadata"]["name"]: p.get("default") for d in docs if d["kind"] == "Task"
                for p in d["spec"].get("params", []) if p["name"] == name}
    assert defaults[target] == "only-here:1" and defaults[other] != "only-here:1"


def test_tekton_objects_can_be_left_out() -> None:
    docs = render(sets=["tekton.enabled=false"])
    assert not find(docs, "Task") and not find(docs, "Pipeline")


@pytest.mark.parametrize("kind", FOLDERS.values())
def test_every_task_and_pipeline_states_its_minimum_tekton_version(kind: str) -> None:
    """The Tekton catalog's `tekton.dev/pipelines.minVersion` annotation (github.com/tektoncd/catalog,
    "Catalog Structure"), on Pipelines as on Tasks, so an older Tekton is refused with a reason."""
    import re

    for doc in find(render(), kind):
        version = doc["metadata"].get("annotations", {}).get("tekton.dev/pipelines.minVersion", "")
        assert re.fullmatch(r"\d+\.\d+\.\d+", version), f"{kind}/{doc['metadata']['name']}: minVersion {version!r}"
