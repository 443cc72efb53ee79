"""TaskRun rules: what Tekton checks when it turns a PipelineRun's tasks into TaskRuns and pods.

Given a Pipeline, a PipelineRun (plain dicts, as applied) and the cluster's ``coschedule`` feature
flag, ``check_pipelinerun`` reports every TaskRun Tekton would fail, with Tekton's own message.
``check_results`` does the same for the results a step writes (its container's termination
message). A Tekton controller double can call both before it "starts" a TaskRun.

    from support.tekton_rules import check_pipelinerun, check_results
    for v in check_pipelinerun(pipeline, run, tasks=tasks_by_name, coschedule="workspaces"):
        print(v.task, v.rule, v.message)

Rules, each with its upstream source (tektoncd/pipeline at 3ee1745, Aug 2026; kubernetes/kubernetes):

1. ``one-pvc`` — under ``coschedule: workspaces`` (the default, docs/additional-configs.md) a
   TaskRun binding more than one PersistentVolumeClaim fails with "more than one
   PersistentVolumeClaim is bound" (pkg/workspace/validate.go ValidateOnlyOnePVCIsUsed, called from
   pkg/reconciler/taskrun/taskrun.go when the behaviour is AffinityAssistantPerWorkspace). Claims
   are counted by ``claimName`` (the same claim twice, e.g. two subPaths, is one) and a
   volumeClaimTemplate by workspace name. The other modes (``pipelineruns``,
   ``isolate-pipelinerun``, ``disabled``) do not check (docs/affinityassistants.md).
   The TaskRun's bindings come from the PipelineRun as pkg/reconciler/pipelinerun/pipelinerun.go
   getTaskrunWorkspaces builds them: pipeline-task workspace -> pipeline workspace -> PipelineRun
   binding; an unbound optional workspace is left out; an unbound required one fails the run.
2. ``taskrunspec`` — ``spec.taskRunSpecs[].pipelineTaskName`` must name a task (or finally task)
   of the Pipeline, else the PipelineRun fails "pipelineRun's taskrunSpecs defined wrong taskName"
   (pkg/reconciler/pipelinerun/resources/pipelinerunresolution.go ValidateTaskRunSpecs); each
   ``stepSpecs[].name`` must name a step of the Task, else the TaskRun fails "invalid
   StepOverride: No Step named X" (pkg/reconciler/taskrun/validate_taskrun.go).
3. ``pod-resources`` — a step's ``stepSpecs`` override is merged over the step's own
   computeResources (pkg/apis/pipeline/v1/merge.go ``MergeStepsWithSpecs``: a strategic merge,
   so a limit or request not overridden stays the Task's); a request above its limit makes
   kube-apiserver refuse the pod ("must be less than or equal to cpu limit of 1",
   pkg/apis/core/validation ``ValidateResourceRequirements``) and Tekton fail the TaskRun
   ``PodCreationFailed`` (pkg/reconciler/taskrun/taskrun.go ``handlePodCreationError``).
4. ``result-size`` — a step's results travel as JSON in its termination message
   (pkg/termination/write.go): ``[{"key":K,"value":V,"type":1},...]`` encoded by Go's
   encoding/json (which escapes <, > and & as \\u003c...), then Tekton appends its own entries
   (pkg/entrypoint/entrypointer.go Go(): ``StartedAt`` in format 2006-01-02T15:04:05.000Z07:00,
   and one of ``Reason`` (e.g. TimeoutExceeded) or ``ExitCode``, all type 3). Over 4096 bytes the
   entrypoint fails the step: "Termination message is above max allowed size 4096, caused by large
   task result." (write.go MaxContainerTerminationMessageLength; docs/tasks.md "Known issues"/
   results limits; tektoncd/pipeline#3680). The kubelet also splits 12 KiB among all of a pod's
   containers (kubernetes pkg/kubelet/status/status_manager.go normalizeStatus,
   MaxPodTerminationMessageLogLength) and truncates beyond that share, which breaks the JSON; a
   Tekton pod has the ``prepare`` init container, ``place-scripts`` when a step has a script,
   ``working-dir-initializer`` when a step has a workingDir, then one container per step and
   sidecar (pkg/pod/pod.go). So the budget per step is min(4096, 12288 // containers).

Not modelled: results-from: sidecar-logs and termination-message compression (both off by
default), SPIRE-signed results, step results/artifacts, and the Affinity Assistant's scheduling
itself (which node, RWO attachment).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tekton_dag.syntax import quantity

POD_CREATION_FAILED = "PodCreationFailed"  # pkg/pod/status.go ReasonPodCreationFailed, set by handlePodCreationError
COSCHEDULE_MODES = ("workspaces", "pipelineruns", "isolate-pipelinerun", "disabled")
DEFAULT_COSCHEDULE = "workspaces"

MAX_CONTAINER_MESSAGE = 4096  # tektoncd/pipeline pkg/termination/write.go; kubelet MaxContainerTerminationMessageLength
MAX_POD_MESSAGES = 12 * 1024  # kubelet MaxPodTerminationMessageLogLength, split evenly per container
TASK_RESULT_TYPE = 1  # pkg/result/result.go TaskRunResultType
INTERNAL_TYPE = 3  # pkg/result/result.go InternalTektonResultType
# The longest values Tekton itself writes: a timestamp with a non-UTC offset, the longest Reason.
WORST_STARTED_AT = "2006-01-02T15:04:05.000+05:30"
WORST_REASON = (
    "TimeoutExceeded"  # entrypointer.go TerminationReasonTimeoutExceeded (longer than Skipped/Cancelled or an ExitCode)
)


@dataclass(frozen=True)
class Violation:
    """One TaskRun (``task`` = its pipeline task name) Tekton would fail, and why."""

    task: str
    rule: str  # "one-pvc" | "taskrunspec" | "pod-resources" | "result-size" | "workspace"
    message: str


# --- workspaces and the affinity assistant ------------------------------------------------------
def _pipeline_tasks(pipeline: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    spec = pipeline["spec"]
    return [*spec.get("tasks", []), *spec.get("finally", [])]


def taskrun_workspaces(pipeline_task: Mapping[str, Any], pipelinerun: Mapping[str, Any],
                       task: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """The workspace bindings of the TaskRun for ``pipeline_task`` (getTaskrunWorkspaces).

    A volumeClaimTemplate becomes a persistentVolumeClaim whose generated name is stood in for by
    ``pvc-<pipeline workspace>`` (one claim per PipelineRun workspace, as Tekton generates it).
    Raises ``KeyError`` naming the workspace when a required one is unbound.
    """
    bindings = {b["name"]: b for b in pipelinerun["spec"].get("workspaces", [])}
    optional = {w["name"] for w in (task or {}).get("spec", {}).get("workspaces", []) if w.get("optional")}
    out: list[dict[str, Any]] = []
    for ws in pipeline_task.get("workspaces", []):
        source = ws.get("workspace") or ws["name"]
        binding = bindings.get(source)
        if binding is None:
            if task is not None and ws["name"] not in optional:
                raise KeyError(f"expected workspace {source!r} to be provided by pipelinerun for pipeline task "
                               f"{pipeline_task['name']!r}")
            continue
        made = {k: v for k, v in binding.items() if k != "volumeClaimTemplate"}
        made["name"] = ws["name"]
        if "volumeClaimTemplate" in binding:
            made["persistentVolumeClaim"] = {"claimName": f"pvc-{source}"}
        sub = "/".join(p for p in (binding.get("subPath"), ws.get("subPath")) if p)
        if sub:
            made["subPath"] = sub
        out.append(made)
    return out


def claims(bindings: Sequence[Mapping[str, Any]]) -> set[str]:
    """The distinct PersistentVolumeClaims of a TaskRun's bindings (ValidateOnlyOnePVCIsUsed's count)."""
    found = {b["persistentVolumeClaim"]["claimName"] for b in bindings if b.get("persistentVolumeClaim")}
    found |= {f"template:{b['name']}" for b in bindings if b.get("volumeClaimTemplate")}
    return found


def check_workspaces(pipeline: Mapping[str, Any], pipelinerun: Mapping[str, Any], *,
                     tasks: Mapping[str, Mapping[str, Any]] | None = None,
                     coschedule: str = DEFAULT_COSCHEDULE) -> list[Violation]:
    """TaskRuns that fail on their workspaces: a required one unbound, or (only under
    ``coschedule: workspaces``) more than one PVC bound."""
    if coschedule not in COSCHEDULE_MODES:
        raise ValueError(f"unknown affinity assistant coschedule: {coschedule}")
    found: list[Violation] = []
    for pt in _pipeline_tasks(pipeline):
        task = (tasks or {}).get(pt.get("taskRef", {}).get("name", ""))
        try:
            bound = taskrun_workspaces(pt, pipelinerun, task)
        except KeyError as exc:
            found.append(Violation(pt["name"], "workspace", exc.args[0]))
            continue
        if coschedule == "workspaces" and len(claims(bound)) > 1:
            found.append(Violation(pt["name"], "one-pvc", "more than one PersistentVolumeClaim is bound: "
                                   + ", ".join(sorted(claims(bound)))))
    return found


def check_taskrun_specs(pipeline: Mapping[str, Any], pipelinerun: Mapping[str, Any], *,
                        tasks: Mapping[str, Mapping[str, Any]] | None = None) -> list[Violation]:
    """taskRunSpecs naming a pipeline task the Pipeline lacks, or a step its Task lacks."""
    by_name = {pt["name"]: pt for pt in _pipeline_tasks(pipeline)}
    found: list[Violation] = []
    for spec in pipelinerun["spec"].get("taskRunSpecs", []):
        name = spec["pipelineTaskName"]
        if name not in by_name:
            found.append(Violation(name, "taskrunspec", f"pipelineRun's taskrunSpecs defined wrong taskName: "
                                                        f"{name!r}, does not exist in Pipeline"))
            continue
        task = (tasks or {}).get(by_name[name].get("taskRef", {}).get("name", ""))
        if task is None:
            continue
        steps = {s["name"]: (i, s) for i, s in enumerate(task["spec"]["steps"])}
        for override in spec.get("stepSpecs", []):
            if override["name"] not in steps:
                found.append(Violation(name, "taskrunspec", f"invalid StepOverride: No Step named {override['name']}"))
                continue
            index, step = steps[override["name"]]
            found.extend(Violation(name, "pod-resources", problem)
                         for problem in _pod_resource_problems(index, step, override))
    return found


def _pod_resource_problems(index: int, step: Mapping[str, Any], override: Mapping[str, Any]) -> list[str]:
    """Rule 4: the step's container as Tekton makes it (``MergeStepsWithSpecs``: the override's
    computeResources strategically merged over the step's, key by key within requests and limits)
    and what kube-apiserver says of it (``ValidateResourceRequirements``). Quantities are read with
    ``syntax.quantity``, which tests/syntax holds to the official client's ``parse_quantity`` (this
    package may not import that client); the merge and the rule are this module's own."""
    own, given = step.get("computeResources") or {}, override.get("computeResources") or {}
    merged = {part: {**own.get(part, {}), **given.get(part, {})} for part in ("requests", "limits")}
    problems = []
    for resource, limit in merged["limits"].items():
        request = merged["requests"].get(resource)
        wanted, allowed = quantity(str(request)), quantity(str(limit))
        if wanted is not None and allowed is not None and wanted > allowed:
            problems.append(f"failed to create task run pod: Pod is invalid: spec.containers[{index}].resources."
                            f"requests: Invalid value: \"{request}\": must be less than or equal to {resource} limit "
                            f"of {limit} ({POD_CREATION_FAILED})")
    return problems


def check_pipelinerun(pipeline: Mapping[str, Any], pipelinerun: Mapping[str, Any], *,
                      tasks: Mapping[str, Mapping[str, Any]] | None = None,
                      coschedule: str = DEFAULT_COSCHEDULE) -> list[Violation]:
    """Every TaskRun of ``pipelinerun`` that Tekton would fail before running it.

    ``tasks`` maps Task names to Task documents (for optional workspaces and step names); without
    it those two rules are skipped. ``coschedule`` is the cluster's feature-flags value.
    """
    return [*check_taskrun_specs(pipeline, pipelinerun, tasks=tasks),
            *check_workspaces(pipeline, pipelinerun, tasks=tasks, coschedule=coschedule)]


def taskrun_rules(tasks: Mapping[str, Mapping[str, Any]] | None = None,
                  coschedule: str = DEFAULT_COSCHEDULE) -> Callable[[Any, Any, Any], list[str]]:
    """These rules as the Tekton controller double's ``taskrun_rules`` hook: the messages Tekton
    would fail one pipeline task's TaskRun with (``tekton_dag.testing.tekton.TaskRule``)."""

    def rules(
        pipeline: Mapping[str, Any], pipelinerun: Mapping[str, Any], pipeline_task: Mapping[str, Any]
    ) -> list[str]:
        name = pipeline_task.get("name")
        return [v.message for v in check_pipelinerun(pipeline, pipelinerun, tasks=tasks, coschedule=coschedule)
                if v.task == name]
    return rules


def load_tasks(directory: Path) -> dict[str, Mapping[str, Any]]:
    """The Task documents of ``directory`` (``tasks/``) by name."""
    found: dict[str, Mapping[str, Any]] = {}
    for path in sorted(directory.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if isinstance(document, dict) and document.get("kind") == "Task":
                found[document["metadata"]["name"]] = document
    return found


# --- results and the termination message -------------------------------------------------------
def go_json(value: Any) -> str:
    """JSON as Go's encoding/json.Marshal writes it: compact, UTF-8, with <, >, &, U+2028 and
    U+2029 escaped (encoding/json HTMLEscape default)."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                          ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escaped)
    return text


def termination_message(results: Mapping[str, str], *, started_at: str = WORST_STARTED_AT,
                        reason: str | None = WORST_REASON) -> bytes:
    """The termination message a step writes with ``results`` (result name -> file content).

    Results first (readResultsFromDisk), then Tekton's StartedAt and Reason entries, as
    entrypointer.go appends them. Defaults are the longest Tekton writes, for budget checks.
    """
    entries: list[dict[str, Any]] = [{"key": k, "value": v, "type": TASK_RESULT_TYPE} for k, v in results.items()]
    entries.append({"key": "StartedAt", "value": started_at, "type": INTERNAL_TYPE})
    if reason is not None:
        entries.append({"key": "Reason", "value": reason, "type": INTERNAL_TYPE})
    return go_json(entries).encode()


def pod_containers(task: Mapping[str, Any]) -> int:
    """Containers of the TaskRun's pod (pkg/pod/pod.go): prepare, place-scripts,
    working-dir-initializer, steps, sidecars."""
    spec = task["spec"]
    steps, sidecars = spec["steps"], spec.get("sidecars", [])
    scripts = any("script" in c for c in [*steps, *sidecars])
    working_dirs = any(s.get("workingDir") for s in steps)
    return 1 + int(scripts) + int(working_dirs) + len(steps) + len(sidecars)


def result_budget(task: Mapping[str, Any]) -> int:
    """Bytes one step's termination message may hold without Tekton or the kubelet breaking it."""
    return min(MAX_CONTAINER_MESSAGE, MAX_POD_MESSAGES // pod_containers(task))


def check_results(name: str, task: Mapping[str, Any], step_results: Mapping[str, Mapping[str, str]]) -> list[Violation]:
    """Steps whose results (``step name -> {result: value}``) overflow their termination message."""
    budget = result_budget(task)
    found: list[Violation] = []
    for step, results in step_results.items():
        size = len(termination_message(results))
        if size > budget:
            found.append(
                Violation(
                    name,
                    "result-size",
                    f"step {step}: termination message of {size} bytes is over the {budget}-byte budget "
                    f"(Termination message is above max allowed size 4096, caused by large task result.)",
                )
            )
    return found
