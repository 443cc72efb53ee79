"""What an AppProject lets an Application sync, as ArgoCD checks it before it applies anything.

From argo-cd HEAD 37ee009 (read in the source, not against a running ArgoCD):

- controller/sync.go ``validateSyncPermissions``, for every object of the sync: a group/kind the
  project does not permit fails with ``resource <group>:<kind> is not permitted in project
  <project>``; a namespaced object in a namespace no destination permits, with ``namespace <ns> is
  not permitted in project '<project>'``.
- gitops-engine pkg/sync/sync_context.go ``Sync``: these checks run for every task before the
  first wave; one failure fails the operation as a whole, "one or more synchronization tasks are
  not valid: " and the distinct messages, sorted, joined by "; ", and nothing is applied. A
  namespaced object without a namespace is first given the Application's destination namespace
  (``SetNamespace(sc.namespace)``, same file).
- pkg/apis/application/v1alpha1/app_project_types.go ``IsGroupKindNamePermitted``: a namespaced
  kind is permitted when ``namespaceResourceWhitelist`` is absent or lists it (an empty list
  permits nothing) and ``namespaceResourceBlacklist`` does not; a cluster-scoped one only when
  ``clusterResourceWhitelist`` lists it (by group, kind and, when the entry names one, name) and
  ``clusterResourceBlacklist`` does not. Entries are ``filepath.Match`` patterns (types.go
  ``isResourceInList``, ``isNamedResourceInList``).
- ``isDestinationMatched``: an object's namespace is permitted when some destination matches the
  Application's cluster (by ``name``, or ``server``) and the namespace, each a glob (``*`` alone
  matches anything).

Not modelled: deny patterns (a destination or entry starting with ``!``: refused here, so a
project using one fails loudly instead of being read wrongly), ``permitOnlyProjectScopedClusters``,
sync windows, source repositories (tests/argocd compares them directly), and which kinds a real
API server serves as cluster-scoped beyond ``CLUSTER_SCOPED``.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from typing import Any

# Kinds a real API server serves cluster-scoped, of those a chart could render; every other kind
# is taken as namespaced (what the chart renders is namespaced only, docs/argocd.md).
CLUSTER_SCOPED = frozenset({
    ("", "Namespace"), ("rbac.authorization.k8s.io", "ClusterRole"),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"), ("apiextensions.k8s.io", "CustomResourceDefinition"),
    ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"),
    ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"), ("storage.k8s.io", "StorageClass"),
})
INVALID = "one or more synchronization tasks are not valid"


def refusals(project: Mapping[str, Any], destination: Mapping[str, str], docs: Iterable[dict[str, Any]]) -> list[str]:
    """ArgoCD's message for each object of ``docs`` that ``project`` does not let an Application
    with ``destination`` (its ``spec.destination``) sync, distinct and sorted; [] when it may."""
    name, spec = project["metadata"]["name"], project.get("spec") or {}
    _no_deny_patterns(spec)
    found = set()
    for doc in docs:
        group, kind = doc["apiVersion"].rpartition("/")[0], doc["kind"]
        namespaced = (group, kind) not in CLUSTER_SCOPED
        if not _kind_permitted(spec, group, kind, doc["metadata"].get("name", ""), namespaced):
            found.add(f"resource {group}:{kind} is not permitted in project {name}")
        elif namespaced:
            namespace = doc["metadata"].get("namespace") or destination.get("namespace", "")
            if not _destination_permitted(spec, destination, namespace):
                found.add(f"namespace {namespace} is not permitted in project '{name}'")
    return sorted(found)


def failure(messages: list[str]) -> str:
    """The operation's message when ``refusals`` found any (sync_context.go)."""
    return f"{INVALID}: {'; '.join(messages)}"


def _kind_permitted(spec: Mapping[str, Any], group: str, kind: str, name: str, namespaced: bool) -> bool:
    if namespaced:
        white, black = spec.get("namespaceResourceWhitelist"), spec.get("namespaceResourceBlacklist") or []
        listed = white is None or (len(white) > 0 and _listed(white, group, kind))
        return listed and not _listed(black, group, kind)
    white, black = spec.get("clusterResourceWhitelist") or [], spec.get("clusterResourceBlacklist") or []
    return _listed(white, group, kind, name) and not _listed(black, group, kind, name)


def _listed(entries: Iterable[Mapping[str, str]], group: str, kind: str, name: str | None = None) -> bool:
    for entry in entries:
        kind_matches = fnmatch.fnmatchcase(kind, entry.get("kind", ""))
        if kind_matches and fnmatch.fnmatchcase(group, entry.get("group", "")) and (
                name is None or not entry.get("name") or fnmatch.fnmatchcase(name, entry["name"])):
            return True
    return False


def _destination_permitted(spec: Mapping[str, Any], destination: Mapping[str, str], namespace: str) -> bool:
    for item in spec.get("destinations") or []:
        cluster = (bool(destination.get("name")) and _glob(item.get("name", ""), destination["name"])) or (
            bool(destination.get("server")) and _glob(item.get("server", ""), destination["server"]))
        if cluster and _glob(item.get("namespace", ""), namespace):
            return True
    return False


def _glob(pattern: str, value: str) -> bool:
    return pattern == "*" or fnmatch.fnmatchcase(value, pattern)


def _no_deny_patterns(spec: Mapping[str, Any]) -> None:
    """Refuse, once per project, what this model does not read: a pattern starting with ``!``."""
    lists = ("destinations", "namespaceResourceWhitelist", "namespaceResourceBlacklist",
             "clusterResourceWhitelist", "clusterResourceBlacklist")
    for entry in (e for key in lists for e in spec.get(key) or []):
        if any(str(value).startswith("!") for value in entry.values()):
            raise NotImplementedError(f"deny patterns are not modelled: {entry}")
