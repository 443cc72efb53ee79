"""The team ConfigMap holds each file of ``teamConfig.files`` under a key that encodes its path
('/' becomes '__': a key may not hold '/'), and every function's volume puts each key back at its
path. The encoding is made once, in the chart (tekton-dag.teamConfig.keys): two paths with one key
would leave one file silently replaced by the other, so the chart refuses them, naming both, and
refuses a key the API server would refuse."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from support.helm import find, one, render, render_error

TEAM_YAML = "name: default\nstacks: []\n"


def files_values(tmp_path: Path, files: dict[str, str]) -> Path:
    values = tmp_path / "files.yaml"
    values.write_text(yaml.safe_dump({"teamConfig": {"files": {"team.yaml": TEAM_YAML, **files}}}))
    return values


def mounted(docs: list[dict[str, Any]], function: str) -> dict[str, str]:
    """Path → content as the kubelet lays the team-config volume out for ``function``."""
    data = one(docs, "ConfigMap", "tekton-dag-teams")["data"]
    (ksvc,) = [d for d in find(docs, "Service") if d["metadata"]["name"] == function]
    volume = next(v for v in ksvc["spec"]["template"]["spec"]["volumes"] if v["name"] == "team-config")
    return {item["path"]: data[item["key"]] for item in volume["configMap"]["items"]}


def test_a_file_named_like_another_files_key_is_refused_naming_both(tmp_path: Path) -> None:
    values = files_values(tmp_path, {"stacks/a.yaml": "apps: [one]\n", "stacks__a.yaml": "apps: [two]\n"})
    error = render_error([values])
    assert 'teamConfig.files: "stacks/a.yaml" and "stacks__a.yaml" would share the ConfigMap key "stacks__a.yaml"' \
        in error, error


def test_paths_with_distinct_keys_each_keep_their_own_content(tmp_path: Path) -> None:
    files = {"stacks/a.yaml": "apps: [one]\n", "stacks__b.yaml": "apps: [two]\n", "x/y/z.yaml": "apps: [three]\n"}
    docs = render([files_values(tmp_path, files)])
    assert mounted(docs, "resolver") == {f"default/{path}": text for path, text in
                                         {"team.yaml": TEAM_YAML, **files}.items()}


# kubernetes staging/src/k8s.io/apimachinery/pkg/util/validation/validation.go IsConfigMapKey: at
# most 253 characters of [-._a-zA-Z0-9], not "." or "..", not starting with "..". Each "a/" below
# becomes "a__": 82 of them and "bb.yaml" make a key of exactly 253 characters.
LONGEST = "a/" * 82 + "bb.yaml"


@pytest.mark.parametrize(("path", "why"), [
    ("..hidden.yaml", "must not start with '..'"),
    ("a/" * 82 + "bbb.yaml", "must be no more than 253 characters"),
])
def test_a_path_whose_key_the_api_server_refuses_is_refused(tmp_path: Path, path: str, why: str) -> None:
    error = render_error([files_values(tmp_path, {path: "x: 1\n"})])
    assert f'teamConfig.files: "{path}" becomes the ConfigMap key' in error and why in error, error


def test_the_longest_key_the_api_server_takes_renders(tmp_path: Path) -> None:
    key = LONGEST.replace("/", "__")
    assert len(key) == 253
    docs = render([files_values(tmp_path, {LONGEST: "x: 1\n"})])
    assert one(docs, "ConfigMap", "tekton-dag-teams")["data"][key] == "x: 1\n"
