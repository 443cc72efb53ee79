"""Which diff ArgoCD runs for an Application, and whether an object that an admission webhook
changes on every write compares equal to its desired state once synced.

Rules, from argo-cd at 37ee009 (2026-08):

- controller/state.go ``CompareAppState``: Server-Side Diff is on when the controller is started
  with it (``controller.diff.server.side``) or the Application's annotation
  ``argocd.argoproj.io/compare-options`` holds ``ServerSideDiff=true``, and off again with
  ``ServerSideDiff=false``; the Structured-Merge Diff is on when ``spec.syncPolicy.syncOptions``
  holds ``ServerSideApply=true``; ``IncludeMutationWebhook=true`` keeps webhook mutations in a
  Server-Side Diff's predicted state.
- gitops-engine pkg/diff/diff.go ``Diff``: Server-Side Diff is asked first, then the
  Structured-Merge Diff, then the legacy three-way diff against the last-applied annotation.
- Legacy: a field only the server set (a default, a webhook's mutation) is in neither the desired
  object nor the last-applied annotation, so it makes no difference.
- Structured-Merge Diff (docs/user-guide/diff-strategies.md: "Feature Discontinued", with
  "challenges ... for CRDs that define default values"): ``structuredMergeDiff`` predicts the
  live object in the controller, applying the desired object as ArgoCD's field manager to the
  live one (``apply``, structured-merge-diff ``Updater.Apply``). A field a mutating webhook set
  during ArgoCD's own apply is owned by ArgoCD's manager, and the desired object lacks it, so the
  prediction drops it and the object is OutOfSync after every sync (argoproj/argo-cd#11074,
  #11106); with ``selfHeal`` it is synced again, for good.
- Server-Side Diff: a server-side apply in dry-run predicts the live object; admission webhooks
  run in it, so their fields are in the prediction as in the live object: equal.

Which objects a webhook changes on every write: Knative Serving's Services (its defaulting webhook,
knative/serving pkg/apis/serving/v1/service_defaults.go ``Service.SetDefaults``: traffic,
probes, timeouts and more the chart does not write; and knative/eventing's SinkBinding webhook adds
``K_SINK`` to a bound Service's containers). Not modelled: other kinds' webhook defaults (Tekton's
defaulting webhook on Tasks and Pipelines), ``ignoreDifferences``, the controller-level setting.
"""

from __future__ import annotations

from typing import Any, Literal

Strategy = Literal["legacy", "structured-merge", "server-side"]
COMPARE_OPTIONS = "argocd.argoproj.io/compare-options"
# (apiVersion group, kind) of the objects an admission webhook changes on every write (above).
MUTATED_ON_WRITE = {("serving.knative.dev", "Service")}


def _options(text: str) -> set[str]:
    """gitops-engine pkg/sync/resource/annotations.go ``HasAnnotationOption``: comma-separated, trimmed."""
    return {option.strip() for option in text.split(",") if option.strip()}


def diff_strategy(application: dict[str, Any]) -> Strategy:
    """The diff ArgoCD's controller runs for ``application`` (controller-level setting off)."""
    compare = _options(((application.get("metadata") or {}).get("annotations") or {}).get(COMPARE_OPTIONS, ""))
    if "ServerSideDiff=true" in compare and "ServerSideDiff=false" not in compare:
        return "server-side"
    sync_options = ((application.get("spec") or {}).get("syncPolicy") or {}).get("syncOptions") or []
    return "structured-merge" if "ServerSideApply=true" in sync_options else "legacy"


def stays_out_of_sync(application: dict[str, Any], obj: dict[str, Any]) -> bool:
    """Whether ``obj``, synced by ``application``, still differs from its desired state."""
    group = str(obj.get("apiVersion", "")).rpartition("/")[0]
    return (group, obj.get("kind")) in MUTATED_ON_WRITE and diff_strategy(application) == "structured-merge"


__all__ = ["COMPARE_OPTIONS", "MUTATED_ON_WRITE", "diff_strategy", "stays_out_of_sync"]
