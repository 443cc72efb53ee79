"""Running the real helm binary on the chart, and validating what it renders.

Shared by tests/helm, tests/argocd and tests/docs.
helm comes from scripts/install-tools (``.tools/bin/helm``); when it is missing the tests fail
with that instruction, because CI always installs it. CRD schemas come from ``../shared/schemas``
beside the checkout; kinds without a schema there are reported, not silently passed.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "helm" / "tekton-dag"
TEAMS = REPO / "teams"
SCHEMAS = (REPO / ".." / "shared" / "schemas").resolve()
KUBE_VERSION = "1.30.0"
# Groups whose kinds are CRDs (validated against SCHEMAS); everything else is a core kind.
CRD_GROUPS = ("tekton.dev", "serving.knative.dev", "eventing.knative.dev", "sources.knative.dev", "argoproj.io")


def helm_binary(name: str = "helm") -> str:
    """helm (Helm 3) or helm4 (Helm 4), both from scripts/install-tools."""
    found = shutil.which(name, path=f"{REPO / '.tools' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}")
    if found is None:
        pytest.fail(f"{name} is not installed: run scripts/install-tools (it puts {name} in .tools/bin)")
    return found


def run_helm(*args: str | Path, check: bool = True, binary: str = "helm",
             cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run helm; with ``check`` a failure fails the test with helm's own message."""
    result = subprocess.run([helm_binary(binary), *map(str, args)], capture_output=True, text=True, timeout=120,
                            cwd=cwd)
    if check and result.returncode != 0:
        pytest.fail(f"helm {' '.join(map(str, args))} failed:\n{result.stderr}")
    return result


def team_namespace(values_files: Sequence[Path]) -> str:
    """The namespace a values file set asks for (the chart refuses any other)."""
    namespace = "tekton-pipelines"  # where the tests install when the values name no team.namespace
    for path in values_files:
        namespace = (yaml.safe_load(path.read_text()) or {}).get("team", {}).get("namespace", namespace)
    return namespace


def template_args(values_files: Sequence[Path], sets: Sequence[str], namespace: str | None, chart: Path,
                  tests: bool = False) -> list[str]:
    args = ["template", "tekton-dag", str(chart), "--namespace", namespace or team_namespace(values_files),
            "--kube-version", KUBE_VERSION]
    if not tests:
        args.append("--skip-tests")  # the release's objects; `helm test` hooks only when asked for
    for path in values_files:
        args += ["--values", str(path)]
    for assignment in sets:
        args += ["--set", assignment]
    return args


@functools.lru_cache(maxsize=64)
def _render_cached(values_files: tuple[Path, ...], sets: tuple[str, ...], namespace: str | None, chart: Path,
                   tests: bool) -> str:
    return run_helm(*template_args(values_files, sets, namespace, chart, tests)).stdout


def render(values_files: Iterable[Path] = (), sets: Iterable[str] = (), namespace: str | None = None,
           chart: Path = CHART, tests: bool = False) -> list[dict[str, Any]]:
    """The chart's documents for these values (helm template), as dicts; empty documents dropped.
    ``tests`` adds the `helm test` hooks (templates/tests/), which are not part of the release."""
    text = _render_cached(tuple(values_files), tuple(sets), namespace, chart, tests)
    return [doc for doc in yaml.safe_load_all(text) if doc]


def render_error(values_files: Iterable[Path] = (), sets: Iterable[str] = (), namespace: str | None = None) -> str:
    """helm template's stderr for values that must be rejected (fails the test if helm accepts them)."""
    result = run_helm(*template_args(tuple(values_files), tuple(sets), namespace, CHART), check=False)
    if result.returncode == 0:
        pytest.fail(f"helm accepted values it must reject: {list(values_files)} {list(sets)}")
    return result.stderr


def find(docs: Iterable[dict[str, Any]], kind: str, name: str | None = None) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]


def one(docs: Iterable[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = find(docs, kind, name)
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


@dataclass(frozen=True)
class Scenario:
    """A set of values files the chart must render and lint cleanly with."""

    name: str
    values_files: tuple[Path, ...]


def mount_team_config(docs: Iterable[dict[str, Any]], service: str | None, root: Path) -> Path:
    """Lay out the ConfigMap ``tekton-dag-teams`` under ``root`` as the kubelet mounts it into Knative
    Service ``service`` (None: the first that mounts it) by its volume's ``items``; returns ``root``,
    the directory its TEKTON_DAG_TEAMS_DIR names (missing when the chart has no team files)."""
    docs = list(docs)
    data = one(docs, "ConfigMap", "tekton-dag-teams").get("data") or {}
    mounting = [d for d in find(docs, "Service", service)
                if any(v["name"] == "team-config" for v in d["spec"]["template"]["spec"].get("volumes", []))]
    spec = mounting[0]["spec"]["template"]["spec"]
    volume = next(v for v in spec["volumes"] if v["name"] == "team-config")["configMap"]
    for item in volume.get("items", []):
        (root / item["path"]).parent.mkdir(parents=True, exist_ok=True)
        (root / item["path"]).write_text(data[item["key"]])
    return root


def scenarios() -> list[Scenario]:
    """The chart's defaults, each ci/*-values.yaml, and each team's generated values file."""
    found = [Scenario("defaults", ())]
    found += [Scenario(f"ci/{p.name}", (p,)) for p in sorted((CHART / "ci").glob("*-values.yaml"))]
    found += [Scenario(f"teams/{p.parent.name}", (p,)) for p in sorted(TEAMS.glob("*/values.yaml"))]
    return found


def crd_schema_path(doc: dict[str, Any]) -> Path:
    group, _, version = doc["apiVersion"].rpartition("/")
    return SCHEMAS / group / f"{doc['kind'].lower()}_{version}.json"


@functools.lru_cache(maxsize=32)
def _crd_validator(path: Path) -> jsonschema.protocols.Validator:
    schema = json.loads(path.read_text())
    return jsonschema.validators.validator_for(schema)(schema)


def is_crd(doc: dict[str, Any]) -> bool:
    return doc["apiVersion"].rpartition("/")[0] in CRD_GROUPS


def problems(doc: dict[str, Any]) -> list[str]:
    """Why ``doc`` is invalid (empty when valid). Core kinds: kubernetes-validate, strict.
    CRDs: their JSON schema in SCHEMAS, and its list types (``list_type_problems``); the caller checks
    ``crd_schema_path`` exists first."""
    where = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
    if is_crd(doc):
        errors = _crd_validator(crd_schema_path(doc)).iter_errors(doc)
        found = [f"{where}: {'.'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in errors]
        schema = json.loads(crd_schema_path(doc).read_text())
        return found + [f"{where}: {problem}" for problem in list_type_problems(schema, doc, "")]
    try:
        kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)
    except kubernetes_validate.ValidationError as error:
        return [f"{where}: {'.'.join(map(str, error.path)) or '<root>'}: {error.message}"]
    return []


def list_type_problems(schema: dict[str, Any], value: Any, path: str) -> list[str]:
    """What the API server refuses in a custom resource beyond its JSON schema: a list of
    ``x-kubernetes-list-type: map`` with two items of one key (``x-kubernetes-list-map-keys``), or of
    ``set`` with one item twice; each reported once, at its second appearance, as
    ``<path>: Duplicate value: <Go %#v of the key>`` (kubernetes
    staging/src/k8s.io/apiextensions-apiserver/pkg/apiserver/schema/listtype/validation.go
    ``validateListMap``, ``validateListSet``; apimachinery pkg/util/validation/field ``Duplicate``).
    JSON schema has no such keyword, so jsonschema lets a duplicate env name through."""
    found: list[str] = []
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            sub = properties.get(key, extra if isinstance(extra, dict) else None)
            if sub is not None:
                found += list_type_problems(sub, item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        list_type, keys = schema.get("x-kubernetes-list-type"), schema.get("x-kubernetes-list-map-keys") or []
        if list_type in ("map", "set"):
            seen: dict[str, int] = {}
            for index, item in enumerate(value):
                identity = {k: item[k] for k in keys if k in item} if list_type == "map" else item
                text = json.dumps(identity, sort_keys=True)
                seen[text] = seen.get(text, 0) + 1
                if seen[text] == 2:
                    found.append(f"{path}[{index}]: Duplicate value: {_go_value(identity)}")
        for index, item in enumerate(value):
            found += list_type_problems(schema.get("items") or {}, item, f"{path}[{index}]")
    return found


def _go_value(value: Any) -> str:
    """Go's ``%#v`` of a decoded JSON key map, as field.Duplicate prints it."""
    if isinstance(value, dict):
        inner = ", ".join(f"{json.dumps(k)}:{_go_value(v)}" for k, v in sorted(value.items()))
        return f"map[string]interface {{}}{{{inner}}}"
    return json.dumps(value)
