"""Bad values never render: values.schema.json (and the namespace guard) reject them, naming the value."""

from __future__ import annotations

import json

import pytest

from support.helm import CHART, render, render_error

BAD_VALUES = {
    "unknown mode": (["mode=serverless"], "mode must be one of the following"),
    "unknown broker class": (["eventing.broker.class=InMemory"], "eventing.broker.class must be one of"),
    "webhook-ingest allowed to scale to zero": (["functions.webhookIngest.minScale=0"],
                                                "functions.webhookIngest.minScale"),
    "team name not DNS-1123": (["team.name=Team_A"], "team.name"),
    "max parallel builds zero": (["team.maxParallelBuilds=0"], "team.maxParallelBuilds"),
    "max parallel builds as text": (["team.maxParallelBuilds=many"], "team.maxParallelBuilds"),
    "backoff delay not ISO-8601": (["eventing.delivery.backoffDelay=1s"], "eventing.delivery.backoffDelay"),
    "misspelled top-level key": (["modee=all-in-one"], "modee"),
    "misspelled nested key": (["eventing.delivery.retries=3"], "retries"),
    "latest function image tag": (["image.tag=latest"], "image.tag"),
    "dead letters unbounded": (["eventing.deadLetter.maxLetters=0"], "eventing.deadLetter.maxLetters"),
    "dead letter off without another sink": (["eventing.deadLetter.enabled=false"], "eventing.deadLetter"),
    "wildcard verb for the pipelines": (["rbac.pipelineRules[0].verbs[0]=*"], "rbac.pipelineRules.0.verbs.0"),
    "team file outside its folder": (["teamConfig.files.\\.\\./etc/passwd\\.yaml=x"], "teamConfig.files"),
    "build cache size not a quantity": (["buildCache.size=ten"], "buildCache.size"),
    "unknown coschedule mode": (["team.coschedule=nodes"], "team.coschedule"),
    "insecure registry given as a URL": (["registries.insecure={http://registry.lab:5000}"], "registries.insecure.0"),
    "two insecure registries in one item": (["registries.insecure[0]=a\\,b"], "registries.insecure.0"),
    "a secret value smuggled in as env": (["functions.webhookIngest.env.GITHUB_WEBHOOK_SECRET=s3cret"],
                                          "functions.webhookIngest.env"),
}


@pytest.mark.parametrize("sets,message", BAD_VALUES.values(), ids=BAD_VALUES.keys())
def test_bad_values_are_rejected_with_the_value_named(sets: list[str], message: str) -> None:
    error = render_error(sets=sets)
    assert "values don't meet the specifications of the schema" in error
    assert message in error, error


def test_release_namespace_other_than_the_team_namespace_is_refused() -> None:
    error = render_error(sets=["team.namespace=alpha-ci"], namespace="beta-ci")
    assert 'team.namespace is "alpha-ci" but the release namespace is "beta-ci"' in error


def test_min_scale_above_max_scale_is_refused() -> None:
    error = render_error(sets=["functions.resolver.minScale=4", "functions.resolver.maxScale=2"])
    assert "resolver: minScale (4) is above maxScale (2)" in error


def test_secret_values_have_no_place_in_values() -> None:
    """Secrets are referenced by name only: the schema has no key that could carry a secret value."""
    schema = json.loads((CHART / "values.schema.json").read_text())
    for name in ("webhook", "api", "registry"):
        keys = set(schema["properties"]["secrets"]["properties"][name]["properties"])
        assert keys <= {"name", "key"}, keys
    assert render(sets=["secrets.webhook.name=my-hook"])  # a reference renders


# Every `env` map of the chart (functions.*.env, allInOne.env) and what it is rendered into.
ENV_MAPS = {"functions.webhookIngest.env": [], "functions.resolver.env": [], "functions.runCreator.env": [],
            "functions.bootstrapBatcher.env": [], "functions.statusReporter.env": [],
            "allInOne.env": ["mode=all-in-one"]}


@pytest.mark.parametrize("name", ["PORT", "K_SERVICE", "K_CONFIGURATION", "K_REVISION"])
@pytest.mark.parametrize("env_map", ENV_MAPS)
def test_knative_reserved_env_vars_are_refused(env_map: str, name: str) -> None:
    """Knative Serving's webhook refuses these names in a user container (knative/serving
    pkg/apis/serving/k8s_validation.go ``reservedEnvVars``, ``validateEnvVar``): the schema says so first,
    naming the value, instead of an install that fails at admission."""
    error = render_error(sets=[*ENV_MAPS[env_map], f"{env_map}.{name}=1"])
    assert "values don't meet the specifications of the schema" in error
    assert env_map in error, error


def test_the_coschedule_modes_are_the_team_files() -> None:
    """team.coschedule is a fact of team.yaml (helm/team-values.py copies it): the chart takes the
    modes the team schema does, no more, no fewer."""
    team_schema = json.loads((CHART.parents[1] / "functions" / "core" / "tekton_dag" / "config" / "schemas" /
                              "team.schema.json").read_text())
    chart_schema = json.loads((CHART / "values.schema.json").read_text())

    def coschedule(node: object) -> list[str] | None:
        if isinstance(node, dict):
            if "coschedule" in node.get("properties", {}):
                return node["properties"]["coschedule"]["enum"]
            node = list(node.values())
        if isinstance(node, list):
            return next((found for child in node if (found := coschedule(child)) is not None), None)
        return None

    assert coschedule(chart_schema["properties"]["team"]) == coschedule(team_schema) is not None
