"""`tekton-dag bootstrap` as a user runs it: a subprocess, a real registry, a recording Broker sink."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import yaml

from tekton_dag.events import catalog
from tekton_dag.testing.registry import Registry
from tekton_dag.testing.serving import free_port


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k not in ("K_SINK", "TEKTON_DAG_TEAMS_DIR")}
    environment.update(env or {})
    return subprocess.run([sys.executable, "-m", "tekton_dag.cli.main", "bootstrap", *args],
                          capture_output=True, text=True, env=environment, timeout=60)


def test_dry_run_prints_what_is_built_and_skipped_and_why(
    registry: Registry, teams_for, tag: str, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    teams, _ = teams_for(registry.host)
    registry.push_images(["payment-api"], tag)
    done = cli("--team", "commerce", "--stack", "shop", "--apps", "storefront-web,payment-api,checkout-api",
               "--image-tag", tag, "--dry-run", "--teams", str(teams), env={"HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["STACK", "APP", "ACTION", "WAVE", "REASON"]
    assert lines[1].split()[:5] == ["shop", "checkout-api", "build", "1", "image"]
    assert lines[2].split()[:4] == ["shop", "storefront-web", "build", "2"]
    assert lines[3].split()[:5] == ["shop", "payment-api", "skip", "-", "image"]
    assert "exists: found (sha256:" in lines[3]
    assert lines[1].endswith("image missing (below)")  # a shared cause is one line under the table
    assert lines[4] == "2 app(s): image missing: not found (404)"
    assert lines[5] == f"commerce/shop: build 2 app(s) in 2 wave(s), skip 1; image tag {tag}"


def test_json_and_yaml_output(registry: Registry, teams_for, tag: str) -> None:  # type: ignore[no-untyped-def]
    teams, _ = teams_for(registry.host)
    as_json = cli("--team", "commerce", "--apps", "tax-api", "--image-tag", tag, "--dry-run", "--teams", str(teams),
                  "-o", "json")
    as_yaml = cli("--team", "commerce", "--apps", "tax-api", "--image-tag", tag, "--dry-run", "--teams", str(teams),
                  "-o", "yaml")
    plan = json.loads(as_json.stdout)
    assert plan["team"] == "commerce" and plan["publishedTo"] is None
    assert plan["stacks"][0]["buildApps"] == ["tax-api"]  # camelCase, as every command's output
    assert plan["imageTag"] == tag and plan["forceRebuild"] is False
    assert not [k for k in plan if "_" in k]
    assert plan["stacks"][0]["built"][0]["reason"] == "image missing"
    assert yaml.safe_load(as_yaml.stdout)["stacks"] == plan["stacks"]


def test_publishes_the_request_to_the_sink(registry: Registry, teams_for, sink, tag: str) -> None:  # type: ignore[no-untyped-def]
    teams, _ = teams_for(registry.host)
    done = cli("--team", "commerce", "--apps", "tax-api,cart-api", "--force-rebuild", "--image-tag", tag,
               "--teams", str(teams), "-o", "json", env={"K_SINK": sink.url})
    assert done.returncode == 0, done.stderr
    [event] = sink.received
    plan = json.loads(done.stdout)
    assert event.get_type() == catalog.BOOTSTRAP_REQUESTED
    assert event.get_source() == catalog.SOURCE_CLI
    assert event.get_id() == plan["delivery"]
    assert event.get_data() == {"team": "commerce", "delivery": plan["delivery"], "stack": "",
                             "apps": ["tax-api", "cart-api"], "force_rebuild": True, "image_tag": tag,
                             "requested_by": "cli"}
    assert f"published {catalog.BOOTSTRAP_REQUESTED}" in done.stderr


def test_sink_flag_wins_and_a_refusing_broker_is_an_error(teams_for, sink, registry: Registry) -> None:  # type: ignore[no-untyped-def]
    teams, _ = teams_for(registry.host)
    sink.status = 500
    done = cli("--team", "commerce", "--apps", "tax-api", "--teams", str(teams), "--sink", sink.url,
               env={"K_SINK": "http://127.0.0.1:9/"})
    assert done.returncode == 1
    assert len(sink.received) == 1
    assert "bootstrap.requested not published" in done.stderr and "answered 500" in done.stderr


def test_no_sink_is_a_clear_error_before_any_work(teams_for, registry: Registry) -> None:  # type: ignore[no-untyped-def]
    teams, _ = teams_for(registry.host)
    done = cli("--team", "commerce", "--teams", str(teams))
    assert done.returncode == 1
    assert "no Broker to publish to: pass --sink URL or set K_SINK" in done.stderr
    assert done.stdout == ""


def test_unknown_app_fails_naming_it_and_publishes_nothing(teams_for, sink, registry: Registry) -> None:  # type: ignore[no-untyped-def]
    teams, _ = teams_for(registry.host)
    done = cli("--team", "commerce", "--apps", "checkout-api,ghost", "--teams", str(teams), "--sink", sink.url)
    assert done.returncode == 1
    assert "unknown app 'ghost'" in done.stderr
    assert sink.received == []


def test_invalid_configuration_lists_the_problems(tmp_path: Path) -> None:
    done = cli("--team", "commerce", "--dry-run", "--teams", str(tmp_path / "nowhere"))
    assert done.returncode == 1
    assert "invalid configuration" in done.stderr and "no such directory" in done.stderr


def test_help_names_every_option() -> None:
    done = cli("--help")
    for option in ("--team", "--stack", "--apps", "--force-rebuild", "--dry-run", "--teams", "--sink", "--image-tag",
                   "-o"):
        assert option in done.stdout


def test_a_registry_that_is_down_is_one_line_with_a_count_and_progress_only_on_a_terminal(
    teams_for, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    teams, _ = teams_for(f"127.0.0.1:{free_port()}")  # nothing listens there
    args = ("--team", "commerce", "--dry-run", "--teams", str(teams), "--timeout", "2")
    done = cli(*args, env={"HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    causes = [line for line in done.stdout.splitlines() if line.startswith("40 app(s): ")]
    assert len(causes) == 1 and "registry check failed: registry 127.0.0.1:" in causes[0]
    assert done.stdout.count("unreachable") == 1  # not once per app
    assert "checked" not in done.stderr  # a pipe gets no progress line
    leader, follower = pty.openpty()
    try:
        environment = {k: v for k, v in os.environ.items() if k not in ("K_SINK", "TEKTON_DAG_TEAMS_DIR")}
        on_terminal = subprocess.run(
            [sys.executable, "-m", "tekton_dag.cli.main", "bootstrap", *args],
            stdout=subprocess.PIPE,
            stderr=follower,
            text=True,
            timeout=60,
            env={**environment, "HOME": str(tmp_path)},
        )
        os.close(follower)
        follower = -1
        shown = b""
        while chunk := _read_pty(leader):
            shown += chunk
    finally:
        os.close(leader)
        if follower >= 0:
            os.close(follower)
    assert on_terminal.returncode == 0
    assert "\rchecked 40/40 image(s) in the registry\r\n" in shown.decode()  # the tty maps \n to \r\n


def _read_pty(fd: int) -> bytes:
    try:
        return os.read(fd, 65536)
    except OSError:  # EIO: the other end is closed
        return b""
