"""`helm test` hooks (templates/tests/): webhook-ingest ready, a signed ping answered, resolver
reachable through the Broker. The checks' script is the one the rendered ConfigMap carries; here it
runs against the real functions (a `tekton-dag serve webhook-ingest` process, resolver in-process)."""

from __future__ import annotations

import asyncio
import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from support.helm import find, one, problems, render
from tekton_dag.events import catalog, codec, sealing
from tekton_dag.functions.resolver import Resolver
from tekton_dag.testing.github import SHARED_SECRET, environment, write_teams
from tekton_dag.testing.sealing import TEST_EVENT_KEY
from tekton_dag.testing.serving import served_function

HOOK = "helm.sh/hook"


def hooks(*sets: str) -> list[dict]:
    return [d for d in render(sets=sets, tests=True) if HOOK in d["metadata"].get("annotations", {})]


def check_module(tmp_path: Path) -> tuple[ModuleType, Path]:
    """files/helm-test/check.py as the ConfigMap delivers it to the test Pods."""
    script = tmp_path / "check.py"
    script.write_text(one(hooks(), "ConfigMap", "tekton-dag-test-check")["data"]["check.py"])
    spec = importlib.util.spec_from_file_location("helm_test_check", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, script


def test_the_hooks_are_test_hooks_only_and_not_part_of_the_release() -> None:
    names = {(d["kind"], d["metadata"]["name"]) for d in hooks()}
    assert names == {("ConfigMap", "tekton-dag-test-check"), ("Pod", "tekton-dag-test-ready"),
                     ("Pod", "tekton-dag-test-ping"), ("Pod", "tekton-dag-test-resolver"),
                     ("Service", "tekton-dag-test-resolver"), ("Trigger", "tekton-dag-test-resolver")}
    assert all(d["metadata"]["annotations"][HOOK] == "test" for d in hooks())
    assert not [d for d in render() if HOOK in d["metadata"].get("annotations", {})]
    assert {(d["kind"], d["metadata"]["name"]) for d in hooks("mode=all-in-one")} == {
        ("ConfigMap", "tekton-dag-test-check"), ("Pod", "tekton-dag-test-ready"), ("Pod", "tekton-dag-test-ping")}
    assert hooks("tests.enabled=false") == []


def test_hook_pods_are_valid_and_closed() -> None:
    docs = hooks()
    assert [p for d in docs if d["apiVersion"] == "v1" for p in problems(d)] == []
    for pod in find(docs, "Pod"):
        assert pod["spec"]["automountServiceAccountToken"] is False
        assert pod["spec"]["containers"][0]["securityContext"]["runAsNonRoot"] is True


@pytest.mark.parametrize("sets,secret,key", [((), "tekton-dag-github-webhook", "secret"),
                                             (("team.webhookSecret=blue-hook",), "blue-hook", "secret")])
def test_the_ping_is_signed_with_the_secret_webhook_ingest_reads(sets, secret, key) -> None:
    pod = one(hooks(*sets), "Pod", "tekton-dag-test-ping")
    (volume,) = [v for v in pod["spec"]["volumes"] if "secret" in v]
    assert volume["secret"]["secretName"] == secret and volume["secret"]["items"][0]["key"] == key
    ingest = one(render(sets=sets), "Service", "webhook-ingest")["spec"]["template"]["spec"]["volumes"]
    assert secret in {v["secret"]["secretName"] for v in ingest if "secret" in v}


def test_the_resolver_reply_is_routed_back_to_the_test_pod() -> None:
    docs = hooks()
    trigger = one(docs, "Trigger", "tekton-dag-test-resolver")
    pod = one(docs, "Pod", "tekton-dag-test-resolver")
    service = one(docs, "Service", "tekton-dag-test-resolver")
    env = {e["name"]: e["value"] for e in pod["spec"]["containers"][0]["env"]}
    assert trigger["spec"]["filter"]["attributes"] == {"type": catalog.EVENT_IGNORED, "subject": env["PROBE_REPO"]}
    assert trigger["spec"]["subscriber"]["ref"] == {
        "apiVersion": "v1",
        "kind": "Service",
        "name": service["metadata"]["name"],
    }
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    assert service["spec"]["ports"][0]["targetPort"] == int(env["LISTEN_PORT"])
    assert env["BROKER_URL"] == "http://broker-ingress.knative-eventing.svc.cluster.local/tekton-pipelines/tekton-dag"


@pytest.mark.slow
@pytest.mark.parametrize("with_team", [True, False], ids=["team", "no-team"])
def test_ready_and_ping_checks_pass_against_real_webhook_ingest(tmp_path: Path, with_team: bool) -> None:
    _, script = check_module(tmp_path)
    teams = write_teams(tmp_path / "teams") if with_team else (tmp_path / "teams")
    teams.mkdir(exist_ok=True)
    secret_file = tmp_path / "secret"
    secret_file.write_text(f"{SHARED_SECRET},another-during-rotation")
    with served_function("webhook-ingest", environment(teams, K_SINK="http://127.0.0.1:9"), tmp_path) as server:
        for check in ("ready", "ping"):
            env = {"WEBHOOK_URL": server.url, "SECRET_FILE": str(secret_file), "TIMEOUT_S": "10"}
            result = subprocess.run(
                [sys.executable, str(script), check], env=env, capture_output=True, text=True, timeout=60
            )
            assert result.returncode == 0, result.stdout + result.stderr
            assert result.stdout.startswith("PASS:")
        assert ("pong" if with_team else "no team is configured yet") in result.stdout


def test_ping_check_fails_with_a_reason_when_the_secret_is_missing(tmp_path: Path) -> None:
    _, script = check_module(tmp_path)
    env = {"WEBHOOK_URL": "http://127.0.0.1:9", "SECRET_FILE": str(tmp_path / "absent")}
    result = subprocess.run([sys.executable, str(script), "ping"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "create the webhook Secret" in result.stderr


def test_resolver_answers_the_probe_event_with_the_reply_the_check_waits_for(tmp_path: Path) -> None:
    check, _ = check_module(tmp_path)
    body, headers = check.push_event("tekton-dag-helm-test/t", "helm-test-1", TEST_EVENT_KEY)
    event = codec.decode(headers, body)
    resolver = Resolver()
    resolver.start(environment(write_teams(tmp_path / "teams"), TEKTON_DAG_CONFIG_RELOAD_S="0"))
    try:
        reply = asyncio.run(resolver._process(event))
    finally:
        resolver.stop()
    assert reply.get_type() == check.IGNORED_TYPE == catalog.EVENT_IGNORED
    assert reply.get_subject() == "tekton-dag-helm-test/t"  # what the test Trigger filters on
    assert reply.get_data()["input_id"] == "helm-test-1"  # how the check matches its own event


def test_one_broker_address_for_tekton_and_the_probe(tmp_path: Path) -> None:
    """eventing.broker.address (the Broker's real URL when it is not Knative's default) is where the
    resolver check sends its probe and, in NOTES.txt, Tekton's event sink: one value for one fact."""
    from test_notes import notes

    url = "http://kafka-broker-ingress.knative-eventing.svc.cluster.local/tekton-pipelines/tekton-dag"
    pod = one(hooks("eventing.broker.class=Kafka"), "Pod", "tekton-dag-test-resolver")
    assert {e["name"]: e["value"] for e in pod["spec"]["containers"][0]["env"]}["BROKER_URL"] == url
    custom = "http://ingress.example.svc.cluster.local/tekton-pipelines/tekton-dag"
    pod = one(hooks(f"eventing.broker.address={custom}"), "Pod", "tekton-dag-test-resolver")
    assert {e["name"]: e["value"] for e in pod["spec"]["containers"][0]["env"]}["BROKER_URL"] == custom
    assert f'"sink":"{custom}"' in notes(tmp_path, f"eventing.broker.address={custom}")


def test_the_probe_is_refused_unsealed_and_its_seal_is_the_package_s(tmp_path: Path) -> None:
    """check.py seals without the package; the package's own check accepts that seal, and rejects
    the probe without it (so the hook cannot pass by accident, nor drift from events.sealing)."""
    check, _ = check_module(tmp_path)
    keys = sealing.EventKeys({sealing.KEY_ENV: TEST_EVENT_KEY})
    body, headers = check.push_event("tekton-dag-helm-test/t", "helm-test-2", TEST_EVENT_KEY)
    sealed_probe = codec.decode(headers, body)
    keys.check(sealed_probe, codec.data(sealed_probe))
    body, headers = check.push_event("tekton-dag-helm-test/t", "helm-test-3")
    unsealed = codec.decode(headers, body)
    with pytest.raises(sealing.SealError):
        keys.check(unsealed, codec.data(unsealed))
