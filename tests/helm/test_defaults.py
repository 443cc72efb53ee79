"""The chart with no values at all: the milestone's `helm template tekton-dag ./helm/tekton-dag`
renders, a default `helm install --dry-run=client` works without a cluster (Helm 4), and what a
default install starts can become Ready before any team or Secret exists."""

from __future__ import annotations

import os

import pytest
import yaml

from support.helm import REPO, find, one, render, render_error, run_helm


@pytest.mark.parametrize("binary", ["helm", "helm4"])
def test_helm_template_with_no_values_and_no_namespace(binary: str) -> None:
    """The milestone's own command, run from the repository root as the docs show it."""
    result = run_helm("template", "tekton-dag", "./helm/tekton-dag", binary=binary, cwd=REPO)
    docs = [d for d in yaml.safe_load_all(result.stdout) if d]
    assert docs and {d["metadata"]["namespace"] for d in docs} == {"default"}


def test_default_install_dry_run_client_needs_no_cluster(tmp_path) -> None:
    """Helm 4 renders a client-side dry run with no cluster (Helm 3.18 still asks the API server
    for its version first: "Kubernetes cluster unreachable")."""
    env_kubeconfig = os.environ["KUBECONFIG"]  # tests/conftest.py points it at nothing
    assert not os.path.exists(env_kubeconfig)
    result = run_helm("install", "tekton-dag", "./helm/tekton-dag", "--dry-run=client", binary="helm4", cwd=REPO)
    assert "STATUS: pending-install" in result.stdout
    assert "No team is configured yet" in result.stdout  # NOTES.txt says what the release will do


def test_team_namespace_defaults_to_the_release_namespace() -> None:
    docs = render(namespace="ci-blue")
    binding = one(docs, "RoleBinding", "tekton-dag-pipeline")
    assert binding["subjects"][0]["namespace"] == "ci-blue"
    assert {d["metadata"]["namespace"] for d in docs} == {"ci-blue"}


def test_an_explicit_team_namespace_must_still_match() -> None:
    error = render_error(sets=["team.namespace=alpha-ci"], namespace="default")
    assert 'team.namespace is "alpha-ci" but the release namespace is "default"' in error


def test_functions_start_before_their_secrets_exist() -> None:
    """Without optional, a Pod whose Secret volume is missing never starts (ContainerCreating), so
    a default install would never become Ready. The functions stay closed without them: 401 for
    every delivery without the webhook Secret, 403 on the REST API without the token."""
    for ksvc in find(render(), "Service"):
        for volume in ksvc["spec"]["template"]["spec"].get("volumes", []):
            if "secret" in volume:
                assert volume["secret"].get("optional") is True, f"{ksvc['metadata']['name']}: {volume['name']}"
    team_secret = render(sets=["team.webhookSecret=blue-hook"])
    volumes = one(team_secret, "Service", "webhook-ingest")["spec"]["template"]["spec"]["volumes"]
    assert any(v.get("secret", {}).get("secretName") == "blue-hook" and v["secret"]["optional"] for v in volumes)


@pytest.mark.parametrize("binary", ["helm", "helm4"])
def test_helm_show_readme_documents_every_value(binary: str) -> None:
    """`helm show readme` prints the chart README, whose values table is generated from values.yaml
    (helm/values-table.py; tests/docs fails when it is stale)."""
    readme = run_helm("show", "readme", "./helm/tekton-dag", binary=binary, cwd=REPO).stdout
    assert readme.startswith("# tekton-dag")
    for key in ("team.namespace", "networkPolicy.enabled", "tests.enabled", "buildCache.size"):
        assert f"| `{key}` |" in readme


def test_the_values_check_fails_when_a_table_is_stale(tmp_path) -> None:
    import shutil
    import subprocess
    import sys

    for part in ("helm/values-table.py", "helm/tekton-dag/values.yaml", "helm/tekton-dag/README.md", "docs/helm.md"):
        (tmp_path / part).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / part, tmp_path / part)
    check = [sys.executable, str(tmp_path / "helm" / "values-table.py"), "--check"]
    assert subprocess.run(check, capture_output=True).returncode == 0
    values = tmp_path / "helm" / "tekton-dag" / "values.yaml"
    values.write_text(values.read_text().replace("# -- Requested size.", "# -- Requested size of the claim."))
    stale = subprocess.run(check, capture_output=True, text=True)
    assert stale.returncode == 1
    assert "docs/helm.md: values table stale" in stale.stderr and "README.md: values table stale" in stale.stderr
