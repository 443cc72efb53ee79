"""Stands in for ArgoCD's ApplicationSet controller: expands argocd/applicationset.yaml as it does.

Git files generator (goTemplate: true): every repository file matching a `files[].path` glob
(`*` stays within one path segment) gives one parameter set: the file's YAML mapping, unflattened,
plus `path` = {path: its folder, basename: the folder's name, filename, segments}. The template's
string fields are then rendered one by one with Go text/template and the sprig functions, which
is what ArgoCD uses. Here the renderer is the real Go text/template + sprig inside the helm
binary (its `tpl` function). helm prints "" for a missing key, so ArgoCD's `missingkey=error`
is checked here before rendering: every field reference (`.a.b`) in an action must resolve.

Not modelled: other generators (list, cluster, matrix, ...), the fasttemplate mode (goTemplate
false), templatePatch, syncing the Applications.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
from pathlib import Path, PurePosixPath
from typing import Any

import yaml


def git_files_parameters(repo: Path, generator: dict[str, Any]) -> list[dict[str, Any]]:
    params = []
    for entry in generator["git"]["files"]:
        for path in sorted(repo.glob(entry["path"])):
            relative = PurePosixPath(path.relative_to(repo).as_posix())
            content = yaml.safe_load(path.read_text()) or {}
            content["path"] = {
                "path": str(relative.parent),
                "basename": relative.parent.name,
                "filename": relative.name,
                "segments": list(relative.parent.parts),
            }
            params.append(content)
    return params


def _strings(node: Any, found: list[str]) -> None:
    if isinstance(node, str) and "{{" in node:
        found.append(node)
    elif isinstance(node, dict):
        for value in node.values():
            _strings(value, found)
    elif isinstance(node, list):
        for value in node:
            _strings(value, found)


def _substitute(node: Any, rendered: dict[str, str]) -> Any:
    if isinstance(node, str):
        return rendered.get(node, node)
    if isinstance(node, dict):
        return {k: _substitute(v, rendered) for k, v in node.items()}
    if isinstance(node, list):
        return [_substitute(v, rendered) for v in node]
    return node


ACTION = re.compile(r"{{(.*?)}}", re.DOTALL)
FIELD_CHAIN = re.compile(r"(?<![\w)\]])((?:\.[A-Za-z_]\w*)+)")


def check_references(field: str, params: dict[str, Any]) -> None:
    """missingkey=error: raise KeyError when an action reads a key the parameters lack."""
    for action in ACTION.findall(field):
        for chain in FIELD_CHAIN.findall(re.sub(r'"[^"]*"', "", action)):
            node: Any = params
            for key in chain.split(".")[1:]:
                if not isinstance(node, dict) or key not in node:
                    raise KeyError(f"missingkey=error: {chain} in {field!r}")
                node = node[key]


RENDERER = """{{- range $i, $params := .Values.params }}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ printf "app-%d" $i }}
data:
  {{- range $j, $field := $.Values.fields }}
  {{ printf "f%d" $j }}: {{ tpl $field $params | toJson }}
  {{- end }}
{{- end }}
"""


def render_fields(fields: list[str], params: list[dict[str, Any]], workdir: Path, helm: str) -> list[dict[str, str]]:
    """For each parameter set, field text → rendered text, through helm's Go template engine."""
    chart = workdir / "appset-renderer"
    (chart / "templates").mkdir(parents=True, exist_ok=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: appset-renderer\nversion: 0.0.0\n")
    (chart / "templates" / "render.yaml").write_text(RENDERER)
    values = workdir / "render-values.json"
    values.write_text(json.dumps({"params": params, "fields": fields}))
    result = subprocess.run([helm, "template", "r", str(chart), "--values", str(values)], capture_output=True,
                            text=True, timeout=120)
    if result.returncode != 0:
        raise RuntimeError(f"helm could not render the ApplicationSet's fields:\n{result.stderr}")
    docs = [d for d in yaml.safe_load_all(result.stdout) if d]
    return [{fields[int(k[1:])]: v for k, v in doc["data"].items()} for doc in docs]


def expand(appset: dict[str, Any], repo: Path, workdir: Path, helm: str = "helm") -> list[dict[str, Any]]:
    """The Applications ArgoCD would create from ``appset`` over ``repo``; ``helm`` is the binary."""
    assert appset["spec"].get("goTemplate") is True, "only the goTemplate mode is modelled"
    template = appset["spec"]["template"]
    params = [p for g in appset["spec"]["generators"] for p in git_files_parameters(repo, g)]
    fields: list[str] = []
    _strings(template, fields)
    fields = sorted(set(fields))
    for field in fields:
        for p in params:
            check_references(field, p)
    applications = []
    for rendered in render_fields(fields, params, workdir, helm) if params else []:
        app = _substitute(copy.deepcopy(template), rendered)
        applications.append({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
                             "metadata": {**app["metadata"], "namespace": appset["metadata"]["namespace"]},
                             "spec": app["spec"]})
    return applications
