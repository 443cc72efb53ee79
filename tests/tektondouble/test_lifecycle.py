"""The Tekton double moves PipelineRuns as Tekton's reconciler does (rules cited in
tekton_dag/testing/tekton.py), through the real ``kubernetes`` client against the fake API."""

from __future__ import annotations

from pathlib import Path

import pytest

from tekton_dag.kube.stores import DirectoryStore, KubernetesStore
from tekton_dag.testing import tekton_events, tekton_rules
from tekton_dag.testing.kube_api import FakeKubeApi
from tekton_dag.testing.tekton import TektonDouble, Timing, directory_namespaces
from tektondouble.conftest import NS, PIPELINE, Clock, pipelinerun

SLOW = Timing(default=10.0)


def double(store, clock: Clock, **kwargs) -> TektonDouble:
    # The event sequences below are those of releases before v1.12 (every state, ``started`` among
    # them), which show each reconcile's state; test_events.py covers v1.12+, the double's default.
    kwargs.setdefault("emit_queued", False)
    return TektonDouble(store, [NS], {"ci": PIPELINE}, clock=clock, timing=kwargs.pop("timing", SLOW), **kwargs)


def condition(api: FakeKubeApi, name: str = "run-1") -> tuple[str, str]:
    found = tekton_events.succeeded_condition(api.get("pipelineruns", NS, name))
    assert found is not None
    return found["status"], found["reason"]


def types(d: TektonDouble) -> list[str]:
    return [e.get_type().removeprefix(tekton_events.PREFIX).removesuffix(".v1") for e in d.events]


async def settle(d: TektonDouble, clock: Clock, rounds: int = 8) -> None:
    for _ in range(rounds):
        await d.poll()
        clock.advance(10.0)


async def test_a_pending_run_is_held_then_starts_runs_and_succeeds(api, store, clock) -> None:
    await store.create_run(pipelinerun(status="PipelineRunPending"))
    d = double(store, clock)
    await d.poll()
    run = api.get("pipelineruns", NS, "run-1")
    assert condition(api) == ("Unknown", "PipelineRunPending") and "startTime" not in run["status"]
    assert d.children(NS, "run-1") == {}

    await store.patch_run(NS, "run-1", {"spec": {"status": None}})
    await d.poll()
    run = api.get("pipelineruns", NS, "run-1")
    assert condition(api) == ("Unknown", "Running") and run["status"]["startTime"]
    assert [c["pipelineTaskName"] for c in run["status"]["childReferences"]] == ["build"]  # test waits for build
    assert (
        run["status"]["conditions"][0]["message"]
        == "Tasks Completed: 0 (Failed: 0, Cancelled 0), Incomplete: 4, Skipped: 0"
    )

    await settle(d, clock)
    run = api.get("pipelineruns", NS, "run-1")
    # `report` reads build's result `publish` (simulated as ""): its `when` skips it, so Completed, not Succeeded
    assert condition(api) == ("True", "Completed") and run["status"]["completionTime"]
    assert run["status"]["skippedTasks"][0] == {"name": "report", "reason": "When Expressions evaluated to false",
                                                "whenExpressions": PIPELINE["spec"]["tasks"][2]["when"]}
    assert run["status"]["conditions"][0]["message"] == "Tasks Completed: 3 (Failed: 0, Cancelled 0), Skipped: 1"
    assert types(d) == ["unknown", "started", "running", "successful"]


async def test_tasks_follow_run_after_and_finally_starts_when_the_dag_is_done(api, store, clock) -> None:
    await store.create_run(pipelinerun())
    d = double(store, clock, timing=Timing(default=10.0, per_task={"build": 30.0}),
               results=lambda run, task: {"publish": "true"} if task == "build" else {})
    await d.poll()
    clock.advance(20.0)
    await d.poll()
    assert {n: c.state for n, c in d.children(NS, "run-1").items()} == {
        "build": "running", "test": "waiting", "report": "waiting", "notify": "waiting"}
    clock.advance(10.0)
    await d.poll()  # build done: test and report (its `when` now true) start together
    assert {n: c.state for n, c in d.children(NS, "run-1").items()} == {
        "build": "done", "test": "running", "report": "running", "notify": "waiting"}
    assert "finallyStartTime" not in api.get("pipelineruns", NS, "run-1")["status"]
    clock.advance(10.0)
    await d.poll()
    assert d.children(NS, "run-1")["notify"].state == "running"
    assert api.get("pipelineruns", NS, "run-1")["status"]["finallyStartTime"]
    await settle(d, clock)
    assert condition(api) == ("True", "Succeeded")


async def test_a_failed_task_stops_the_dag_runs_finally_and_fails_the_run(api, store, clock) -> None:
    await store.create_run(pipelinerun())
    d = double(store, clock, outcome=lambda run, task: "Failed" if task == "build" else "Succeeded")
    await settle(d, clock)
    children = d.children(NS, "run-1")
    assert children["test"].skip_reason == "PipelineRun was stopping"
    assert children["notify"].state == "done"  # finally still runs
    assert condition(api) == ("False", "Failed")
    assert types(d)[-1] == "failed"


async def test_cancelled_stops_running_tasks_skips_finally_and_ends_as_failed_not_cancelled(api, store, clock) -> None:
    await store.create_run(pipelinerun())
    d = double(store, clock)
    await d.poll()
    await store.patch_run(NS, "run-1", {"spec": {"status": "Cancelled"}})
    await settle(d, clock)
    run = api.get("pipelineruns", NS, "run-1")
    assert run["status"]["conditions"][0]["reason"] == "Cancelled"
    assert run["status"]["conditions"][0]["message"] == 'PipelineRun "run-1" was cancelled'
    assert condition(api) == ("False", "Cancelled")
    assert d.children(NS, "run-1")["build"].reason == "TaskRunCancelled"
    assert d.children(NS, "run-1")["notify"].state == "waiting"  # pending finally tasks are not scheduled
    assert types(d) == ["started", "running", "failed"]  # Tekton has no `cancelled` event type


async def test_a_pending_run_that_is_cancelled_is_started_then_cancelled(api, store, clock) -> None:
    await store.create_run(pipelinerun(status="PipelineRunPending"))
    d = double(store, clock)
    await d.poll()
    await store.patch_run(NS, "run-1", {"spec": {"status": "Cancelled"}})
    await d.poll()
    assert condition(api) == ("False", "Cancelled")
    assert types(d) == ["unknown", "started", "failed"]


async def test_cancelled_run_finally_cancels_running_tasks_and_still_runs_finally(api, store, clock) -> None:
    await store.create_run(pipelinerun())
    d = double(store, clock)
    await d.poll()
    await store.patch_run(NS, "run-1", {"spec": {"status": "CancelledRunFinally"}})
    await d.poll()
    children = d.children(NS, "run-1")
    assert children["build"].reason == "TaskRunCancelled" and children["notify"].state == "running"
    assert children["test"].skip_reason in ("PipelineRun was stopping", "PipelineRun was gracefully cancelled")
    assert condition(api) == ("Unknown", "CancelledRunningFinally")
    await settle(d, clock)
    assert condition(api) == ("False", "Cancelled")
    assert types(d) == ["started", "running", "unknown", "failed"]


@pytest.mark.parametrize(("stop", "reason"), [("CancelledRunFinally", "TaskRunCancelled"), (None, "Succeeded")])
async def test_finally_reads_each_tasks_reason(api, store, clock, stop, reason) -> None:
    """``$(tasks.<t>.reason)``: the TaskRun's condition reason, "" for a task without one
    (tektoncd/pipeline resources/pipelinerunresolution.go ``getReason``); post-result tells a
    stopped run by it."""
    pipeline = {**PIPELINE, "spec": {**PIPELINE["spec"], "finally": [
        {"name": "notify", "taskRef": {"name": "notify"},
         "when": [{"input": "$(tasks.build.reason)/$(tasks.test.reason)", "operator": "in",
                   "values": [f"{reason}/", f"{reason}/Succeeded"]}]}]}}
    await store.create_run(pipelinerun())
    d = TektonDouble(store, [NS], {"ci": pipeline}, clock=clock, timing=SLOW, emit_queued=False)
    await d.poll()
    if stop:
        await store.patch_run(NS, "run-1", {"spec": {"status": stop}})
    await settle(d, clock)
    assert d.children(NS, "run-1")["notify"].state == "done", d.children(NS, "run-1")["notify"]


async def test_stopped_run_finally_lets_running_tasks_finish_then_runs_finally(api, store, clock) -> None:
    await store.create_run(pipelinerun())
    d = double(store, clock)
    await d.poll()
    await store.patch_run(NS, "run-1", {"spec": {"status": "StoppedRunFinally"}})
    await d.poll()
    assert d.children(NS, "run-1")["build"].state == "running"
    assert condition(api) == ("Unknown", "StoppedRunningFinally")
    await settle(d, clock)
    children = d.children(NS, "run-1")
    assert children["build"].reason == "Succeeded"
    assert children["test"].skip_reason == "PipelineRun was gracefully stopped"
    assert children["notify"].reason == "Succeeded"
    assert condition(api) == ("False", "Cancelled")


def two_pvcs(pipeline: dict, run: dict, pipeline_task: dict) -> list[str]:
    """A small rule of the kind Tekton applies at TaskRun creation (``coschedule: workspaces``)."""
    claims = {w["name"] for w in run["spec"].get("workspaces", []) if "persistentVolumeClaim" in w}
    bound = [w for w in pipeline_task.get("workspaces", []) if w["workspace"] in claims]
    return ["more than one PersistentVolumeClaim is bound"] if len(bound) > 1 else []


async def test_a_taskrun_rule_fails_the_taskrun_as_validation_failed_and_the_run_as_failed(api, store, clock) -> None:
    await store.create_run(pipelinerun())
    d = double(store, clock, taskrun_rules=two_pvcs)
    await settle(d, clock)
    build = d.children(NS, "run-1")["build"]
    assert (build.reason, build.message) == ("TaskRunValidationFailed", "more than one PersistentVolumeClaim is bound")
    assert condition(api) == ("False", "Failed")


async def test_the_same_rule_passes_a_run_that_binds_one_claim(api, store, clock) -> None:
    await store.create_run(pipelinerun(workspaces=[{"name": "src", "persistentVolumeClaim": {"claimName": "w"}},
                                                   {"name": "cache", "emptyDir": {}}]))
    d = double(store, clock, taskrun_rules=two_pvcs)
    await settle(d, clock)
    assert condition(api) == ("True", "Completed")


async def test_an_unknown_pipeline_fails_the_run_with_couldnt_get_pipeline(api, store, clock) -> None:
    await store.create_run(pipelinerun(pipelineRef={"name": "nope"}))
    d = double(store, clock)
    await d.poll()
    assert condition(api) == ("False", "CouldntGetPipeline")
    assert types(d) == ["started", "failed"]


async def test_the_instant_tekton_of_the_fake_api_stays_off(api, store, clock) -> None:
    await store.create_run(pipelinerun())
    assert "status" not in api.get("pipelineruns", NS, "run-1") or not api.get("pipelineruns", NS, "run-1")["status"]


async def test_it_drives_the_dry_run_directory_of_tekton_dag_dev(tmp_path: Path, clock) -> None:
    store = DirectoryStore(tmp_path)
    await store.create_run(pipelinerun())
    d = TektonDouble(store, directory_namespaces(tmp_path), {"ci": PIPELINE}, clock=clock, timing=SLOW)
    await settle(d, clock)
    run = await store.get_run(NS, "run-1")
    assert tekton_events.succeeded_condition(run)["reason"] == "Completed"


@pytest.mark.parametrize("pipeline", ["stack-pr-test", "stack-merge-release", "stack-bootstrap"])
async def test_the_projects_pipelines_run_to_the_end(api, store: KubernetesStore, clock, pipeline: str) -> None:
    from tekton_dag.testing.tekton import load_pipelines

    pipelines = load_pipelines(Path(__file__).resolve().parents[2] / "pipeline")
    params = [{"name": p["name"], "value": p.get("default", "x")} for p in pipelines[pipeline]["spec"]["params"]
              if isinstance(p.get("default", "x"), str)]
    run = pipelinerun(pipelineRef={"name": pipeline}, params=params, workspaces=[])
    await store.create_run(run)
    d = TektonDouble(store, [NS], pipelines, clock=clock, timing=SLOW)
    await settle(d, clock, rounds=20)
    assert condition(api)[0] == "True"
    assert types(d) == ["queued", "running", "successful"]  # v1.12+, the default: no "started"


async def test_tekton_s_real_taskrun_rules_plug_into_the_double(api, store, clock) -> None:
    """The cited rules of ``tekton_rules`` (as ``tekton-dag dev --simulate-tekton`` wires them): a
    TaskRun binding two claims under the default coschedule fails as Tekton fails it."""
    await store.create_run(pipelinerun())
    d = double(store, clock, taskrun_rules=tekton_rules.taskrun_rules())
    await settle(d, clock)
    build = d.children(NS, "run-1")["build"]
    assert build.reason == "TaskRunValidationFailed" and "more than one PersistentVolumeClaim" in build.message
    assert condition(api) == ("False", "Failed")


def claim_template(**annotations: str) -> dict:
    run = pipelinerun(workspaces=[{"name": "src", "volumeClaimTemplate": {"spec": {"accessModes": ["ReadWriteOnce"]}}},
                                  {"name": "cache", "emptyDir": {}}])
    run["metadata"]["annotations"] = annotations
    return run


@pytest.mark.parametrize(("coschedule", "annotations", "left"), [
    ("workspaces", {}, 1),  # Tekton's default keeps the claim until the PipelineRun is deleted
    ("workspaces", {"tekton.dev/auto-cleanup-pvc": "true"}, 0),
    ("workspaces", {"tekton.dev/auto-cleanup-pvc": "yes"}, 1),  # exactly "true"
    ("pipelineruns", {}, 0),
    ("isolate-pipelinerun", {}, 0),
    ("disabled", {"tekton.dev/auto-cleanup-pvc": "true"}, 1),
])
async def test_a_done_runs_template_claim_goes_as_the_affinity_assistant_mode_says(
    api, store, clock, coschedule: str, annotations: dict, left: int
) -> None:
    """affinity_assistant.go ``cleanupAffinityAssistantsAndPVCs``; docs/affinityassistants.md."""
    await store.create_run(claim_template(**annotations))
    d = double(store, clock, coschedule=coschedule)
    await d.poll()
    assert len(d.claims(NS)) == 1  # made with the first TaskRuns
    await settle(d, clock)
    assert condition(api)[0] == "True" and len(d.claims(NS)) == left
    await store.delete_run(NS, "run-1", api.get("pipelineruns", NS, "run-1")["metadata"]["uid"])
    await d.poll()
    assert d.claims(NS) == []  # owned by the run: garbage-collected with it


async def test_a_run_cancelled_before_it_started_never_gets_a_claim(api, store, clock) -> None:
    await store.create_run(claim_template())
    await store.patch_run(NS, "run-1", {"spec": {"status": "Cancelled"}})
    d = double(store, clock)
    await settle(d, clock)
    assert condition(api) == ("False", "Cancelled") and d.claims(NS) == []


def test_an_unknown_coschedule_mode_is_refused(store) -> None:
    with pytest.raises(ValueError, match="coschedule: 'workspace' is none of workspaces, pipelineruns"):
        TektonDouble(store, [NS], {"ci": PIPELINE}, coschedule="workspace")
