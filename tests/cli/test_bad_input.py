"""Bad input to any subcommand: one `tekton-dag: error:` line naming the file or setting and what
is wrong, exit 1 (or 2 for usage), never a traceback (the real console entry point, a subprocess)."""

from __future__ import annotations

import http.server
import os
import socket
import threading
from pathlib import Path

import pytest
import yaml

from support.clirun import REPO, run_cli

REPO_TEAMS = REPO / "teams"
DEEP_JSON = b"[" * 100_000 + b"]" * 100_000  # valid JSON that Python's decoder cannot nest


def one_error(result: object, message: str, code: int = 1) -> None:
    assert result.returncode == code, result.stderr  # type: ignore[attr-defined]
    assert message in result.stderr and "Traceback" not in result.stderr, result.stderr  # type: ignore[attr-defined]


@pytest.mark.parametrize("command", [("resolve", "--payload"), ("send", "--secret", "s", "--print", "--file")])
def test_a_saved_body_nested_too_deeply_is_named(tmp_path: Path, command: tuple[str, ...]) -> None:
    body = tmp_path / "deep.json"
    body.write_bytes(DEEP_JSON)
    one_error(run_cli(*command, str(body)), f"tekton-dag: error: {body}: JSON nested too deeply")


@pytest.mark.parametrize(("content", "said"), [
    (b'{"action": "opened", "action": "closed"}', "not valid JSON (object key 'action' appears more than once)"),
    (b'{"number": NaN}', "not valid JSON (NaN is no JSON value: RFC 8259 has no NaN or Infinity)"),
    (b'\xef\xbb\xbf{"zen": "z", "hook_id": 1}', "not valid JSON (it starts with a byte order mark (U+FEFF)"),
])
@pytest.mark.parametrize("command", [("resolve", "--payload"), ("send", "--secret", "s", "--print", "--file")])
def test_a_saved_body_no_sender_would_send_is_named(tmp_path: Path, command: tuple[str, ...], content: bytes,
                                                    said: str) -> None:
    """As webhook-ingest refuses it (syntax.json_value): send signed and sent it, resolve previewed it."""
    body = tmp_path / "body.json"
    body.write_bytes(content)
    one_error(run_cli(*command, str(body)), f"tekton-dag: error: {body}: {said}")


def test_a_secret_file_that_is_not_text_is_named_not_shown(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_bytes(b"\xffghp_not-shown")
    result = run_cli("redeliver", "--since", "1h", "--repo", "a/b", "--hook-id", "1",
                     env={"GITHUB_TOKEN_FILE": str(token)})
    one_error(result, f"tekton-dag: error: GITHUB_TOKEN_FILE: {token} is not UTF-8 text")
    assert "not-shown" not in result.stderr


@pytest.mark.parametrize(("key", "said"), [(b"\xff" + b"k" * 40, "not UTF-8 text"), (None, "Is a directory")])
def test_bootstrap_says_why_it_cannot_seal_before_planning(tmp_path: Path, key: bytes | None, said: str) -> None:
    """No event key: nothing could be published, so the plan (every image asked of the registry) is not made."""
    key_file = tmp_path / "key"
    if key is None:
        key_file.mkdir()
    else:
        key_file.write_bytes(key)
    result = run_cli("bootstrap", "--team", "default", "--sink", "http://127.0.0.1:9/",
                     env={"TEKTON_DAG_EVENT_KEY": "", "TEKTON_DAG_EVENT_KEY_FILE": str(key_file)})
    one_error(result, "cannot be published: no event key configured: set TEKTON_DAG_EVENT_KEY or "
                      f"TEKTON_DAG_EVENT_KEY_FILE (at least 32 characters); TEKTON_DAG_EVENT_KEY_FILE {key_file}: "
                      f"{said}")
    assert result.stdout == ""  # no plan


def test_bootstrap_names_a_junk_k_sink_before_planning() -> None:
    result = run_cli("bootstrap", "--team", "default", env={"K_SINK": "broker:8080"})
    one_error(result, "tekton-dag: error: K_SINK 'broker:8080' has no http:// or https:// scheme")
    assert result.stdout == ""


def test_bootstrap_reads_no_k_sink_when_sink_is_given() -> None:
    result = run_cli("bootstrap", "--team", "default", "--sink", "http://127.0.0.1:9/",
                     env={"K_SINK": "broker:8080", "TEKTON_DAG_EVENT_KEY": "", "TEKTON_DAG_EVENT_KEY_FILE": ""})
    one_error(result, "cannot be published: no event key configured")  # the next check, not K_SINK's
    assert "broker:8080" not in result.stderr


@pytest.mark.parametrize(("option", "env", "said"), [
    (("--kubeconfig", "{tmp}/none"), {}, "--kubeconfig {tmp}/none: no such file"),
    (("--kubeconfig", "{tmp}"), {}, "--kubeconfig {tmp}: is not a file"),
    ((), {"KUBECONFIG": "{tmp}/none"}, "KUBECONFIG {tmp}/none: no such file"),
    (("--kubeconfig", "{tmp}/junk"), {}, "cannot reach the cluster (--kubeconfig {tmp}/junk): while parsing a flow "
                                         "node expected the node content, but found '<stream end>'"),
])
def test_dead_letters_names_a_kubeconfig_it_cannot_use(tmp_path: Path, option: tuple[str, ...],
                                                       env: dict[str, str], said: str) -> None:
    (tmp_path / "junk").write_text("clusters: [\n")
    result = run_cli("dead-letters", "list", "-n", "ci", *(o.format(tmp=tmp_path) for o in option),
                     env={k: v.format(tmp=tmp_path) for k, v in env.items()})
    one_error(result, f"tekton-dag: error: {said.format(tmp=tmp_path)}")
    assert len(result.stderr.splitlines()) == 1, result.stderr


def test_dead_letters_replay_blames_k_sink_not_broker_and_only_when_it_posts(tmp_path: Path) -> None:
    letters = tmp_path / "dead-letters.jsonl"
    local = run_cli("dead-letters", "replay", "--all", "--local", str(letters), env={"K_SINK": "broker:8080"})
    one_error(local, "tekton-dag: error: K_SINK 'broker:8080' has no http:// or https:// scheme (or pass --broker URL)")
    # --namespace posts nothing (the sink in the cluster replays): K_SINK is not read
    cluster = run_cli("dead-letters", "replay", "--all", "-n", "ci", "--kubeconfig", str(tmp_path / "none"),
                      env={"K_SINK": "broker:8080"})
    one_error(cluster, f"tekton-dag: error: --kubeconfig {tmp_path / 'none'}: no such file")


def test_serve_refuses_a_k_sink_it_could_never_publish_to() -> None:
    """Before anything starts, as for LISTEN_ADDRESS: else the function is Ready and fails every publish."""
    with socket.socket() as probe:  # a free port: were K_SINK taken, the server would start (until the timeout)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = run_cli("serve", "resolver", "--listen", f"127.0.0.1:{port}", env={"K_SINK": "broker.ns.svc"})
    one_error(result, "tekton-dag: error: K_SINK 'broker.ns.svc' has no http:// or https:// scheme")


def test_redeliver_says_github_refused_the_connection_not_that_it_timed_out(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("ghp_not-shown\n")
    with socket.socket() as probe:  # a port nothing listens on: connections are refused at once
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = run_cli("redeliver", "--since", "1h", "--repo", "a/b", "--hook-id", "1",
                     env={"GITHUB_TOKEN_FILE": str(token), "GITHUB_API_URL": f"http://127.0.0.1:{port}",
                          "GITHUB_API_DEADLINE_SECONDS": "1"})
    error = result.stderr.splitlines()[-1]
    one_error(result, "tekton-dag: error: webhook 1 of a/b: list_hook_deliveries: GET ")
    assert ": no answer (ClientConnectorError: Cannot connect to host 127.0.0.1:" in error and "timeout" not in error
    assert "not-shown" not in result.stderr


def test_render_refuses_what_run_creator_would_refuse_and_prints_nothing() -> None:
    result = run_cli("render", "--mode", "merge", "--app", "demo-fe", "--image-tag", "v1 final")
    one_error(result, "tekton-dag: error: image_tag: 'v1 final' is not a valid tag")
    assert result.stdout == ""


@pytest.mark.parametrize("option", ["--work-dir", "--dry-run-dir", "--triggers"])
def test_dev_names_a_directory_option_given_a_file(tmp_path: Path, option: str) -> None:
    """Said before anything starts: with --dry-run-dir a file, the chain started and failed every write."""
    file = tmp_path / "file"
    file.write_text("")
    with socket.socket() as holder:  # a busy webhook port: were the option taken, dev would stop at it
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = str(holder.getsockname()[1])
        result = run_cli("dev", "--port", port, "--work-dir", str(tmp_path / "work"), option, str(file))
    one_error(result, f"tekton-dag: error: {option} {file}: not a directory")


class _NotKubernetes(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        body = b"<html>a login page</html>"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


def test_dead_letters_says_the_server_it_reached_is_no_kubernetes_api(tmp_path: Path) -> None:
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NotKubernetes) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "c",
            "clusters": [{"name": "c", "cluster": {"server": f"http://127.0.0.1:{server.server_address[1]}"}}],
            "users": [{"name": "u", "user": {"token": "not-shown"}}],
            "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}]}))
        result = run_cli("dead-letters", "list", "-n", "ci", "--kubeconfig", str(kubeconfig))
        server.shutdown()
    one_error(result, "tekton-dag: error: dead letters in namespace ci: the cluster's answer is not JSON, is the "
                      "kubeconfig's server a Kubernetes API?")
    assert "not-shown" not in result.stderr


@pytest.mark.parametrize(("content", "said"), [(b"\xff{}", "not UTF-8 text"), (DEEP_JSON, "JSON nested too deeply")])
def test_bootstrap_names_a_registry_auth_file_it_cannot_read(tmp_path: Path, content: bytes, said: str) -> None:
    auth = tmp_path / "auth.json"
    auth.write_bytes(content)
    result = run_cli("bootstrap", "--team", "default", "--dry-run", env={"REGISTRY_AUTH_FILE": str(auth)})
    one_error(result, f"tekton-dag: error: {auth}: {said}")


@pytest.mark.parametrize(("args", "said"), [
    (("resolver", "--workers", "2"), "--workers 2: only all-in-one runs several workers, not resolver"),
    (("all-in-one", "--workers", "0"), "--workers 0: must be 1 or more"),
    # was no bound: 100000 all-in-one processes were forked, each loading the configuration
    (("all-in-one", "--workers", "65"), f"--workers 65: at most 64 (each worker is one more all-in-one process, "
                                        f"at most one core and ~140 MB; this machine has {os.cpu_count() or 1} CPUs)"),
    (("all-in-one", "--workers", "100000"), "--workers 100000: at most 64 ("),
])
def test_serve_refuses_workers_it_cannot_run_before_loading_anything(args: tuple[str, ...], said: str) -> None:
    """The one line: the configuration's load (and its log line) came first."""
    result = run_cli("serve", *args)
    assert result.returncode == 2 and result.stderr.startswith(f"tekton-dag serve: error: {said}"), result.stderr
    assert result.stderr.count("\n") == 1


def test_serve_refuses_workers_whose_metrics_ports_pass_65535() -> None:
    """Worker i serves METRICS_PORT + i: past 65535 each such worker only logged that its metrics
    listener did not start, and ran unscraped."""
    result = run_cli("serve", "all-in-one", "--workers", "10", env={"METRICS_PORT": "65530"})
    assert result.returncode == 2 and result.stderr.startswith(
        "tekton-dag serve: error: --workers 10: the workers' metrics ports would be METRICS_PORT 65530 to 65539, "
        "past 65535"), result.stderr


# Files read whole, each far past its limit: sparse, so the test writes nothing, and a reader that
# read them into memory (they did: Path.read_bytes, read_text) would need that much of it.
HUGE = 40 * 1024 ** 3
SECRET_LIMIT = "larger than 1 MiB, the most a Kubernetes Secret holds"


def sparse(path: Path, size: int = HUGE) -> Path:
    with path.open("wb") as file:
        file.truncate(size)
    return path


@pytest.mark.parametrize("command", [("resolve", "--payload"), ("send", "--secret", "s", "--print", "--file")])
def test_a_saved_body_past_githubs_cap_is_refused_unread(tmp_path: Path, command: tuple[str, ...]) -> None:
    body = sparse(tmp_path / "huge.json")
    one_error(run_cli(*command, str(body)),
              f"tekton-dag: error: {body}: cannot read: larger than 25 MiB, GitHub's cap on a webhook payload")
    # no size to go by: read up to the limit and no further
    one_error(run_cli(*command, "/dev/zero"),
              "tekton-dag: error: /dev/zero: cannot read: larger than 25 MiB, GitHub's cap on a webhook payload")


def test_a_config_file_past_a_configmaps_limit_is_named_unread(tmp_path: Path) -> None:
    (tmp_path / "teams" / "alpha").mkdir(parents=True)
    sparse(tmp_path / "teams" / "alpha" / "team.yaml")
    result = run_cli("validate", "--teams", "teams", cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert result.stdout == ("teams/alpha/team.yaml: (top): cannot read: larger than 1 MiB, the most the "
                             "ConfigMap that holds a team's files can hold\n")


def test_secret_files_past_a_secrets_limit_are_named_unread(tmp_path: Path) -> None:
    huge = sparse(tmp_path / "secret")
    result = run_cli("send", "--print", "pull_request.opened", "a/b", env={"GITHUB_WEBHOOK_SECRET_FILE": str(huge)})
    one_error(result, f"tekton-dag: error: GITHUB_WEBHOOK_SECRET_FILE {huge}: cannot read it ({SECRET_LIMIT})")
    result = run_cli("redeliver", "--since", "1h", "--repo", "a/b", "--hook-id", "1",
                     env={"GITHUB_TOKEN_FILE": str(huge)})
    one_error(result, f"tekton-dag: error: GITHUB_TOKEN_FILE: cannot read {huge}: {SECRET_LIMIT}")
    result = run_cli("bootstrap", "--team", "default", "--dry-run", env={"REGISTRY_AUTH_FILE": str(huge)})
    one_error(result, f"tekton-dag: error: {huge}: cannot read: {SECRET_LIMIT}")


@pytest.mark.parametrize(("content", "said"), [
    ("clusters: [\n", "while parsing a flow node expected the node content, but found '<stream end>'"),
    ("", "no kubeconfig: expected a YAML mapping with clusters, contexts, users and current-context"),
    ("apiVersion: v1\nkind: Config\n", "Invalid kube-config file. Expected key current-context"),
])
def test_dev_refuses_a_junk_kubeconfig_before_starting(tmp_path: Path, content: str, said: str) -> None:
    """dev takes an existing $KUBECONFIG as the cluster to create PipelineRuns in: a junk one started
    the chain, said "ready", and every PipelineRun failed."""
    junk = tmp_path / "kubeconfig"
    junk.write_text(content)
    result = run_cli("dev", "--teams", str(REPO_TEAMS), "--work-dir", str(tmp_path / "work"),
                     env={"KUBECONFIG": str(junk), "TEKTON_DAG_JOURNAL": str(tmp_path / "journal.sqlite3")})
    one_error(result, f"tekton-dag: error: KUBECONFIG {junk}: not a kubeconfig the functions can use ({said}")
    assert len(result.stderr.splitlines()) == 1 and "starting" not in result.stdout, result.stdout
