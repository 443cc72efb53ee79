"""NOTES.txt gives numbered next steps: the Secrets to create and how to find the webhook URL.

helm 3 renders NOTES.txt only on install (which needs a cluster), so the test renders the same
text through helm's own `tpl` in a scratch copy of the chart.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from support.helm import CHART, run_helm

PROBE = """apiVersion: v1
kind: ConfigMap
metadata:
  name: notes
data:
  notes: {{ tpl (.Files.Get "NOTES.probe") . | quote }}
"""


def notes(tmp_path: Path, *sets: str, namespace: str = "tekton-pipelines") -> str:
    chart = tmp_path / "tekton-dag"
    if not chart.exists():
        shutil.copytree(CHART, chart, symlinks=False)
        shutil.copy(chart / "templates" / "NOTES.txt", chart / "NOTES.probe")
        (chart / "templates" / "notes-probe.yaml").write_text(PROBE)
    args = ["template", "t", chart, "-n", namespace, "--show-only", "templates/notes-probe.yaml"]
    for assignment in sets:
        args += ["--set", assignment]
    return yaml.safe_load(run_helm(*args).stdout)["data"]["notes"]


def test_steps_are_numbered_in_order(tmp_path: Path) -> None:
    numbers = [int(n) for n in re.findall(r"^(\d+)\. ", notes(tmp_path), flags=re.MULTILINE)]
    assert numbers == list(range(1, len(numbers) + 1)) and len(numbers) >= 4


def test_names_every_secret_to_create_without_any_value(tmp_path: Path) -> None:
    text = notes(tmp_path, "team.webhookSecret=blue-hook", "secrets.api.name=blue-api",
                 "team.gitCredentialsSecret=blue-git", "team.githubTokenSecret=blue-token")
    for secret in ("blue-hook", "blue-api", "blue-git", "blue-token"):
        assert f"create secret generic {secret}" in text


@pytest.mark.parametrize("mode,service", [("distributed", "webhook-ingest"), ("all-in-one", "tekton-dag")])
def test_tells_how_to_find_the_webhook_url(tmp_path: Path, mode: str, service: str) -> None:
    text = notes(tmp_path, f"mode={mode}")
    assert f"get ksvc {service} -o jsonpath='{{.status.url}}'" in text
    assert "/webhook/github" in text


def test_says_what_a_release_with_no_team_does(tmp_path: Path) -> None:
    """What the functions really do with no team (tests/ingest/test_no_team.py proves it)."""
    from tekton_dag.functions.configs import NO_TEAM

    text = notes(tmp_path)
    assert "No team is configured yet" in text and '202 "ignored"' in text
    assert NO_TEAM.split(":")[0] in text  # the reason every webhook gets
    assert "No team is configured" not in notes(tmp_path, "teamConfig.files.team\\.yaml=name: x")


@pytest.mark.parametrize("mode,checks", [("distributed", "resolver reachable through the Broker"),
                                         ("all-in-one", "a signed ping answered")])
def test_points_at_helm_test(tmp_path: Path, mode: str, checks: str) -> None:
    text = notes(tmp_path, f"mode={mode}")
    assert "helm test t -n tekton-pipelines" in text  # the probe's release is "t"
    assert checks in text


def test_points_tekton_events_at_the_broker_of_the_namespace(tmp_path: Path) -> None:
    text = notes(tmp_path, "team.namespace=blue-ci", namespace="blue-ci")
    assert "broker-ingress.knative-eventing.svc.cluster.local/blue-ci/tekton-dag" in text


def test_names_the_deploy_namespaces_that_must_exist(tmp_path: Path) -> None:
    assert "deploy into staging, qa:" in notes(tmp_path, "team.deployNamespaces={staging,qa}")
