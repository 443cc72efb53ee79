"""The optional `tekton-dag redeliver` CronJob: off by default, least privilege, Secrets by name."""

from __future__ import annotations

from support.helm import find, one, problems, render, render_error


def test_off_by_default() -> None:
    assert find(render(), "CronJob") == []


def test_app_webhook_cronjob_is_least_privilege_and_valid() -> None:
    docs = render(sets=["redeliver.enabled=true", "github.appId=424242", "redeliver.since=3h"])
    cronjob = one(docs, "CronJob", "tekton-dag-redeliver")
    account = one(docs, "ServiceAccount", "tekton-dag-redeliver")
    assert problems(cronjob) == [] and problems(account) == []
    pod = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["command"][-1] == "redeliver" and container["args"] == ["--since=3h"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env == {"GITHUB_APP_ID": "424242",
                   "GITHUB_APP_PRIVATE_KEY_FILE": "/var/run/secrets/tekton-dag/github-app/private-key.pem"}
    assert pod["automountServiceAccountToken"] is False and account["automountServiceAccountToken"] is False
    assert pod["volumes"][0]["secret"] == {"secretName": "tekton-dag-github-app",
                                           "items": [{"key": "private-key", "path": "private-key.pem"}]}
    assert container["securityContext"]["runAsNonRoot"] is True
    # no Role or RoleBinding names it: it needs nothing from the Kubernetes API
    bindings = find(docs, "RoleBinding") + find(docs, "ClusterRoleBinding")
    assert not any(s.get("name") == "tekton-dag-redeliver" for b in bindings for s in b.get("subjects", []))


def test_repository_webhook_uses_the_token_secret() -> None:
    docs = render(sets=["redeliver.enabled=true", "redeliver.repo=org/app", "redeliver.hookId=7",
                        "github.tokenSecret.name=hook-token"])
    container = one(docs, "CronJob", "tekton-dag-redeliver")["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert container["containers"][0]["args"] == ["--since=2h", "--repo=org/app", "--hook-id=7"]
    assert container["volumes"][0]["secret"]["secretName"] == "hook-token"


def test_incomplete_settings_are_refused() -> None:
    assert "github.appId" in render_error(sets=["redeliver.enabled=true"])
    assert "github.tokenSecret.name" in render_error(sets=["redeliver.enabled=true", "redeliver.repo=org/app",
                                                           "redeliver.hookId=7"])
    assert "hookId" in render_error(sets=["redeliver.enabled=true", "redeliver.repo=org/app"])
    assert "since" in render_error(sets=["redeliver.since=two hours"])
