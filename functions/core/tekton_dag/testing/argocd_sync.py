"""ArgoCD's health assessment and sync waves, modelled for the kinds the chart renders.

Health (what ArgoCD reports for one live object), from the sources named at each rule:

- gitops-engine pkg/health/health.go ``GetHealthCheckFunc``: built-in checks exist only for
  apps/* workloads, Ingress, APIService, core Service, Pod, PersistentVolumeClaim, batch Job,
  HPA and Argo Workflows; every other kind has no health (``None``), and a sync counts an object
  without health as done as soon as it is applied (pkg/sync/sync_context.go: "some objects (e.g.
  secret) do not have health, and they automatically success").
- gitops-engine pkg/health/health_pvc.go: PVC phase Pending → Progressing, Bound → Healthy,
  Lost → Degraded.
- argo-cd resource_customizations/serving.knative.dev/Service/health.lua: Healthy when the
  conditions ConfigurationsReady, RoutesReady and Ready are all True; any False → Degraded;
  otherwise (no status yet, Unknown) Progressing.
- argo-cd resource_customizations/batch/CronJob/health.lua: ``_cronjob_health`` (Healthy unless the
  last run failed; a first or running job is Healthy, not Progressing).
- No Lua check exists for eventing.knative.dev Broker or Trigger (argo-cd HEAD 37ee009, 2026-08:
  resource_customizations/ has serving.knative.dev/Service and operator.knative.dev only; the
  Broker/Trigger check proposed in argoproj/argo-cd#28554 was closed unmerged), nor for
  sources.knative.dev/SinkBinding, tekton.dev (no tekton.dev folder at all),
  networking.k8s.io NetworkPolicy, RBAC, ServiceAccount or ConfigMap: no health.
- argocd-cm ``resource.customizations.health.<group>_<kind>`` (``overrides`` below): a configured
  check is asked first and replaces the built-in one (argo-cd util/lua/lua.go ``GetHealthScript``;
  gitops-engine pkg/health/health.go ``GetResourceHealth``). ``EVENTING_HEALTH`` is the one this
  project ships (argocd/argocd-cm-knative-eventing-health.yaml), in Python; tests/argocd runs the
  shipped Lua under Lua 5.1 (ArgoCD's gopher-lua) against the same cases.

Sync (gitops-engine pkg/sync/sync_context.go ``Sync``; pkg/sync/syncwaves/waves.go): objects are
applied wave by wave (annotation argocd.argoproj.io/sync-wave, default 0, lowest first). Before the
next wave, every object of the applied waves must be Healthy or have no health: a Degraded object
fails the sync, any other status keeps it waiting ("waiting for healthy state of ..."). The LAST
wave is not waited on: once it is applied the sync succeeds "EVEN if those objects subsequently
degraded". Helm hooks other than pre/post-install/upgrade (e.g. `helm.sh/hook: test`) map to no
sync phase and are never applied (pkg/sync/hook/helm/type.go, pkg/sync/sync_phase.go).

What the objects' statuses become is a small model of the controllers (``Cluster.settle``):
which other objects each needs before its controller can report it ready. A sync that waits on
a status nothing in the remaining sync can produce is stuck for good.
"""

from __future__ import annotations

import importlib
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tekton_dag.testing import argocd_project

SYNC_WAVE = "argocd.argoproj.io/sync-wave"
HELM_HOOK = "helm.sh/hook"
# pkg/sync/hook/helm/type.go: the only Helm hooks ArgoCD maps to a sync phase.
SYNCED_HELM_HOOKS = {"pre-install", "pre-upgrade", "post-upgrade", "post-install"}

HEALTHY, PROGRESSING, DEGRADED, SUSPENDED = "Healthy", "Progressing", "Degraded", "Suspended"

# Kinds with no health in ArgoCD (neither built in nor in resource_customizations).
NO_HEALTH = {
    ("", "ServiceAccount"),
    ("", "ConfigMap"),
    ("", "Secret"),
    ("rbac.authorization.k8s.io", "Role"),
    ("rbac.authorization.k8s.io", "RoleBinding"),
    ("tekton.dev", "Task"),
    ("tekton.dev", "Pipeline"),
    ("sources.knative.dev", "SinkBinding"),
    ("networking.k8s.io", "NetworkPolicy"),
    ("eventing.knative.dev", "Broker"),
    ("eventing.knative.dev", "Trigger"),
}
KSVC = ("serving.knative.dev", "Service")
BROKER = ("eventing.knative.dev", "Broker")
TRIGGER = ("eventing.knative.dev", "Trigger")
PVC = ("", "PersistentVolumeClaim")
CRONJOB = ("batch", "CronJob")
MODELLED = NO_HEALTH | {KSVC, PVC, CRONJOB}

# A configured health check: argocd-cm resource.customizations.health.<group>_<kind>, per kind.
HealthCheck = Callable[[dict[str, Any]], str]
Overrides = Mapping[tuple[str, str], HealthCheck]


def group_kind(doc: dict[str, Any]) -> tuple[str, str]:
    return doc["apiVersion"].rpartition("/")[0], doc["kind"]


def key(doc: dict[str, Any]) -> tuple[str, str, str]:
    return (*group_kind(doc), doc["metadata"]["name"])


def show(doc: dict[str, Any]) -> str:
    return f"{doc['kind']}/{doc['metadata']['name']}"


def condition(status: dict[str, Any], kind: str) -> str | None:
    for c in status.get("conditions", []):
        if c["type"] == kind:
            return str(c["status"])
    return None


def ready_condition_health(doc: dict[str, Any]) -> str:
    """The shipped Lua (argocd/argocd-cm-knative-eventing-health.yaml): Progressing until the
    controller observed this generation (argo-cd's health guidelines, docs/operator-manual/health.md,
    "Using K8s observedGeneration field"); then the Knative Ready condition: True → Healthy,
    False → Degraded, Unknown or absent → Progressing."""
    status = doc.get("status") or {}
    observed, generation = status.get("observedGeneration"), doc["metadata"].get("generation")
    if observed is not None and generation is not None and observed < generation:
        return PROGRESSING
    return {"True": HEALTHY, "False": DEGRADED}.get(str(condition(status, "Ready")), PROGRESSING)


EVENTING_HEALTH: Overrides = {BROKER: ready_condition_health, TRIGGER: ready_condition_health}


def _cronjob_health(doc: dict[str, Any]) -> str:
    """argo-cd resource_customizations/batch/CronJob/health.lua (HEAD 31087e2), in its order:
    ``spec.suspend`` → Suspended; no status → Progressing; never scheduled → Healthy; scheduled but
    never succeeded (its first run) → Healthy; a job active → Healthy; the last success before the
    last schedule → Degraded; else Healthy. The timestamps are RFC 3339 in UTC and the Lua compares
    them as strings, as here."""
    if (doc.get("spec") or {}).get("suspend") is True:
        return SUSPENDED
    status = doc.get("status")
    if status is None:
        return PROGRESSING
    scheduled, succeeded = status.get("lastScheduleTime"), status.get("lastSuccessfulTime")
    if scheduled is None or succeeded is None or status.get("active"):
        return HEALTHY
    return DEGRADED if str(succeeded) < str(scheduled) else HEALTHY


def health(doc: dict[str, Any], overrides: Overrides | None = None) -> str | None:
    """ArgoCD's health of a live object (``doc`` with its ``status``), or None: no health.
    ``overrides``: the health checks configured in argocd-cm (stock ArgoCD: none)."""
    gk = group_kind(doc)
    status = doc.get("status") or {}
    if overrides and gk in overrides:
        return overrides[gk](doc)
    if gk == PVC:
        return {"Pending": PROGRESSING, "Bound": HEALTHY, "Lost": DEGRADED}.get(str(status.get("phase")), "Unknown")
    if gk == KSVC:
        values = [condition(status, c) for c in ("ConfigurationsReady", "RoutesReady", "Ready")]
        if any(c["status"] == "False" for c in status.get("conditions", [])):
            return DEGRADED
        return HEALTHY if values == ["True"] * 3 else PROGRESSING
    if gk == CRONJOB:
        return _cronjob_health(doc)
    if gk in NO_HEALTH:
        return None
    raise KeyError(f"{show(doc)}: kind {gk} is not modelled (add its ArgoCD health rule here)")


def synced(docs: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The objects a sync applies: hooks without a sync phase (e.g. `helm test`) are dropped."""
    kept = []
    for doc in docs:
        hooks = {
            h.strip() for h in (doc["metadata"].get("annotations") or {}).get(HELM_HOOK, "").split(",") if h.strip()
        }
        if not hooks or hooks & SYNCED_HELM_HOOKS:
            kept.append(doc)
    return kept


def wave(doc: dict[str, Any]) -> int:
    return int((doc["metadata"].get("annotations") or {}).get(SYNC_WAVE, "0"))


@dataclass
class Cluster:
    """What the controllers of a cluster would report, given which objects exist.

    ``binding_mode`` is the default StorageClass's volumeBindingMode. ``pipeline_runs``: the
    PipelineRuns started (``start``), none during a sync, since run-creator starts runs only after
    it finished; a claim binds when one of them mounts it (a workspace naming it), not because a
    run started: under Tekton's default ``coschedule: workspaces`` a run binds no shared claim.
    Secrets are never created by the chart: ``secrets`` are those the team created before the
    sync; a Pod that needs any other (non-optional) Secret does not start.
    """

    binding_mode: str = "WaitForFirstConsumer"
    pipeline_runs: list[dict[str, Any]] = field(default_factory=list)
    secrets: frozenset[str] = frozenset()
    applied: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    why: dict[tuple[str, str, str], str] = field(default_factory=dict)

    def apply(self, docs: Iterable[dict[str, Any]]) -> None:
        for doc in docs:
            self.applied[key(doc)] = {**doc, "status": {}}
        self.settle()

    def start(self, pipeline_run: dict[str, Any]) -> None:
        """A PipelineRun starts: its Pods mount the claims its workspaces name."""
        self.pipeline_runs.append(pipeline_run)
        self.settle()

    def settle(self) -> None:
        """Recompute every status until nothing changes (readiness only grows with what exists)."""
        while True:
            before = {k: repr(d["status"]) for k, d in self.applied.items()}
            for k, doc in self.applied.items():
                doc["status"], reason = self._status(doc)
                self.why[k] = reason
            if before == {k: repr(d["status"]) for k, d in self.applied.items()}:
                return

    def ready(self, gk: tuple[str, str], name: str) -> bool:
        """What the object's controller reports (not ArgoCD's health: a Broker with no ArgoCD
        health check still needs its Ready condition before anything can send to it)."""
        doc = self.applied.get((*gk, name))
        if doc is None:
            return False
        if gk == PVC:
            return bool(doc["status"].get("phase") == "Bound")
        if gk in (KSVC, BROKER, TRIGGER):
            return condition(doc["status"], "Ready") == "True"
        return True

    # -- per kind: (status, why it is not ready) --------------------------------------------
    def _status(self, doc: dict[str, Any]) -> tuple[dict[str, Any], str]:
        gk = group_kind(doc)
        if gk == PVC:
            return self._claim(doc)
        if gk == KSVC:
            return self._ksvc(doc)
        if gk == BROKER:
            return self._broker(doc)
        if gk == TRIGGER:
            return self._trigger(doc)
        return {}, ""

    def _claim(self, doc: dict[str, Any]) -> tuple[dict[str, Any], str]:
        # WaitForFirstConsumer: the claim binds only when a Pod that mounts it is scheduled
        # (kubernetes.io/docs/concepts/storage/storage-classes/#volume-binding-mode).
        if self.binding_mode == "Immediate":
            return {"phase": "Bound"}, ""
        name = doc["metadata"]["name"]
        consumers = [show(d) for d in self.applied.values() if group_kind(d) == KSVC and name in _claims(d)]
        if consumers or any(name in _run_claims(run) for run in self.pipeline_runs):
            return {"phase": "Bound"}, ""
        return {"phase": "Pending"}, (
            "Pending until a Pod mounts it (StorageClass volumeBindingMode "
            "WaitForFirstConsumer); only a PipelineRun whose workspaces name it does"
        )

    def _ksvc(self, doc: dict[str, Any]) -> tuple[dict[str, Any], str]:
        spec = doc["spec"]["template"]["spec"]
        missing = []
        account = spec.get("serviceAccountName")
        if account and not self.ready(("", "ServiceAccount"), account):
            missing.append(f"ServiceAccount/{account}")
        for volume in spec.get("volumes", []):
            config_map = volume.get("configMap")
            if config_map and not config_map.get("optional") and not self.ready(("", "ConfigMap"), config_map["name"]):
                missing.append(f"ConfigMap/{config_map['name']}")
            secret = volume.get("secret")
            if secret and not secret.get("optional") and secret["secretName"] not in self.secrets:
                missing.append(f"Secret/{secret['secretName']} (the chart never creates Secrets)")
            if "persistentVolumeClaim" in volume:
                claim = volume["persistentVolumeClaim"]["claimName"]
                if not self.ready(PVC, claim):
                    missing.append(f"PersistentVolumeClaim/{claim} bound")
        event_key = next((v["secret"]["secretName"] for v in spec.get("volumes", [])
                          if v.get("name") == EVENT_KEY_VOLUME and "secret" in v), None)
        if (event_key and event_key not in self.secrets and self._team_configured(spec)
                and needs_event_key(doc["metadata"]["name"])):
            missing.append(f"Secret/{event_key} (the event key: without it the readiness probe answers 503)")
        # A SinkBinding injects K_SINK once its sink resolves; the functions are ready only with it.
        for binding in self.applied.values():
            if (
                group_kind(binding) == ("sources.knative.dev", "SinkBinding")
                and binding["spec"]["subject"].get("name") == doc["metadata"]["name"]
            ):
                broker = binding["spec"]["sink"]["ref"]["name"]
                if not self.ready(BROKER, broker):
                    missing.append(f"Broker/{broker} Ready (K_SINK of SinkBinding/{binding['metadata']['name']})")
        if missing:
            return _conditions("ConfigurationsReady", "RoutesReady", "Ready", value="Unknown"), "needs " + ", ".join(
                missing
            )
        return _conditions("ConfigurationsReady", "RoutesReady", "Ready", value="True"), ""

    def _team_configured(self, spec: dict[str, Any]) -> bool:
        """Whether the team ConfigMap a function mounts holds a team's files (with none, there is
        nothing to seal: Ready without a key)."""
        names = [v["configMap"]["name"] for v in spec.get("volumes", []) if v.get("name") == TEAM_CONFIG_VOLUME]
        return any(bool((self.applied.get(("", "ConfigMap", name)) or {}).get("data")) for name in names)

    def _broker(self, doc: dict[str, Any]) -> tuple[dict[str, Any], str]:
        ref = ((doc["spec"].get("delivery") or {}).get("deadLetterSink") or {}).get("ref")
        if ref and not self.ready(_gk(ref), ref["name"]):
            return _conditions(
                "Ready", value="Unknown"
            ), f"needs its dead-letter sink {ref['kind']}/{ref['name']} addressable"
        return _conditions("Ready", value="True"), ""

    def _trigger(self, doc: dict[str, Any]) -> tuple[dict[str, Any], str]:
        broker = doc["spec"]["broker"]
        ref = doc["spec"]["subscriber"]["ref"]
        if (*_gk(ref), ref["name"]) not in self.applied:
            # Knative: SubscriberResolved False → Ready False (Degraded under EVENTING_HEALTH).
            return _conditions("Ready", value="False"), f"subscriber {ref['kind']}/{ref['name']} does not exist"
        if not self.ready(BROKER, broker) or not self.ready(_gk(ref), ref["name"]):
            return _conditions("Ready", value="Unknown"), f"needs Broker/{broker} and its subscriber ready"
        return _conditions("Ready", value="True"), ""


def _gk(ref: dict[str, Any]) -> tuple[str, str]:
    return ref["apiVersion"].rpartition("/")[0], ref["kind"]


def _claims(ksvc: dict[str, Any]) -> set[str]:
    return {
        v["persistentVolumeClaim"]["claimName"]
        for v in ksvc["spec"]["template"]["spec"].get("volumes", [])
        if "persistentVolumeClaim" in v
    }


EVENT_KEY_VOLUME = "event-key"  # the chart's volume of the team's event key (_function.tpl eventKeyMounts)
TEAM_CONFIG_VOLUME = "team-config"  # the chart's volume of the team's files (ConfigMap tekton-dag-teams)


def needs_event_key(function: str) -> bool:
    """Whether Knative Service ``function`` answers its readiness probe 503 without the team's event
    key once a team is configured: its handler ``seals`` (functions/lifecycle.py ``Handler.ready``).
    The all-in-one (Service ``tekton-dag``, not a name in ``SERVABLE``) seals with a key of its own
    instead (functions/all_in_one.py ``own_event_key``). tests/argocd holds this to each handler's
    own ``ready()`` started without a key."""
    from tekton_dag.functions import serving

    spec = serving.SERVABLE.get(function)
    if spec is None or spec.name == serving.ALL_IN_ONE.name:
        return False
    handler = typing.get_type_hints(importlib.import_module(spec.module).new)["return"]
    return bool(handler.seals)


def _run_claims(pipeline_run: dict[str, Any]) -> set[str]:
    """The claims a PipelineRun's Pods mount: its workspaces' ``persistentVolumeClaim``s (a
    ``volumeClaimTemplate`` makes a claim of its own, bound by that run)."""
    return {w["persistentVolumeClaim"]["claimName"] for w in pipeline_run["spec"].get("workspaces", [])
            if "persistentVolumeClaim" in w}


def _conditions(*types: str, value: str) -> dict[str, Any]:
    return {"conditions": [{"type": t, "status": value} for t in types]}


@dataclass(frozen=True)
class SyncResult:
    phase: str  # "Succeeded", "Running" (stuck: waiting forever) or "Failed"
    wave: int | None = None
    waiting: tuple[str, ...] = ()

    def __str__(self) -> str:
        if self.phase == "Succeeded":
            return "Succeeded"
        where = "before the first wave" if self.wave is None else f"at wave {self.wave}"
        return f"{self.phase} {where}: " + "; ".join(self.waiting)


def sync(docs: Iterable[dict[str, Any]], cluster: Cluster, overrides: Overrides | None = None,
         project: Mapping[str, Any] | None = None, destination: Mapping[str, str] | None = None) -> SyncResult:
    """Run one sync of ``docs`` against ``cluster``, as gitops-engine orders it, with the health
    checks ``overrides`` configured in argocd-cm; with an AppProject, as an Application of that
    ``project`` with that ``destination``: an object it does not permit fails the sync before
    anything is applied (``argocd_project``)."""
    objects = synced(docs)
    if project is not None:
        refused = argocd_project.refusals(project, destination or {}, objects)
        if refused:
            return SyncResult("Failed", None, (argocd_project.failure(refused),))
    waves = sorted({wave(d) for d in objects})
    for number in waves:
        cluster.apply([d for d in objects if wave(d) == number])
        if number == waves[-1]:
            return SyncResult("Succeeded")  # the last wave is not waited on
        applied = [cluster.applied[key(d)] for d in objects if wave(d) <= number]
        assessed = [(d, health(d, overrides)) for d in applied]  # once per object and wave
        degraded = [f"{show(d)} Degraded ({cluster.why[key(d)]})" for d, h in assessed if h == DEGRADED]
        if degraded:
            return SyncResult("Failed", number, tuple(degraded))
        waiting = [f"{show(d)} {h} ({cluster.why[key(d)]})" for d, h in assessed if h not in (HEALTHY, None)]
        if waiting:
            # Nothing outside the sync changes what these wait for (no PipelineRun runs yet).
            return SyncResult("Running", number, tuple(waiting))
    return SyncResult("Succeeded")


def application_health(cluster: Cluster, overrides: Overrides | None = None) -> str:
    """The Application's health: its worst resource's (gitops-engine health.go healthOrder); an
    object without health does not count (argo-cd controller/health.go setApplicationHealth skips
    a nil health)."""
    order = [HEALTHY, SUSPENDED, PROGRESSING, "Missing", DEGRADED, "Unknown"]
    found = [h for d in cluster.applied.values() if (h := health(d, overrides)) is not None]
    return max(found, key=order.index, default=HEALTHY)
