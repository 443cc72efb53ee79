"""The retry decision (GitHub's documented rules) and the client's configuration from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from tekton_dag.github import limits
from tekton_dag.github.settings import Settings, SettingsError

NOW = 1_800_000_000.0


def test_retry_after_seconds_or_http_date_wins() -> None:
    assert limits.after_answer(429, {"retry-after": "7"}, "", 1, NOW).wait_s == 7  # type: ignore[union-attr]
    dated = limits.after_answer(403, {"retry-after": "Fri, 15 Jan 2027 08:00:10 GMT"}, "secondary rate limit", 1,
                                NOW)
    assert dated is not None and dated.rate_limited


def test_primary_limit_waits_until_reset() -> None:
    retry = limits.after_answer(403, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(NOW) + 30)},
                                "API rate limit exceeded", 1, NOW)
    assert retry is not None and retry.reason == "rate_limited" and 30 <= retry.wait_s <= 31


def test_secondary_limit_without_headers_waits_a_minute_doubling() -> None:
    first = limits.after_answer(403, {}, "You have exceeded a secondary rate limit", 1, NOW)
    second = limits.after_answer(403, {}, "You have exceeded a secondary rate limit", 2, NOW)
    assert first is not None and second is not None
    assert (first.wait_s, second.wait_s) == (60, 120)


def test_permission_refusals_and_client_errors_are_not_retried() -> None:
    assert limits.after_answer(403, {"x-ratelimit-remaining": "4000"}, "Resource not accessible by integration",
                               1, NOW) is None
    assert all(limits.after_answer(s, {}, "", 1, NOW) is None for s in (400, 401, 404, 422))


def test_server_errors_back_off_exponentially_with_a_cap() -> None:
    waits = [limits.after_answer(502, {}, "", n, NOW).wait_s for n in (1, 2, 10)]  # type: ignore[union-attr]
    assert 0.25 <= waits[0] <= 0.5 and 0.5 <= waits[1] <= 1.0 and waits[2] <= limits.SERVER_BACKOFF_MAX_S


def test_settings_from_the_environment(tmp_path: Path) -> None:
    key, token = tmp_path / "key.pem", tmp_path / "token"
    key.write_text("-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n")
    token.write_text("ghp_x\n")
    assert Settings.from_env({}) is None
    app = Settings.from_env({"GITHUB_APP_ID": "1", "GITHUB_APP_PRIVATE_KEY_FILE": str(key),
                             "GITHUB_API_URL": "https://ghe.example/api/v3/"})
    assert app is not None and app.app is not None and app.api_url == "https://ghe.example/api/v3"
    assert "PRIVATE" not in repr(app)  # the key never reaches a log line
    plain = Settings.from_env({"GITHUB_TOKEN_FILE": str(token)})
    assert plain is not None and plain.token == "ghp_x" and plain.app is None
    for env, named in [({"GITHUB_APP_ID": "1"}, "GITHUB_APP_PRIVATE_KEY_FILE"),
                       ({"GITHUB_APP_ID": "1", "GITHUB_APP_PRIVATE_KEY_FILE": str(token)}, "not a PEM"),
                       ({"GITHUB_TOKEN_FILE": str(tmp_path / "missing")}, "cannot read"),
                       ({"GITHUB_TOKEN_FILE": str(token), "GITHUB_API_DEADLINE_SECONDS": "soon"}, "DEADLINE"),
                       ({"GITHUB_TOKEN_FILE": str(token), "GITHUB_API_URL": "http://[::1"}, "Invalid IPv6 URL"),
                       ({"GITHUB_TOKEN_FILE": str(token), "GITHUB_API_URL": "http://ghe:99999"}, "out of range"),
                       ({"GITHUB_TOKEN_FILE": str(token), "GITHUB_API_URL": "http://:80/api"}, "has no host")]:
        with pytest.raises(SettingsError, match=named):
            Settings.from_env(env)


@pytest.mark.parametrize(("variable", "field", "default"), [
    ("GITHUB_WRITE_INTERVAL_SECONDS", "write_interval_s", 1.0),  # best practices: a second between writes
    ("GITHUB_NOTIFICATION_INTERVAL_SECONDS", "notification_interval_s", 3.0),  # octokit's notifications group
])
def test_the_pacing_intervals_default_to_githubs_and_octokits_and_are_bounded(
        tmp_path: Path, variable: str, field: str, default: float) -> None:
    token = tmp_path / "token"
    token.write_text("ghp_x\n")
    env = {"GITHUB_TOKEN_FILE": str(token)}
    assert getattr(Settings.from_env(env), field) == default
    assert getattr(Settings.from_env({**env, variable: "0"}), field) == 0.0
    assert getattr(Settings.from_env({**env, variable: "0.25"}), field) == 0.25
    for raw in ("soon", "-1", "61", "nan", "\u0661", "1_0", "1e1"):  # float() reads the last three as numbers
        with pytest.raises(SettingsError, match=variable):
            Settings.from_env({**env, variable: raw})


def test_the_deadline_is_an_ascii_decimal(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("ghp_x\n")
    env = {"GITHUB_TOKEN_FILE": str(token)}
    for raw in ("\u0661\u0660", "1_0", "+5", "5e0"):  # float() reads each as a number; nobody means one
        with pytest.raises(SettingsError, match="GITHUB_API_DEADLINE_SECONDS"):
            Settings.from_env({**env, "GITHUB_API_DEADLINE_SECONDS": raw})
