"""Where webhook secrets come from: env lists, mounted files (rotated in place), team secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from tekton_dag.config.models import Config, Team, WebhookSettings
from tekton_dag.webhooks import secrets
from tekton_dag.webhooks.secrets import SHARED, SecretFile, SecretSource


def config(*teams: Team) -> Config:
    return Config(teams=teams)


def team(name: str, secret_env: str | None = None, secret_name: str | None = None) -> Team:
    return Team(name=name, namespace=f"{name}-ci", stacks=(), webhook=WebhookSettings(secret_name, secret_env))


def test_shared_secrets_from_a_comma_list_and_a_file(tmp_path: Path) -> None:
    (tmp_path / "shared").write_text("from-file-1\n\nfrom-file-2, from-file-3\n")
    source = SecretSource({"GITHUB_WEBHOOK_SECRET": " a, ,b ", "GITHUB_WEBHOOK_SECRET_FILE": str(tmp_path / "shared")})
    assert source.current(config()) == tuple(
        (SHARED, s) for s in ("a", "b", "from-file-1", "from-file-2", "from-file-3")
    )


def test_team_secrets_come_first_from_env_and_mounted_secret(tmp_path: Path) -> None:
    (tmp_path / "pay-hook").mkdir()
    (tmp_path / "pay-hook" / "secret").write_text("mounted")
    env = {"GITHUB_WEBHOOK_SECRET": "shared", "PAY_SECRET": "from-env", "TEKTON_DAG_TEAM_SECRETS_DIR": str(tmp_path)}
    source = SecretSource(env)
    current = source.current(config(team("payments", "PAY_SECRET", "pay-hook"), team("platform")))
    assert current == (("payments", "from-env"), ("payments", "mounted"), (SHARED, "shared"))


def test_a_missing_team_secret_is_logged_once_without_its_value(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    source = SecretSource({"TEKTON_DAG_TEAM_SECRETS_DIR": str(tmp_path)})
    cfg = config(team("payments", secret_name="absent"))
    assert source.current(cfg) == ()
    source.current(config(team("payments", secret_name="absent")))  # a new config: read again
    assert len([r for r in caplog.records if "unreadable" in r.getMessage()]) == 1


def test_a_rotated_mounted_secret_is_picked_up_without_restart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "shared"
    path.write_text("old")
    source = SecretSource({"GITHUB_WEBHOOK_SECRET_FILE": str(path)})
    cfg = config()
    assert source.current(cfg) == ((SHARED, "old"),)
    path.write_text("old,new")
    assert source.current(cfg) == ((SHARED, "old"),)  # cached within the refresh window
    monkeypatch.setattr(secrets, "REFRESH_S", 0.0)
    assert source.current(cfg) == ((SHARED, "old"), (SHARED, "new"))


def test_a_team_cannot_claim_the_shared_secret_or_another_teams(caplog: pytest.LogCaptureFixture) -> None:
    """One team's team.yaml naming the shared variable (or another team's) took every delivery
    signed with that value as its own, and the resolver then ignored the other teams' repositories."""
    env = {"GITHUB_WEBHOOK_SECRET": "shared-value", "B_SECRET": "b-value", "ALSO_B": "b-value"}
    source = SecretSource(env)
    current = source.current(config(team("a", "GITHUB_WEBHOOK_SECRET"), team("b", "B_SECRET"), team("c", "ALSO_B")))
    assert current == ((SHARED, "shared-value"),)
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "team a is the shared webhook secret" in logged and "also the webhook secret of team c" in logged
    assert "shared-value" not in logged and "b-value" not in logged


def test_a_secret_file_reads_empty_while_missing_says_so_once_and_reads_it_once_it_is_there(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    secret = SecretFile(tmp_path / "token")
    assert secret.text() == "" and secret.text() == ""
    assert len([r for r in caplog.records if "unreadable" in r.getMessage()]) == 1
    (tmp_path / "token").write_text(" s3cret \n")
    assert secret.text() == "s3cret"
    (tmp_path / "token").unlink()
    assert secret.text() == ""  # a removed Secret key is no token, not the last one


def test_a_secret_file_that_is_not_utf8_reads_as_unreadable_not_an_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    token, shared = tmp_path / "token", tmp_path / "shared"
    token.write_bytes(b"\xff\xfesecret-bytes")
    shared.write_bytes(b"\xffsecret-bytes")
    assert SecretFile(token).text() == ""
    assert SecretSource({"GITHUB_WEBHOOK_SECRET_FILE": str(shared)}).current(config()) == ()
    assert caplog.text.count("not UTF-8 text") == 2 and "secret-bytes" not in caplog.text
