"""One `github` values entry gives every GitHub caller the same access, in the variables the client reads.

status-reporter (distributed), the all-in-one and the redeliver CronJob each get GITHUB_API_URL,
GITHUB_APP_ID, the App key / token Secrets as files, and the call deadline and write pacing;
``github.settings.Settings.from_env`` reading the rendered environment (with the mounted files stood
in for) proves the names agree.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from support.helm import CHART, find, one, render, render_error
from tekton_dag.github.pacing import DEFAULT_INTERVAL_S, DEFAULT_NOTIFICATION_INTERVAL_S
from tekton_dag.github.settings import DEFAULT_DEADLINE_S, MAX_DEADLINE_S, MAX_WRITE_INTERVAL_S, Settings

ALL = ["github.appId=424242", "github.apiUrl=https://ghe.example.com/api/v3", "github.tokenSecret.name=gh-token",
       "redeliver.enabled=true"]


def pods(sets: list[str]) -> dict[str, dict[str, Any]]:
    """Pod spec of each GitHub caller rendered with ``sets`` (both modes)."""
    distributed, all_in_one = render(sets=sets), render(sets=[*sets, "mode=all-in-one"])
    found = {"status-reporter": one(distributed, "Service", "status-reporter")["spec"]["template"]["spec"],
             "all-in-one": one(all_in_one, "Service", "tekton-dag")["spec"]["template"]["spec"]}
    cronjob = find(distributed, "CronJob")
    if cronjob:
        found["redeliver"] = cronjob[0]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return found


def settings_seen_by(pod: dict[str, Any], tmp: Path) -> Settings | None:
    """What the GitHub client would read in ``pod``: its env, each mounted Secret file stood in for."""
    container = pod["containers"][0]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    files: dict[str, Path] = {}
    for volume in pod["volumes"]:
        if "secret" in volume:
            item = volume["secret"]["items"][0]
            local = tmp / volume["secret"]["secretName"] / item["path"]
            local.parent.mkdir(parents=True, exist_ok=True)
            pem = "-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----"
            local.write_text(pem if item["key"] == "private-key" else "ghp_token")
            files[f"{mounts[volume['name']]}/{item['path']}"] = local
    env = {e["name"]: str(files.get(e["value"], e["value"])) for e in container["env"] if "value" in e}
    return Settings.from_env(env)


def test_one_github_entry_reaches_status_reporter_all_in_one_and_redeliver(tmp_path: Path) -> None:
    callers = pods(ALL)
    assert set(callers) == {"status-reporter", "all-in-one", "redeliver"}
    for name, pod in callers.items():
        settings = settings_seen_by(pod, tmp_path / name)
        assert settings is not None, name
        assert settings.api_url == "https://ghe.example.com/api/v3", name
        assert settings.app is not None and settings.app.app_id == "424242", name
        assert settings.token == "ghp_token", name
        secrets = {v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
        assert {"tekton-dag-github-app", "gh-token"} <= secrets, name


def test_without_github_values_no_caller_gets_github_access(tmp_path: Path) -> None:
    for name, pod in pods([]).items():
        env = {e["name"] for e in pod["containers"][0]["env"]}
        assert not {n for n in env if n.startswith("GITHUB_") and n != "GITHUB_WEBHOOK_SECRET_FILE"}, name
        assert settings_seen_by(pod, tmp_path / name) is None, name


def test_a_token_alone_means_commit_statuses(tmp_path: Path) -> None:
    settings = settings_seen_by(pods(["github.tokenSecret.name=gh-token"])["status-reporter"], tmp_path)
    assert settings is not None and settings.app is None and settings.token == "ghp_token"


@pytest.mark.parametrize("sets,named", [
    (["github.appId=1", "github.appSecret.name="], "github.appSecret.name"),
    (["github.appId=one"], "appId"),
    (["secrets.github.appSecretName=old"], "github"),  # the old entry is gone, not silently ignored
    (["redeliver.appId=1"], "appId"),
])
def test_incomplete_or_old_github_values_are_refused(sets: list[str], named: str) -> None:
    assert named in render_error(sets=sets)


TIMING = ["github.deadlineSeconds=30", "github.writeIntervalSeconds=2", "github.notificationIntervalSeconds=0"]


def test_the_deadline_and_pacing_reach_every_github_caller_the_redeliver_cronjob_too(tmp_path: Path) -> None:
    """The CronJob writes (redeliveries) for the same installations as status-reporter: the same pace
    from the same values. 0 is a value (no spacing), not "unset"."""
    for name, pod in pods([*ALL, *TIMING]).items():
        settings = settings_seen_by(pod, tmp_path / name)
        assert settings is not None, name
        assert (settings.deadline_s, settings.write_interval_s, settings.notification_interval_s) == (30, 2, 0), name
    for name, pod in pods(ALL).items():  # unset: the client's own defaults, not a second copy of them
        settings = settings_seen_by(pod, tmp_path / "defaults" / name)
        assert settings is not None, name
        assert (settings.deadline_s, settings.write_interval_s, settings.notification_interval_s) == (
            DEFAULT_DEADLINE_S, DEFAULT_INTERVAL_S, DEFAULT_NOTIFICATION_INTERVAL_S), name


@pytest.mark.parametrize("sets,named", [
    (["functions.statusReporter.env.GITHUB_WRITE_INTERVAL_SECONDS=2"], "github.writeIntervalSeconds"),
    (["mode=all-in-one", "allInOne.env.GITHUB_API_DEADLINE_SECONDS=5"], "github.deadlineSeconds"),
    (["github.writeIntervalSeconds=61"], "writeIntervalSeconds"),
    (["github.notificationIntervalSeconds=-1"], "notificationIntervalSeconds"),
    (["github.deadlineSeconds=0"], "deadlineSeconds"),
    (["github.deadlineSeconds=3600"], "deadlineSeconds"),
])
def test_the_timing_is_set_in_one_place_within_the_clients_bounds(sets: list[str], named: str) -> None:
    """A function's own env would pace it apart from the CronJob: refused, naming the value to set."""
    assert named in render_error(sets=sets)


def test_the_schema_bounds_are_the_clients() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())["properties"]["github"]["properties"]
    numbers = {name: schema[name]["anyOf"][1] for name in
               ("deadlineSeconds", "writeIntervalSeconds", "notificationIntervalSeconds")}
    assert numbers["deadlineSeconds"]["exclusiveMaximum"] == MAX_DEADLINE_S
    assert numbers["writeIntervalSeconds"]["maximum"] == numbers["notificationIntervalSeconds"]["maximum"] == (
        MAX_WRITE_INTERVAL_S)
