"""Loading the example teams, the fallback layout, and how files map onto the model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from support.trees import BASE, write_tree
from tekton_dag.config.errors import ConfigInvalid
from tekton_dag.config.index import ResolverIndex
from tekton_dag.config.loading import load_config, load_config_or_raise
from tekton_dag.config.models import AppVersion

REPO = Path(__file__).resolve().parents[2]
FALLBACK = REPO / "tests/fixtures/config/fallback"


def test_the_example_teams_are_valid() -> None:
    config = load_config_or_raise(REPO / "teams")
    assert [t.name for t in config.teams] == ["commerce", "default"]
    assert len({t.namespace for t in config.teams}) == 2


def test_the_default_team_maps_every_field() -> None:
    team = load_config_or_raise(REPO / "teams").team("default")
    assert team is not None
    assert (team.namespace, team.image_registry, team.cache_repo) == (
        "tekton-dag-default", "localhost:5000", "localhost:5000/kaniko-cache")
    assert (team.max_concurrent_runs, team.max_parallel_builds, team.intercept_backend) == (3, 5, "telepresence")
    assert team.webhook.secret_name == "tekton-dag-webhook-default"
    assert team.webhook.secret_env == "GITHUB_WEBHOOK_SECRET_DEFAULT"
    assert team.pull_requests.base_branches == ("main", "release/*")
    assert (team.pull_requests.skip_drafts, team.pull_requests.forks, team.push) == (True, "skip", "merge-release")
    assert team.pipeline_runs.timeout_tasks == "50m0s"
    assert team.version_of("demo-fe") == AppVersion("0.1.0-rc.1", "0.0.0")
    assert team.version_of("not-listed") == AppVersion()  # the earlier system's default
    stack = team.stacks[0]
    assert [a.name for a in stack.apps] == ["demo-fe", "release-lifecycle-demo", "demo-api"]
    fe = stack.apps[0]
    assert (fe.repo, fe.build.tool, fe.build.runtime, fe.container_port) == (
        "jmjava/tekton-dag-vue-fe",
        "npm",
        "nginx",
        80,
    )
    assert fe.build.extra == {"node-version": "20"}
    assert stack.app("demo-api").container_port == 8080  # from the stack's defaults  # type: ignore[union-attr]
    assert stack.source == "teams/default/stacks/stack-one.yaml"


def test_the_commerce_stack_is_a_realistic_graph() -> None:
    from tekton_dag.config import graph

    stack = load_config_or_raise(REPO / "teams").team("commerce").stacks[0]  # type: ignore[union-attr]
    assert len(stack.apps) == 40
    assert len(graph.entry_apps(stack)) >= 3
    assert len(graph.build_waves(stack)) >= 5  # depth: the longest call chain has at least 5 apps
    assert {a.build.tool for a in stack.apps} == {"npm", "maven", "gradle", "pip", "composer"}
    callers = graph.callers(graph.edges(stack))
    assert max(len(c) for c in callers.values()) >= 5  # shared backends


def test_stack_document_is_the_file_as_loaded_and_json_ready() -> None:
    stack = load_config_or_raise(REPO / "teams").team("default").stacks[0]  # type: ignore[union-attr]
    text = (REPO / "teams/default/stacks/stack-one.yaml").read_text()
    import yaml

    assert stack.document == yaml.safe_load(text)
    assert json.loads(json.dumps(stack.document))["apps"][0]["downstream"] == ["release-lifecycle-demo"]


def test_defaults_fill_what_a_file_leaves_out(tmp_path: Path) -> None:
    team = load_config_or_raise(write_tree(tmp_path, BASE)).team("alpha")
    assert team is not None
    assert (team.cluster, team.push, team.pull_requests.forks, team.pipeline_runs.workspace_size) == (
        "in-cluster", "ignore", "skip", "5Gi")
    web, api, db = team.stacks[0].apps
    # The earlier system's inference: no downstream -> terminal, frontend -> originator, else forwarder.
    assert (web.propagation_role, api.propagation_role, db.propagation_role) == ("originator", "forwarder", "terminal")
    assert (web.context_dir, web.dockerfile, web.container_port) == (".", "Dockerfile", None)


def test_fallback_registry_loads_one_default_team() -> None:
    config = load_config_or_raise(FALLBACK / "teams")  # there is no teams/ directory there
    (team,) = config.teams
    assert (team.name, team.namespace, team.source) == ("default", "default", "stacks/registry.yaml")
    assert [s.name for s in team.stacks] == ["stack-one", "stack-two"]
    assert team.version_of("demo-fe").version == "0.1.0-rc.1"
    targets = ResolverIndex.from_config(config).lookup("jmjava/tekton-dag-vue-fe")
    assert [t.key for t in targets] == [("default", "stack-one", "demo-fe"), ("default", "stack-two", "vendor-fe")]


def test_load_config_or_raise_carries_every_error(tmp_path: Path) -> None:
    root = write_tree(tmp_path, {**BASE, "teams/alpha/team.yaml": "name: alpha\n"})
    with pytest.raises(ConfigInvalid) as raised:
        load_config_or_raise(root)
    assert len(raised.value.errors) == 2
    assert "teams/alpha/team.yaml: namespace: required field is missing" in str(raised.value)


def test_invalid_config_is_all_or_nothing(tmp_path: Path) -> None:
    root = write_tree(tmp_path, {**BASE, "teams/beta/team.yaml": "name: beta\nnamespace: beta-ci\nstacks: [x.yaml]\n"})
    result = load_config(root)
    assert result.config is None and not result.ok
    assert len(result.errors) == 1  # alpha is fine, but no config is returned half-applied


def test_config_map_layout_with_hidden_entries_loads(tmp_path: Path) -> None:
    """A ConfigMap volume: real files under ..<timestamp>, reached through ..data symlinks."""
    data = tmp_path / "mount" / "..2026_11_24_05_00_00.1"
    write_tree(data, BASE)
    root = tmp_path / "mount"
    (root / "..data").symlink_to(data.name)
    (root / "teams").symlink_to("..data/teams")
    config = load_config_or_raise(root / "teams")
    assert [t.name for t in config.teams] == ["alpha", "beta"]
    assert config.team("alpha").stacks[0].source == "teams/alpha/stacks/shop.yaml"  # type: ignore[union-attr]


def test_yaml_merge_keys_are_allowed(tmp_path: Path) -> None:
    stack = BASE["teams/alpha/stacks/shop.yaml"].replace(
        "  - name: db\n", "  - name: db\n    <<: {context-dir: services/db}\n")
    config = load_config_or_raise(write_tree(tmp_path, {**BASE, "teams/alpha/stacks/shop.yaml": stack}))
    assert config.team("alpha").stacks[0].app("db").context_dir == "services/db"  # type: ignore[union-attr]


def test_every_app_key_reaches_its_own_field() -> None:
    # building.build_app passes the fields positionally (for speed): each key must land in its field.
    from tekton_dag.config.building import build_app

    app = build_app({"name": "n", "repo": "o/r", "role": "frontend", "propagation-role": "forwarder",
                     "context-dir": "ctx", "dockerfile": "Dfile", "downstream": ["d"], "tests": {"t": 1},
                     "container-port": "81",
                     "build": {"tool": "npm", "build-command": "bc", "runtime": "rt", "node-version": "20"}}, {})
    assert (app.name, app.repo, app.role, app.propagation_role, app.context_dir, app.dockerfile) == (
        "n", "o/r", "frontend", "forwarder", "ctx", "Dfile")
    assert (app.downstream, app.tests, app.container_port) == (("d",), {"t": 1}, 81)
    assert (app.build.tool, app.build.build_command, app.build.runtime, app.build.extra) == (
        "npm", "bc", "rt", {"node-version": "20"})


def test_apps_of_a_stack_share_equal_builds_only(tmp_path: Path) -> None:
    # building._build reuses one frozen Build for equal `build` mappings of a stack.
    apps = "".join(f"  - {{name: a{i}, repo: o/a{i}, role: standalone, build: {build}}}\n" for i, build in enumerate([
        "{tool: npm, runtime: node}", "{tool: npm, runtime: node}", "{tool: npm, runtime: nginx}",
        "{tool: npm, env: {A: b}}", "{tool: npm, env: {A: b}}"]))
    stack = f"name: shop\napps:\n{apps}"
    config = load_config_or_raise(write_tree(tmp_path, {**BASE, "teams/alpha/stacks/shop.yaml": stack}))
    builds = [app.build for app in config.teams[0].stacks[0].apps]
    assert builds[0] is builds[1] and builds[2] is not builds[0] and builds[2].runtime == "nginx"
    assert builds[3] == builds[4] and builds[3].extra == {"env": {"A": "b"}}
