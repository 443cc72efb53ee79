"""Tekton's CloudEvents as the double builds and sends them (tektoncd/pipeline
pkg/reconciler/events/cloudevent/cloudevent.go and cloud_event_controller.go)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tekton_dag.events.tekton import namespace_of_source
from tekton_dag.testing import tekton_events
from tekton_dag.testing.tekton import TektonDouble, Timing
from tektondouble.conftest import NS, PIPELINE, pipelinerun


class RawSink:
    """Records each POST's headers and body; answers 503 to the first ``failures`` posts."""

    def __init__(self, failures: int = 0) -> None:
        self.posts: list[tuple[dict[str, str], bytes]] = []
        self.failures = failures
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                failing = sink.failures > 0
                sink.failures -= 1
                if not failing:
                    sink.posts.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(503 if failing else 202)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def sink():
    raw = RawSink()
    yield raw
    raw.close()


async def test_events_go_to_the_sink_in_binary_mode_with_tektons_attributes(api, store, clock, sink) -> None:
    await store.create_run(pipelinerun())
    d = TektonDouble(store, [NS], {"ci": PIPELINE}, sink=sink.url, clock=clock, timing=Timing(1.0),
                     emit_queued=False)  # releases before v1.12: every state has its event
    for _ in range(6):
        await d.poll()
        clock.advance(1.0)
    await d.aclose()
    kinds = sorted(h["ce-type"] for h, _ in sink.posts)  # sent concurrently: order is not guaranteed (docs/events.md)
    assert kinds == sorted(f"dev.tekton.event.pipelinerun.{x}.v1" for x in ("started", "running", "successful"))
    headers, body = next(p for p in sink.posts if p[0]["ce-type"].endswith("successful.v1"))
    assert headers["ce-specversion"] == "1.0"
    assert headers["ce-source"] == f"/apis/tekton.dev/v1/namespaces/{NS}/PipelineRun/run-1"
    assert headers["ce-subject"] == "run-1"
    assert headers["ce-id"] and headers["ce-time"]
    assert headers["content-type"] == "application/json"
    data = json.loads(body)
    assert list(data) == ["pipelineRun"]
    converted = data["pipelineRun"]
    assert "apiVersion" not in converted and "kind" not in converted  # ConvertFrom copies ObjectMeta only
    assert converted["metadata"]["namespace"] == NS and converted["metadata"]["labels"] == {"tekton-dag.dev/team": "a"}
    assert converted["spec"]["serviceAccountName"] == "pipeline" and "taskRunTemplate" not in converted["spec"]
    assert converted["status"]["conditions"][0]["reason"] == "Completed"


async def test_a_failing_sink_is_retried_with_backoff(api, store, clock) -> None:
    flaky = RawSink(failures=2)
    try:
        await store.create_run(pipelinerun(status="PipelineRunPending"))
        d = TektonDouble(store, [NS], {"ci": PIPELINE}, sink=flaky.url, clock=clock, emit_queued=False)
        await d.poll()
        await d.aclose()
        assert [h["ce-type"] for h, _ in flaky.posts] == ["dev.tekton.event.pipelinerun.unknown.v1"]
    finally:
        flaky.close()


def test_v1beta1_conversion_renames_what_differs() -> None:
    run = pipelinerun()
    run["spec"]["taskRunTemplate"]["podTemplate"] = {"nodeSelector": {"a": "b"}}
    run["spec"]["taskRunSpecs"] = [{"pipelineTaskName": "build", "serviceAccountName": "sa", "podTemplate": {},
                                    "stepSpecs": [{"name": "s"}], "sidecarSpecs": [{"name": "c"}]}]
    run["status"] = {"results": [{"name": "r", "value": "v"}]}
    converted = tekton_events.to_v1beta1(run)
    assert converted["spec"]["podTemplate"] == {"nodeSelector": {"a": "b"}}
    assert converted["spec"]["taskRunSpecs"] == [{"pipelineTaskName": "build", "taskServiceAccountName": "sa",
                                                  "taskPodTemplate": {}, "stepOverrides": [{"name": "s"}],
                                                  "sidecarOverrides": [{"name": "c"}]}]
    assert converted["status"] == {"pipelineResults": [{"name": "r", "value": "v"}]}
    assert run["spec"]["taskRunTemplate"]  # the original is untouched


def test_a_selflink_wins_over_the_built_source() -> None:
    run = pipelinerun()
    run["metadata"]["selfLink"] = f"/apis/tekton.dev/v1/namespaces/{NS}/pipelineruns/run-1"
    assert tekton_events.cloud_event(run).get_source() == run["metadata"]["selfLink"]


@pytest.mark.parametrize(("condition", "kind"), [
    (None, "queued"),
    ({"status": "Unknown", "reason": "Started"}, "started"),
    ({"status": "Unknown", "reason": "Running"}, "running"),
    ({"status": "Unknown", "reason": "PipelineRunPending"}, "unknown"),
    ({"status": "Unknown", "reason": "CancelledRunningFinally"}, "unknown"),
    ({"status": "True", "reason": "Completed"}, "successful"),
    ({"status": "False", "reason": "Cancelled"}, "failed"),
])
def test_the_type_follows_the_succeeded_condition(condition, kind) -> None:
    run = pipelinerun()
    if condition:
        run["status"] = {"conditions": [{"type": "Succeeded", **condition}]}
    assert tekton_events.event_type(run) == f"dev.tekton.event.pipelinerun.{kind}.v1"


def test_queued_is_sent_only_when_asked_for(store, clock) -> None:
    run = pipelinerun()
    assert not tekton_events.EventCache().admit(run, emit_queued=False)
    assert tekton_events.EventCache().admit(run, emit_queued=True)


def kinds(d: TektonDouble) -> list[str]:
    return [e.get_type().removeprefix(tekton_events.PREFIX).removesuffix(".v1") for e in d.events]


@pytest.mark.parametrize(("held", "expected"), [
    (False, ["queued", "running", "successful"]),
    (True, ["queued", "unknown", "running", "successful"]),  # unknown: Unknown/PipelineRunPending
])
async def test_the_events_controller_of_v1_12_sees_only_what_the_reconciler_stored(
    api, store, clock, held: bool, expected: list[str]
) -> None:
    """Since v1.12 only the separate tekton-events-controller sends CloudEvents, from the
    PipelineRuns it watches (commit 3fd3dac3d "Remove CloudEvents from core PipelineRun
    reconciler"; docs/events.md; pkg/reconciler/notifications/pipelinerun/reconciler.go). The core
    reconciler sets Unknown/Started and, in the same reconcile, Unknown/Running, then writes the
    status once (pipelinerun.go ReconcileKind): the watch never sees Started, so no ``started``."""
    await store.create_run(pipelinerun(status="PipelineRunPending") if held else pipelinerun())
    d = TektonDouble(store, [NS], {"ci": PIPELINE}, clock=clock, timing=Timing(1.0), emit_queued=True)
    await d.poll()
    if held:
        await store.patch_run(NS, "run-1", {"spec": {"status": None}})
    for _ in range(6):
        await d.poll()
        clock.advance(1.0)
    assert kinds(d) == expected


def test_running_goes_out_once_but_unknown_on_every_change() -> None:
    cache, run = tekton_events.EventCache(), pipelinerun()
    admitted = []
    for reason, message in [("Running", "1"), ("Running", "2"), ("PipelineRunStopping", "3"),
                            ("PipelineRunStopping", "3"), ("PipelineRunStopping", "4")]:
        run["status"] = {
            "conditions": [{"type": "Succeeded", "status": "Unknown", "reason": reason, "message": message}]
        }
        admitted.append(cache.admit(run, emit_queued=False))
    assert admitted == [True, False, True, False, True]


@pytest.mark.parametrize(("source", "namespace"), [
    ("/apis/tekton.dev/v1/namespaces/commerce-ci/PipelineRun/x", "commerce-ci"),
    ("/apis/tekton.dev/v1beta1/namespaces/team-a/pipelineruns/x", "team-a"),
    ("/apis/tekton.dev/v1/namespaces//PipelineRun/x", None),
    ("/apis/other.dev/v1/namespaces/a/PipelineRun/x", None),
    ("/tekton-dag/run-creator", None),
    ("", None),
])
def test_the_namespace_is_read_from_the_source(source: str, namespace: str | None) -> None:
    assert namespace_of_source(source) == namespace
