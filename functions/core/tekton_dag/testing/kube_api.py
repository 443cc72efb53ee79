"""Stands in for kube-apiserver: a faithful fake Kubernetes API server over HTTP on loopback, for tests and benchmarks.

No kube-apiserver can run on these machines, so this speaks the real wire protocol to the real
``kubernetes`` client (and to kubectl for simple calls): namespaced objects under
``/apis/<group>/<version>/namespaces/<ns>/<plural>`` and ``/api/v1/...``, with

- create: 201, ``generateName``, uid, ``resourceVersion``, ``creationTimestamp``; 409 AlreadyExists
- get / list (``labelSelector`` in the full grammar of apimachinery's labels.Parse, its syntax
  errors 400; ``kind: <Kind>List``) / delete (``DeleteOptions.preconditions``: 409 in the words
  of apiserver's ``BeforeDelete``)
- replace (PUT) and patch (merge-patch, JSON patch as evanphx/json-patch applies it, 422 when an
  operation does not apply) with ``resourceVersion`` preconditions → 409; a PUT without one is
  422 where the kind's strategy forbids unconditional updates (custom resources, Leases); a
  body naming another object → 400, another uid → 409; a PUT to a name nobody holds creates a
  Lease or an Event (their strategies allow create on update: 201) and is 404 for the others
- a PipelineRun's ``status`` subresource (``.../pipelineruns/<name>/status``) as the CRD declares
  it: create and writes to the main resource keep the stored status, writes to ``/status``
  change nothing else; ``metadata.generation`` 1 on create, bumped by every other change (a
  custom resource's only: built-in kinds keep the generation they were created with, usually none,
  and a negative one is refused)
- Status bodies for 400/403/404/409/415/422/429/5xx; 422 from the vendored Tekton JSON schema
  (``../shared/schemas/tekton.dev/pipelinerun_v1.json``) when present, for a ``/status`` write
  from its status definition loosened to what the CRD's status schema asks (``STATUS_SCHEMAS``)
- the object limits of a real API server (``tekton_dag.kube.apilimits``, shared with the
  dry-run store of ``tekton-dag dev``): names, label keys and values, annotation keys and total
  size (422 Invalid with ``details.causes``), bodies over 3 MiB (413), objects over etcd's 1.5 MiB
  (500 "etcdserver: request is too large"); and Tekton's admission webhook's PipelineRun name
  rule (≤ 63 characters, 400), its ``spec.timeouts`` rule, its ``spec.status`` rule (a value it
  knows, never ``PipelineRunPending`` once started: 400) and its update rule (a done run's spec
  never changes; before that, only ``spec.status`` does: 400)
- discovery (``/api``, ``/apis``, ``/apis/<group>/<version>``, ``/version``)
- authentication and RBAC as kube-apiserver does them (``tekton_dag.testing.rbac``): every caller
  shows a bearer token; ``kubeconfig`` is the cluster admin's (as kind's is), and
  ``kubeconfig_for(namespace, service_account)`` one ServiceAccount's, whose requests are
  authorized against the Roles and bindings the Helm chart renders (``rbac_documents``; by
  default ``helm template`` of every team's values): 401 for an unknown token, 403 Forbidden
  with kube-apiserver's Status message for what the chart does not grant
- fault switches: ``fail(status, times)`` (5xx, 429 with Retry-After), ``delay(seconds, times)``
  (the write lands, the answer comes late: a client timeout with an unknown outcome),
  ``missing_namespaces`` (404), ``forbidden_namespaces`` (403 whoever asks)
- a little of Tekton's controller: a PipelineRun without ``spec.status: PipelineRunPending``
  "runs" (``status.startTime``, condition Unknown/Running); a cancel marks it finished;
  ``finish()`` completes one and returns the data of Tekton's CloudEvent (``instant_tekton=False``
  turns this off, for ``tekton_dag.testing.tekton``, the faithful controller double). ``max_running``,
  ``start_order`` and ``running()`` record what happened, for invariant checks.

It shares the machine with what it serves (tests, ``bench/chain_throughput.py``) where a real
kube-apiserver would not, so it is kept cheap: objects are indexed by collection, the running
PipelineRuns are counted as they change, schemas are compiled once per process with
``fastjsonschema`` (jsonschema only words the 422 of a rejected object), answers are serialised
straight from the store under the lock instead of deep-copied, and each answer is one ``send``.

Use::

    with FakeKubeApi() as api:            # or the ``kube_api`` fixture of tests/conftest.py
        os.environ["KUBECONFIG"] = str(api.kubeconfig)
        ...
        api.objects("pipelineruns", "team-ns")
"""

from __future__ import annotations

import base64
import contextlib
import copy
import email.parser
import functools
import json
import os
import random
import re
import ssl
import string
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

import fastjsonschema
import yaml

from tekton_dag.kube import apilimits
from tekton_dag.testing import go_durations, rbac

SCHEMAS = Path(__file__).resolve().parents[4] / ".." / "shared" / "schemas"
PENDING = "PipelineRunPending"
STOPPING = {"Cancelled", "CancelledRunFinally", "StoppedRunFinally"}
# Tekton's admission webhook (validation.webhook.pipeline.tekton.dev) on a PipelineRun's name:
# tektoncd/pipeline pkg/apis/validate/metadata.go ``ObjectMetadata`` (≤ 63 characters), its denial
# passed on as 400 BadRequest (knative.dev/pkg webhook ``MakeErrorStatus``; kubernetes
# staging/src/k8s.io/apiserver/pkg/admission/plugin/webhook/errors ``ToStatusErr``).
TEKTON_WEBHOOK = "validation.webhook.pipeline.tekton.dev"
# Its defaulting webhook, which decodes the object first (knative.dev/pkg webhook/resourcesemantics/
# defaulting: "mutation failed: cannot decode incoming new object: ..."): a spec.timeouts value Go's
# time.ParseDuration refuses (metav1.Duration's UnmarshalJSON) is refused there, before validation.
TEKTON_DEFAULTING_WEBHOOK = "webhook.pipeline.tekton.dev"
TEKTON_NAME_MAX = 63

# (group, version, plural) → (kind, schema file relative to SCHEMAS or None)
RESOURCES: dict[tuple[str, str, str], tuple[str, str | None]] = {
    ("tekton.dev", "v1", "pipelineruns"): ("PipelineRun", "tekton.dev/pipelinerun_v1.json"),
    ("coordination.k8s.io", "v1", "leases"): ("Lease", None),
    ("", "v1", "configmaps"): ("ConfigMap", None),
    ("events.k8s.io", "v1", "events"): ("Event", None),  # checked by _validate_event
}
# Custom resources (served by apiextensions-apiserver's customresource strategy) and those among
# them whose CRD declares the status subresource (tektoncd/pipeline config/300-crds/
# 300-pipelinerun.yaml: ``subresources: status: {}``).
CUSTOM = {("tekton.dev", "pipelineruns")}
STATUS_SUBRESOURCE = {("tekton.dev", "pipelineruns")}
# What a write through ``/status`` is checked against: the CRD's v1 ``status`` schema (300-pipelinerun
# .yaml gives it a structural schema, not x-kubernetes-preserve-unknown-fields), as the vendored
# schema file's definition of the status carries it (the same fields and types), loosened where the
# two differ (``_status_schema``). (group, kind) → (schema file, definition).
STATUS_SCHEMAS = {("tekton.dev", "PipelineRun"): ("tekton.dev/pipelinerun_v1.json", "PipelineRunStatus")}
# The parts of the status the CRD leaves open (x-kubernetes-preserve-unknown-fields: pipelineSpec,
# results[].value; whenExpressions items without required fields or an enum) where the vendored
# schema has rules of its own: definition → {property: its schema here}.
_CRD_OPEN: dict[str, dict[str, Any]] = {
    "PipelineRunStatus": {"pipelineSpec": {}},
    "PipelineRunResult": {"value": {}},
    "SkippedTask": {"whenExpressions": {"type": "array", "items": {"type": "object"}}},
    "ChildStatusReference": {"whenExpressions": {"type": "array", "items": {"type": "object"}}},
}
# The kinds whose registry strategy has ``AllowUnconditionalUpdate() true``: a PUT without
# metadata.resourceVersion overwrites whatever is stored (kubernetes pkg/registry/core/configmap/
# strategy.go; pkg/registry/core/event/strategy.go, which also serves events.k8s.io). Leases
# (pkg/registry/coordination/lease/strategy.go) and custom resources (apiextensions-apiserver
# pkg/registry/customresource/strategy.go) answer false: such a PUT is a 422.
UNCONDITIONAL_UPDATE = {("", "configmaps"), ("events.k8s.io", "events")}
# The kinds whose strategy has ``AllowCreateOnUpdate() true``: a PUT to a name nobody holds creates
# the object, 201 (apiserver pkg/registry/generic/registry/store.go ``Update``; pkg/registry/
# coordination/lease/strategy.go; pkg/registry/core/event/strategy.go, whose storage also serves
# events.k8s.io: pkg/registry/events/rest/storage_events.go). ConfigMaps (core/configmap/
# strategy.go) and custom resources (customresource/strategy.go) answer false: 404 NotFound.
CREATE_ON_UPDATE = {("coordination.k8s.io", "leases"), ("events.k8s.io", "events")}
_GROUPS_OF: dict[str, list[str]] = {}  # plural → its groups, in RESOURCES order
for _group, _, _plural in RESOURCES:
    _GROUPS_OF.setdefault(_plural, []).append(_group)
_PATH = re.compile(
    r"^/(?:api/(?P<core>v1)|apis/(?P<group>[^/]+)/(?P<version>[^/]+))"
    r"/namespaces/(?P<ns>[^/]+)/(?P<plural>[^/]+)(?:/(?P<name>[^/]+)(?:/(?P<sub>[^/]+))?)?$"
)


@dataclass
class _Fault:
    status: int = 0
    delay: float = 0.0
    times: int = 1
    methods: frozenset[str] = frozenset()
    plural: str = ""
    retry_after: int | None = None


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details

    def body(self) -> dict[str, Any]:
        """``details`` None is left out (a nil pointer in a real Status: 401 has none); ``{}``
        is kept, as NewGenericServerResponse's empty StatusDetails is written."""
        body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": self.message, "reason": self.reason, "details": self.details, "code": self.code}
        if self.details is None:
            del body["details"]
        if not self.reason:  # omitempty
            del body["reason"]
        return body


Key = tuple[str, str, str, str]  # (group, plural, namespace, name)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's listen backlog is 5: many connections opened at once (a burst of creates)
    # would wait for SYN retries the API server never causes. kube-apiserver listens through Go's
    # net.Listen, whose backlog is the kernel's somaxconn (golang/go src/net/sock_linux.go,
    # maxListenerBacklog); the kernel caps this value to it as well.
    request_queue_size = 4096


class FakeKubeApi:
    """The fake server. Thread-safe; every object operation happens under one lock."""

    def __init__(self, schemas: Path | None = SCHEMAS, validate: bool = True,
                 rbac_documents: list[dict[str, Any]] | None = None, enforce_rbac: bool = True, tls: bool = False,
                 instant_tekton: bool = True):
        """``rbac_documents``: the Roles, bindings and ServiceAccounts to authorize against
        (default: the chart's, ``rbac.chart_documents()``). ``enforce_rbac=False`` lets every
        request through unauthenticated (only for measuring what the check costs). ``tls``: serve
        HTTPS with a self-signed certificate the kubeconfigs trust; kubectl (client-go) sends no
        bearer token over plain HTTP, so a kubectl caller needs it (the Python client does send it).
        ``instant_tekton=False`` leaves PipelineRuns to a controller (``tekton_dag.testing.tekton``)."""
        self.instant_tekton = instant_tekton
        self._lock = threading.RLock()
        self._store: dict[Key, dict[str, Any]] = {}  # every object, in creation order
        self._collections: dict[
            tuple[str, str, str], dict[str, dict[str, Any]]
        ] = {}  # (group, plural, ns) → name → object
        self._running: dict[str, set[Key]] = {}  # namespace → the PipelineRuns running there now
        self._rv = 0
        self._faults: list[_Fault] = []
        # (group, kind) → (fast, exact) or None
        self._validators: dict[tuple[str, str], tuple[Callable[[Any], Any] | None, Any] | None] = {}
        self.schema_dir = schemas if schemas is not None and schemas.is_dir() else None
        self.validate = validate
        self.missing_namespaces: set[str] = set()
        self.forbidden_namespaces: set[str] = set()
        self.requests: list[tuple[str, str, int]] = []  # (method, path, status)
        self.body_bytes: list[int] = []  # the request body's length of each of ``requests``, in order
        self.callers: set[str] = set()  # the user names that made requests
        self.max_running: dict[str, int] = {}  # namespace → most PipelineRuns running at once
        self.start_order: list[str] = []  # "ns/name" in the order runs started
        self._server: ThreadingHTTPServer | None = None
        self._tmp = tempfile.TemporaryDirectory(prefix="fake-kube-")
        self.enforce_rbac = enforce_rbac
        self.tls = tls
        self._rbac_documents = rbac_documents
        self.authorizer: rbac.Authorizer | None = None
        self.tokens: rbac.Tokens | None = None

    # --- lifecycle --------------------------------------------------------------------------
    def start(self) -> FakeKubeApi:
        if self.validate:  # compile now (once per process), not inside a request a client times
            for (group, _, _), (kind, _) in RESOURCES.items():
                self._validator(kind, group)
                self._status_validator(kind, group)
        documents = self._rbac_documents if self._rbac_documents is not None else rbac.chart_documents()
        self.authorizer = rbac.Authorizer(documents)
        self.tokens = rbac.Tokens(self.authorizer.service_accounts)
        handler = type("Handler", (_Handler,), {"api": self})
        self._server = _Server(("127.0.0.1", 0), handler)
        if self.tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*_certificate_files())
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        threading.Thread(target=self._server.serve_forever, name="fake-kube-api", daemon=True).start()
        self.kubeconfig.write_text(yaml.safe_dump(self.kubeconfig_dict()))
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        self._tmp.cleanup()

    def __enter__(self) -> FakeKubeApi:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start() the fake first"
        host, port = cast("tuple[str, int]", self._server.server_address)[:2]  # an AF_INET server
        return f"{'https' if self.tls else 'http'}://{host}:{port}"

    @property
    def kubeconfig(self) -> Path:
        """A kubeconfig file pointing at this server (for KUBECONFIG, kubectl, the client)."""
        return Path(self._tmp.name) / "kubeconfig"

    def kubeconfig_dict(self, user: rbac.User = rbac.ADMIN_USER, namespace: str = "default") -> dict[str, Any]:
        assert self.tokens is not None, "start() the fake first"
        token = self.tokens.issue(user)
        return {
            "apiVersion": "v1", "kind": "Config", "current-context": "fake",
            "clusters": [{"name": "fake", "cluster": {"server": self.base_url, **self._trust()}}],
            "users": [{"name": user.name, "user": {"token": token}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": user.name, "namespace": namespace}}],
        }

    def _trust(self) -> dict[str, str]:
        if not self.tls:
            return {}
        return {"certificate-authority-data": base64.b64encode(Path(_certificate_files()[0]).read_bytes()).decode()}

    def kubeconfig_for(self, namespace: str, service_account: str) -> Path:
        """A kubeconfig holding ServiceAccount ``namespace/service_account``'s token (KeyError
        when the RBAC documents have no such ServiceAccount)."""
        assert self.tokens is not None, "start() the fake first"
        self.tokens.for_service_account(namespace, service_account)
        path = Path(self._tmp.name) / f"kubeconfig-{namespace}-{service_account}"
        user = rbac.service_account_user(namespace, service_account)
        path.write_text(yaml.safe_dump(self.kubeconfig_dict(user, namespace)))
        return path

    # --- fault switches ---------------------------------------------------------------------
    def fail(self, status: int, times: int = 1, methods: tuple[str, ...] = (), plural: str = "",
             retry_after: int | None = None) -> None:
        """Answer the next ``times`` matching requests with ``status`` (and a Status body)."""
        with self._lock:
            self._faults.append(_Fault(status=status, times=times, methods=frozenset(methods), plural=plural,
                                       retry_after=retry_after))

    def delay(self, seconds: float, times: int = 1, methods: tuple[str, ...] = (), plural: str = "") -> None:
        """Handle the next ``times`` matching requests normally but answer ``seconds`` late."""
        with self._lock:
            self._faults.append(_Fault(delay=seconds, times=times, methods=frozenset(methods), plural=plural))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def _take_fault(self, method: str, plural: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if (not fault.methods or method in fault.methods) and (not fault.plural or fault.plural == plural):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    # --- inspection -------------------------------------------------------------------------
    def traffic(self) -> tuple[int, int]:
        """(requests answered, request-body bytes received) so far: what clients wrote to the API."""
        return len(self.requests), sum(self.body_bytes)

    def objects(self, plural: str = "pipelineruns", namespace: str | None = None) -> list[dict[str, Any]]:
        """Copies of the stored objects, ordered by (group, plural, namespace, name)."""
        with self._lock:
            return [copy.deepcopy(o) for (g, p, ns), named in sorted(self._collections.items())
                    if p == plural and (namespace is None or ns == namespace)
                    for _, o in sorted(named.items())]

    def get(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        """A copy of one stored object, or None."""
        with self._lock:
            found = self._find(plural, namespace, name)
            return copy.deepcopy(found[1]) if found else None

    def running(self, namespace: str | None = None) -> list[str]:
        with self._lock:
            return [o["metadata"]["name"] for o in self._runs(namespace) if _is_running(o)]

    def pending(self, namespace: str | None = None) -> list[str]:
        with self._lock:
            return [
                o["metadata"]["name"] for o in self._runs(namespace) if (o.get("spec") or {}).get("status") == PENDING
            ]

    def finish(
        self, namespace: str, name: str, reason: str = "Succeeded", at: datetime | None = None
    ) -> dict[str, Any]:
        """Complete a run as Tekton would (``at``: when it finished, default now); returns the
        data of Tekton's CloudEvent."""
        with self._lock:
            found = self._find("pipelineruns", namespace, name)
            if found is None:
                raise KeyError(f"{namespace}/{name}")
            key, run = found
            _complete(run, reason)
            if at is not None:
                run["status"]["completionTime"] = at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            self._bump(key, run)
            return {"pipelineRun": copy.deepcopy(run)}

    def _runs(self, namespace: str | None) -> Iterator[dict[str, Any]]:
        return (o for (_, p, ns, _), o in self._store.items() if p == "pipelineruns" and namespace in (None, ns))

    def _find(self, plural: str, namespace: str, name: str) -> tuple[Key, dict[str, Any]] | None:
        for group in _GROUPS_OF.get(plural, ()):
            key = (group, plural, namespace, name)
            if key in self._store:
                return key, self._store[key]
        return None

    def _put(self, key: Key, obj: dict[str, Any]) -> None:
        self._store[key] = obj
        self._collections.setdefault(key[:3], {})[key[3]] = obj

    def _delete(self, key: Key) -> None:
        del self._store[key]
        del self._collections[key[:3]][key[3]]
        self._running.get(key[2], set()).discard(key)

    # --- the API ----------------------------------------------------------------------------
    def handle(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        body: Any,
        content_type: str,
        match: re.Match[str] | None = None,
        authorization: str | None = None,
    ) -> tuple[int, bytes]:
        """Answer one request: the status and the JSON of the answer's body. Takes ``body`` over
        (it may end up in the store); raises ApiError for a Status answer. ``authorization``: the
        request's Authorization header."""
        match = match or _PATH.match(path)
        user = self._authenticate(authorization)
        if (
            path == "/version"
            or path in ("/api", "/apis")
            or (path.startswith("/apis/") and path.count("/") <= 3)
            or path == "/api/v1"
        ):
            self._authorize(user, rbac.Request(method.lower(), path=path))
            if path == "/version":
                return 200, _json({"major": "1", "minor": "33", "gitVersion": "v1.33.0-fake"})
            status, answer = self._discovery(path)
            return status, _json(answer)
        if not match:
            self._authorize(user, rbac.Request(method.lower(), path=path))
            raise ApiError(404, "NotFound", f"the server could not find the requested resource ({path})")
        group = "" if match["core"] else match["group"]
        version = match["core"] or match["version"]
        plural, ns, name, sub = match["plural"], match["ns"], match["name"], match["sub"] or ""
        request = rbac.Request(rbac.verb_of(method, name is not None, query), ns, group, plural, sub, name or "")
        self._authorize(user, request)  # before the resource is looked up, as kube-apiserver does
        if (group, version, plural) not in RESOURCES:
            raise ApiError(404, "NotFound", f"the server could not find the requested resource ({plural})")
        if sub and (sub != "status" or (group, plural) not in STATUS_SUBRESOURCE):  # no such subresource
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        kind = RESOURCES[(group, version, plural)][0]
        details = {"name": name or "", "group": group, "kind": plural}
        if ns in self.forbidden_namespaces:
            message, details = rbac.forbidden(user or rbac.ANONYMOUS_USER, request)
            raise ApiError(403, "Forbidden", message, details)
        # Answers are serialised under the lock, straight from the store: no copies, and no
        # other request can change an object while it is being written out.
        with self._lock:
            if name is None:
                if method == "GET":
                    return 200, self._list(group, version, plural, kind, ns, query)
                if method == "POST":
                    return 201, _json(self._create(group, version, plural, kind, ns, body))
                raise ApiError(405, "MethodNotAllowed", f"{method} is not supported on a collection")
            key = (group, plural, ns, name)
            current = self._store.get(key)
            if current is None and method == "PUT" and not sub and (group, plural) in CREATE_ON_UPDATE:
                return 201, _json(self._create_on_update(key, version, kind, body, user))
            if current is None:
                raise ApiError(404, "NotFound", f'{_resource(group, plural)} "{name}" not found', details)
            if method == "GET":
                return 200, _json(current)
            if sub and method not in ("PUT", "PATCH"):  # the status subresource has get, update, patch
                raise ApiError(405, "MethodNotAllowed", f"{method} is not supported on {plural}/{sub}")
            if method == "DELETE":
                _check_preconditions(current, body, kind, group)
                self._delete(key)
                # registry/store.go ``finalizeDelete``: the resource as Kind, and the uid deleted.
                done = {**details, "uid": current["metadata"]["uid"]}
                return 200, _json({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                                   "details": done})
            if method == "PUT":
                return 200, _json(self._update(key, current, body, details, kind, True, sub == "status"))
            if method == "PATCH":
                patched = _patched(current, body, content_type)
                return 200, _json(self._update(key, current, patched, details, kind, False, sub == "status"))
        raise ApiError(405, "MethodNotAllowed", f"{method} is not supported")

    def _authenticate(self, authorization: str | None) -> rbac.User | None:
        """The caller; 401 (apimachinery NewUnauthorized) for a token nobody issued."""
        if not self.enforce_rbac:
            return None
        assert self.tokens is not None
        user = self.tokens.user(authorization)
        if user is None:
            raise ApiError(401, "Unauthorized", "Unauthorized", None)
        self.callers.add(user.name)
        return user

    def _authorize(self, user: rbac.User | None, request: rbac.Request) -> None:
        if user is None:  # not enforcing
            return
        assert self.authorizer is not None
        allowed, reason = self.authorizer.authorize(user, request)
        if not allowed:
            message, details = rbac.forbidden(user, request, reason)
            raise ApiError(403, "Forbidden", message, details)

    def _discovery(self, path: str) -> tuple[int, Any]:
        if path == "/api":
            return 200, {"kind": "APIVersions", "versions": ["v1"]}
        groups = sorted({g for g, _, _ in RESOURCES if g})
        if path == "/apis":
            return 200, {
                "kind": "APIGroupList",
                "apiVersion": "v1",
                "groups": [
                    {
                        "name": g,
                        "versions": [{"groupVersion": f"{g}/v1", "version": "v1"}],
                        "preferredVersion": {"groupVersion": f"{g}/v1", "version": "v1"},
                    }
                    for g in groups
                ],
            }
        group_version = path.removeprefix("/apis/").removeprefix("/api/")
        resources = [
            {
                "name": p,
                "singularName": k.lower(),
                "namespaced": True,
                "kind": k,
                "verbs": ["create", "delete", "get", "list", "patch", "update"],
            }
            for (g, v, p), (k, _) in RESOURCES.items()
            if (f"{g}/{v}" if g else v) == group_version
        ]
        if not resources:
            raise ApiError(404, "NotFound", f"the server could not find the requested resource ({path})")
        return 200, {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": group_version,
            "resources": resources,
        }

    def _list(self, group: str, version: str, plural: str, kind: str, ns: str, query: dict[str, list[str]]) -> bytes:
        """A list in name order (etcd's key order within one namespace), paged by ``limit`` and
        ``continue`` as kube-apiserver pages: a page ends with ``metadata.continue`` while more
        items match, the token resumes after the last item returned, and ``remainingItemCount``
        is set only without a selector (https://kubernetes.io/docs/reference/using-api/api-concepts/
        #retrieving-large-results-sets-in-chunks). Not modelled: a token never expires (the real
        one answers 410 Expired after compaction) and later pages see later writes (the real
        pages are one consistent snapshot)."""
        text = (query.get("labelSelector") or [""])[0]
        selector = _parse_selector(text)
        after = _continue_after((query.get("continue") or [""])[0])
        limit = _limit((query.get("limit") or ["0"])[0])
        named = self._collections.get((group, plural, ns), {})
        matching = [o for n, o in sorted(named.items()) if n > after and _matches(selector, o)]
        items, rest = (matching[:limit], matching[limit:]) if limit else (matching, [])
        metadata: dict[str, Any] = {"resourceVersion": str(self._rv)}
        if rest:
            metadata["continue"] = _continue_token(items[-1]["metadata"]["name"], self._rv)
            if not selector:
                metadata["remainingItemCount"] = len(rest)
        api_version = f"{group}/{version}" if group else version
        return _json({"apiVersion": api_version, "kind": f"{kind}List", "metadata": metadata, "items": items})

    def _create(self, group: str, version: str, plural: str, kind: str, ns: str, body: Any,
                authorize: Callable[[], None] | None = None) -> dict[str, Any]:
        """``authorize``: a last check once the object is valid (a create on update's)."""
        if ns in self.missing_namespaces:
            raise ApiError(404, "NotFound", f'namespaces "{ns}" not found', {"name": ns, "kind": "namespaces"})
        if not isinstance(body, dict):
            raise ApiError(400, "BadRequest", "the body of the request was in an unknown format")
        obj = body  # handle() owns the body: it becomes the stored object
        metadata = obj.setdefault("metadata", {})
        if metadata.get("namespace", ns) != ns:
            raise ApiError(
                400,
                "BadRequest",
                "the namespace of the provided object does not match the namespace sent on the request",
            )
        if not metadata.get("name") and metadata.get("generateName"):
            metadata["name"] = metadata["generateName"] + "".join(
                random.choices(string.ascii_lowercase + string.digits, k=5)
            )
        name = metadata.get("name")
        if not name:
            raise ApiError(
                422,
                "Invalid",
                f"{_resource(group, kind)} is invalid: metadata.name: Required value: name or generateName is required",
            )
        if (group, plural) in STATUS_SUBRESOURCE:  # customResourceStrategy.PrepareForCreate: "create cannot set status"
            obj.pop("status", None)
        # Only a strategy sets a generation: customresource/strategy.go ``PrepareForCreate`` (1),
        # before validation (rest/create.go ``BeforeCreate``), so whatever a custom resource was
        # sent with never counts. The Lease, ConfigMap and Event strategies leave it as sent (none,
        # usually), as does ``FillObjectMetaSystemFields``; ValidateObjectMetaAccessor then
        # refuses a negative one (apilimits.metadata_causes).
        if (group, plural) in CUSTOM:
            metadata["generation"] = 1
        self._validate(kind, group, obj)
        if authorize is not None:
            authorize()
        if (group, plural, ns, name) in self._store:
            raise ApiError(
                409,
                "AlreadyExists",
                f'{_resource(group, plural)} "{name}" already exists',
                {"name": name, "group": group, "kind": plural},
            )
        metadata.update(
            namespace=ns,
            uid=str(uuid.uuid4()),
            creationTimestamp=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
        metadata.pop("resourceVersion", None)
        key = (group, plural, ns, name)
        self._put(key, obj)
        self._bump(key, obj)
        return obj

    def _create_on_update(self, key: Key, version: str, kind: str, body: Any, user: rbac.User | None) -> dict[str, Any]:
        """A PUT to a name nobody holds, of a kind in CREATE_ON_UPDATE. As kube-apiserver: the
        body names the URL's object (handlers/rest.go ``checkName``, before the store); a uid in
        it is a precondition, checked against the empty object the storage reads for a missing key
        (etcd3 store ``GuaranteedUpdate``, before the update function), so it fails; then store.go
        ``Update`` takes the create path (``FillObjectMetaSystemFields``, ``BeforeCreate``; the
        resourceVersion sent is dropped, etcd3 ``updateState`` → ``PrepareObjectForStorage``), and
        the caller must also be allowed to ``create`` (handlers/update.go ``withAuthorization``)."""
        group, plural, ns, name = key
        sent = _target_metadata(body, ns, name, put=True)
        if sent.get("uid"):
            raise _precondition_failed(key, f"UID in precondition: {sent['uid']}, UID in object meta: ")
        return self._create(group, version, plural, kind, ns, body, lambda: self._authorize_create(user, key))

    def _authorize_create(self, user: rbac.User | None, key: Key) -> None:
        """handlers/update.go ``withAuthorization``: 403 ``NewForbidden`` with the authorizer's
        reason alone (RBAC's is empty unless a bound role is missing)."""
        if user is None:
            return
        assert self.authorizer is not None
        group, plural, ns, name = key
        allowed, reason = self.authorizer.authorize(user, rbac.Request("create", ns, group, plural, "", name))
        if not allowed:
            raise ApiError(403, "Forbidden", f'{_resource(group, plural)} "{name}" is forbidden: {reason}',
                           {"name": name, "group": group, "kind": plural})

    def _update(self, key: Key, current: dict[str, Any], new: Any, details: dict[str, Any], kind: str,
                put: bool, status: bool) -> dict[str, Any]:
        """Replace ``current`` (stored under ``key``) in place by ``new``, which the caller hands
        over; it may share parts with ``current`` (a merge patch), never with anything else.
        ``put``: a PUT (else the result of a patch); ``status``: through the status subresource."""
        group, plural, ns, name = key
        sent = _target_metadata(new, ns, name, put)
        stored = current["metadata"]
        resource = _resource(group, plural)
        uid = sent.get("uid")
        if uid and uid != stored["uid"]:
            if not put:  # a patch sets no precondition: ValidateObjectMetaUpdate finds the change
                raise _invalid(kind, group, name, "metadata.uid", json.dumps(uid), "field is immutable")
            raise _precondition_failed(key, f"UID in precondition: {uid}, UID in object meta: {stored['uid']}")
        sent_rv = sent.get("resourceVersion")
        if not sent_rv and put and (group, plural) not in UNCONDITIONAL_UPDATE:
            # apiserver pkg/registry/generic/registry/store.go ``Update``: without
            # AllowUnconditionalUpdate a resourceVersion "must be specified for an update"
            # (uint64 0 printed by field.Invalid as %#v: 0x0); the kind named by its resource.
            raise _invalid(plural, group, name, "metadata.resourceVersion", "0x0", "must be specified for an update")
        if sent_rv and sent_rv != stored["resourceVersion"]:
            raise ApiError(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on {resource} "{name}": '
                "the object has been modified; please apply your changes to the latest version and try again",
                details,
            )
        if status:
            # apiextensions-apiserver pkg/registry/customresource/status_strategy.go
            # ``PrepareForUpdate``: the stored object, metadata included, with only the new status.
            updated = {k: v for k, v in current.items() if k != "status"}
            if "status" in new:
                updated["status"] = new["status"]
            new = updated
            self._validate_status(kind, group, name, new)
        elif (group, plural) in STATUS_SUBRESOURCE:
            # customresource/strategy.go ``PrepareForUpdate``: the main resource keeps the stored status.
            new.pop("status", None)
            if "status" in current:
                new["status"] = current["status"]
        new["metadata"] = metadata = dict(new["metadata"] if status else sent)  # never current's own dict
        for field in ("name", "namespace", "uid", "creationTimestamp"):
            metadata[field] = stored[field]
        # rest/update.go ``BeforeUpdate``: "Ensure requests cannot update generation" (the stored
        # one, or none for a built-in kind created without one).
        metadata.pop("generation", None)
        if "generation" in stored:
            metadata["generation"] = stored["generation"]
        # customresource/strategy.go ``PrepareForUpdate``: any change outside metadata bumps the
        # generation (status cannot change here: it was reset above); a status update never does.
        if (group, plural) in CUSTOM and not status and any(
                new.get(k) != current.get(k) for k in {*new, *current} - {"metadata"}):
            metadata["generation"] = stored["generation"] + 1
        # A /status write too: knative.dev/pkg registers Tekton's validating webhook for
        # ``pipelineruns`` and ``pipelineruns/status`` (validation/reconcile_config.go), and a
        # subresource update counts as an update there (apis.WithinSubResourceUpdate).
        self._validate(kind, group, new)
        if kind == "PipelineRun" and self.validate:
            _validate_run_update(current, new)
        current.clear()
        current.update(new)
        self._bump(key, current)
        return current

    def _bump(self, key: Key, obj: dict[str, Any]) -> None:
        """After every change of a stored object: a new resourceVersion, Tekton's reaction, and
        the count of running PipelineRuns (kept here, so no change is missed)."""
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)
        tekton = obj.get("kind") == "PipelineRun" or "pipelineRef" in (obj.get("spec") or {})
        if tekton and self.instant_tekton:
            self._tekton(obj)
        if key[1] == "pipelineruns":
            running = self._running.setdefault(key[2], set())
            if _is_running(obj):
                running.add(key)
            else:
                running.discard(key)
        if tekton:
            ns = obj["metadata"]["namespace"]
            self.max_running[ns] = max(self.max_running.get(ns, 0), len(self._running.get(ns, ())))

    def _tekton(self, run: dict[str, Any]) -> None:
        """What Tekton's controller would do next, instantly: start, or stop when cancelled."""
        spec, status = run.setdefault("spec", {}), run.setdefault("status", {})
        finished = bool(status.get("completionTime"))
        if spec.get("status") in STOPPING and not finished:
            _complete(run, "Cancelled")
        elif not finished and spec.get("status") != PENDING and not status.get("startTime"):
            status["startTime"] = _now()
            status["conditions"] = [{"type": "Succeeded", "status": "Unknown", "reason": "Running"}]
            self.start_order.append(f"{run['metadata']['namespace']}/{run['metadata']['name']}")

    def _validate(self, kind: str, group: str, obj: dict[str, Any]) -> None:
        if not self.validate:
            return
        name = obj["metadata"].get("name", "")
        try:
            apilimits.check_metadata(kind, group, obj)  # 422, as the API server's own validation
            apilimits.check_config_map_size(kind, group, obj)
        except apilimits.Refused as refused:
            raise ApiError(refused.code, refused.reason, refused.message, refused.details) from None
        if kind == "Event":
            _validate_event(obj)
        self._validate_schema(kind, group, name, obj)
        if kind == "PipelineRun":
            _decode_run_timeouts(obj.get("spec") or {})
        if kind == "PipelineRun" and len(name) > TEKTON_NAME_MAX:  # then the validating webhook
            raise ApiError(
                400,
                "BadRequest",
                f'admission webhook "{TEKTON_WEBHOOK}" denied the request: validation '
                "failed: Invalid resource name: length must be no more than 63 characters: "
                "metadata.name",
            )
        if kind == "PipelineRun":
            _validate_run_timeouts(obj.get("spec") or {})
            _validate_run_spec_status(obj)
        try:
            apilimits.check_stored_size(obj)  # last: etcd refuses the write
        except apilimits.Refused as refused:
            raise ApiError(refused.code, refused.reason, refused.message) from None

    def _validate_schema(self, kind: str, group: str, name: str, obj: dict[str, Any]) -> None:
        validators = self._validator(kind, group)
        if validators is not None:
            checked = {k: v for k, v in obj.items() if k != "status"}
            _check_schema(validators, checked, kind, group, name, lambda path: ".".join(str(p) for p in path))

    def _validate_status(self, kind: str, group: str, name: str, obj: dict[str, Any]) -> None:
        """A ``/status`` write, checked against the status schema of the CRD (STATUS_SCHEMAS) as
        apiextensions-apiserver customresource/status_strategy.go ``ValidateUpdate`` does with its
        ``statusSchemaValidator``: 422 Invalid naming the field the apiserver's way
        (``status.conditions[0]``), worded by jsonschema. Unknown fields pass: a structural
        schema prunes them (fieldValidation's default, Warn) instead of refusing them."""
        if not self.validate or "status" not in obj:
            return
        validators = self._status_validator(kind, group)
        if validators is not None:
            _check_schema(validators, obj["status"], kind, group, name, lambda path: _kube_path(("status", *path)))

    def _status_validator(self, kind: str, group: str) -> tuple[Callable[[Any], Any] | None, Any] | None:
        if (group, kind + "/status") not in self._validators:
            found = STATUS_SCHEMAS.get((group, kind))
            self._validators[(group, kind + "/status")] = (
                None if found is None or self.schema_dir is None else _validators(self.schema_dir / found[0], found[1]))
        return self._validators[(group, kind + "/status")]

    def _validator(self, kind: str, group: str) -> tuple[Callable[[Any], Any] | None, Any] | None:
        if (group, kind) not in self._validators:
            schema_file = _SCHEMA_OF.get((group, kind))
            found = (
                None if schema_file is None or self.schema_dir is None else _validators(self.schema_dir / schema_file)
            )
            self._validators[(group, kind)] = found
        return self._validators[(group, kind)]


@functools.cache
def _certificate_files() -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 and its key (PEM files), made once per process."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-kube-api")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    directory = tempfile.mkdtemp(prefix="fake-kube-tls-")
    cert_file, key_file = os.path.join(directory, "tls.crt"), os.path.join(directory, "tls.key")
    Path(cert_file).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    Path(key_file).write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


def _check_schema(validators: tuple[Callable[[Any], Any] | None, Any], checked: Any, kind: str, group: str,
                  name: str, field_of: Callable[[Any], str]) -> None:
    """422 Invalid (at most 5 causes) if ``checked`` is not valid; ``field_of``: a cause's field
    from jsonschema's ``absolute_path``."""
    fast, slow = validators
    if fast is not None:
        try:
            fast(checked)
            return
        except fastjsonschema.JsonSchemaValueException:
            pass  # jsonschema has the last word, and words the answer as before
    errors = sorted(slow.iter_errors(checked), key=lambda e: list(e.absolute_path))
    if errors:
        causes = [{"reason": "FieldValueInvalid", "field": field_of(e.absolute_path), "message": e.message}
                  for e in errors[:5]]
        first = causes[0]
        raise ApiError(422, "Invalid", f'{kind}.{group} "{name}" is invalid: {first["field"]}: {first["message"]}',
                       {"name": name, "group": group, "kind": kind, "causes": causes})


def _kube_path(parts: Any) -> str:
    """A field path as apimachinery's field.Path prints it: ``status.conditions[0].type``."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def _status_schema(document: dict[str, Any], definition: str) -> dict[str, Any]:
    """The schema of a kind's status from the vendored file's ``definition``, loosened to what the
    CRD asks: no ``additionalProperties: false`` anywhere (pruned, not refused), and the subtrees
    of ``_CRD_OPEN`` open."""
    definitions = _open(document.get("definitions") or {})
    for name, properties in _CRD_OPEN.items():
        if name in definitions:
            definitions[name].setdefault("properties", {}).update(properties)
    return {"$schema": document.get("$schema", ""), "definitions": definitions, "$ref": f"#/definitions/{definition}"}


def _open(schema: Any) -> Any:
    """A copy of ``schema`` without its ``additionalProperties: false``."""
    if isinstance(schema, dict):
        return {k: _open(v) for k, v in schema.items() if not (k == "additionalProperties" and v is False)}
    if isinstance(schema, list):
        return [_open(v) for v in schema]
    return schema


_SCHEMA_OF = {(g, k): f for (g, _, _), (k, f) in RESOURCES.items() if f is not None}
_VALIDATORS: dict[tuple[str, float, str], tuple[Callable[[Any], Any] | None, Any] | None] = {}
_VALIDATORS_LOCK = threading.Lock()


def _no_remote_refs(uri: str) -> Any:
    raise ValueError(f"remote $ref not fetched by the fake: {uri}")


def _validators(path: Path, status: str = "") -> tuple[Callable[[Any], Any] | None, Any] | None:
    """(fast, exact) validators of one schema file, built once per process (and per mtime);
    ``status``: of that definition's status schema instead (``_status_schema``).

    ``fast`` is fastjsonschema's compiled function (draft-04 is supported; formats are not
    asserted, as jsonschema's Draft4Validator without a format checker does not either; no
    defaults are filled in). It only decides "valid": when it rejects, the exact jsonschema
    Draft4Validator decides and words the 422, so a difference between the two can cost time,
    never change an answer. ``fast`` is None if fastjsonschema cannot compile the schema:
    then jsonschema alone validates. (The vendored Tekton PipelineRun schema compiles, and on
    6,000 random mutations of real PipelineRuns the two gave the same verdict every time.)
    """
    if not path.is_file():
        return None
    stamp = (str(path), os.stat(path).st_mtime, status)
    with _VALIDATORS_LOCK:
        if stamp not in _VALIDATORS:
            import jsonschema

            schema = json.loads(path.read_text())
            if status:
                schema = _status_schema(schema, status)
            try:
                fast = fastjsonschema.compile(
                    schema,
                    handlers={"http": _no_remote_refs, "https": _no_remote_refs},
                    use_default=False,
                    use_formats=False,
                )
            except (fastjsonschema.JsonSchemaDefinitionException, ValueError, RecursionError):
                fast = None  # a construct fastjsonschema does not support: jsonschema alone
            _VALIDATORS[stamp] = (fast, jsonschema.Draft4Validator(schema))
        return _VALIDATORS[stamp]


class _Handler(BaseHTTPRequestHandler):
    raw_requestline: bytes  # set by BaseHTTPRequestHandler.handle_one_request; typeshed omits it
    api: FakeKubeApi
    protocol_version = "HTTP/1.1"
    # TCP_NODELAY, as a real kube-apiserver (Go's net/http) has. Each answer (headers and body)
    # is one write, and wfile is unbuffered (wbufsize 0: one sendall), so it leaves in one send.
    disable_nagle_algorithm = True
    wbufsize = 0

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read api.requests
        pass

    def parse_request(self) -> bool:
        """BaseHTTPRequestHandler.parse_request for a plain HTTP/1.1 request, without the email
        parser (a third of the cost of a small call); anything else goes to the original."""
        request = _REQUEST_LINE.fullmatch(self.raw_requestline)
        if request is None:
            return super().parse_request()
        self.requestline = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        self.command, self.path = request[1].decode("ascii"), request[2].decode("iso-8859-1")
        self.request_version, self.close_connection = "HTTP/1.1", False
        if self.path.startswith("//"):
            self.path = "/" + self.path.lstrip("/")  # as the original does (gh-87389)
        lines = []  # read as http.client.parse_headers does, with its limits and answers
        while True:
            line = self.rfile.readline(_MAXLINE + 1)
            if len(line) > _MAXLINE:
                self.send_error(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Line too long", "header line")
                return False
            lines.append(line)
            if len(lines) > _MAXHEADERS:
                self.send_error(
                    HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE,
                    "Too many headers",
                    f"got more than {_MAXHEADERS} headers",
                )
                return False
            if line in (b"\r\n", b"\n", b""):
                break
        self.headers = _headers(lines, self.MessageClass)
        connection = self.headers.get("Connection", "").lower()
        if connection == "close":
            self.close_connection = True
        elif connection == "keep-alive":
            self.close_connection = False
        return self.headers.get("Expect", "").lower() != "100-continue" or self.handle_expect_100()

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        match = _PATH.match(url.path)
        fault = self.api._take_fault(method, match["plural"] if match else "")
        extra = ""
        if fault and fault.status:
            reason = {429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable", 504: "Timeout"}.get(
                fault.status, "InternalError"
            )
            status, payload = (
                fault.status,
                _json(ApiError(fault.status, reason, f"injected fault {fault.status}").body()),
            )
            if fault.retry_after is not None:
                extra = f"Retry-After: {fault.retry_after}\r\n"
        else:
            try:
                apilimits.check_body_size(length)
                data = json.loads(raw) if raw else None
                status, payload = self.api.handle(
                    method,
                    url.path,
                    parse_qs(url.query),
                    data,
                    self.headers.get("Content-Type", ""),
                    match,
                    self.headers.get("Authorization"),
                )
            except ApiError as exc:
                status, payload = exc.code, _json(exc.body())
            except apilimits.Refused as refused:
                status, payload = refused.code, _json(ApiError(refused.code, refused.reason, refused.message).body())
            except ValueError as exc:
                status, payload = 400, _json(ApiError(400, "BadRequest", f"invalid JSON body: {exc}").body())
        self.api.requests.append((method, self.path, status))
        self.api.body_bytes.append(length)
        if fault and fault.delay:
            time.sleep(fault.delay)  # the work is done; the answer arrives too late
        # What send_response + send_header + end_headers would write (status line, Server, Date,
        # then ours), with the body, in one write.
        head = (
            f"{self.protocol_version} {status} {_PHRASES.get(status, '')}\r\n"
            f"Server: {self.version_string()}\r\nDate: {_http_date()}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n{extra}\r\n"
        )
        # A client that gave up (a timeout) is exactly what a delay fault is for.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(head.encode("latin-1") + payload)


_REQUEST_LINE = re.compile(rb"([A-Z]+) (/[!-~]*) HTTP/1\.1\r?\n")
_MAXLINE, _MAXHEADERS = 65536, 100  # http.client's limits
_FIELD_NAME = re.compile(r"[!-9;-~]+")  # what the email parser takes for a header's name


class _Headers(dict[str, str]):
    """The request headers for ``get``, as the email Message would answer it: case-insensitive,
    the first of repeated fields."""

    def get(self, name: str, default: Any = None) -> Any:
        return super().get(name.lower(), default)

    def __getitem__(self, name: str) -> Any:
        return super().get(name.lower())


def _headers(lines: list[bytes], message_class: Any) -> Any:
    """Simple ``Name: value`` lines into _Headers; folded or odd ones to the email parser."""
    headers = _Headers()
    for line in lines[:-1]:
        name, colon, value = line.decode("iso-8859-1").partition(":")
        if not colon or not _FIELD_NAME.fullmatch(name):
            return email.parser.Parser(_class=message_class).parsestr(b"".join(lines).decode("iso-8859-1"))
        headers.setdefault(name.lower(), value.lstrip(" \t").rstrip("\r\n"))  # as email's compat32 policy
    return headers


_PHRASES = {code: short for code, (short, _) in BaseHTTPRequestHandler.responses.items()}
_date_cache: tuple[int, str] = (0, "")


def _http_date() -> str:
    """The Date header's value, formatted once per second."""
    global _date_cache
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache = (now, formatdate(now, usegmt=True))
    return _date_cache[1]


def _json(body: Any) -> bytes:
    return json.dumps(body).encode()


def _patched(current: dict[str, Any], patch: Any, content_type: str) -> dict[str, Any]:
    content_type = content_type.split(";")[0].strip()
    if content_type == "application/merge-patch+json":
        merged: dict[str, Any] = _merged(current, patch)  # a JSON object patched stays one
        return merged
    if content_type == "application/json-patch+json":
        return _json_patch(copy.deepcopy(current), patch)
    raise ApiError(
        415,
        "UnsupportedMediaType",
        f"the body of the request was in an unknown format - accepted media types "
        f"include: application/json-patch+json, application/merge-patch+json (got {content_type!r})",
    )


def _merged(target: Any, patch: Any) -> Any:
    """RFC 7386 merge of ``patch`` into ``target``, which stays untouched: new dicts along the
    patched paths, everything else shared with ``target``.

    A twin of the product's ``tekton_dag.kube.stores.merge_patch``, kept apart on purpose: this
    double checks what the product sends, and a double that shared the product's code would agree
    with its bugs. Both follow RFC 7386 (https://www.rfc-editor.org/rfc/rfc7386), not each other."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merged(result.get(key), value)
    return result


class _PatchFailed(Exception):
    """One operation of a JSON patch does not apply (evanphx/json-patch's Apply errors)."""


def _json_patch(doc: dict[str, Any], ops: Any) -> dict[str, Any]:
    """RFC 6902 as kube-apiserver applies it: gopkg.in/evanphx/json-patch.v4 ``Patch.Apply``
    (patch.go: ``findObject``, ``partialDoc``/``partialArray`` add/get/remove). A body that is not
    a list of operations is 400 (``DecodePatch``); an operation that does not apply (a test that
    fails, a parent or key that is missing, an index past the list, an unknown op) is answered
    by apiserver pkg/endpoints/handlers/patch.go ``applyJSPatch`` with
    ``NewGenericServerResponse(422, ...)``: a fixed message, reason Invalid, empty details. As
    there, ``replace`` of a missing object key sets it (``partialDoc.get`` never fails)."""
    ops = [] if ops is None else ops  # JSON null decodes to an empty patch
    if not isinstance(ops, list):
        raise _undecodable(ops, "Patch")
    for op in ops:
        if not isinstance(op, dict | None):
            raise _undecodable(op, "Operation")
    try:
        for op in ops:
            _apply_op(doc, op or {})
    except _PatchFailed:
        raise ApiError(422, "Invalid", "the server rejected our request due to an error in our request", {}) from None
    return doc


_GO_JSON = {dict: "object", list: "array", str: "string", bool: "bool", int: "number", float: "number"}


def _undecodable(value: Any, go_type: str) -> ApiError:
    """``DecodePatch``'s encoding/json UnmarshalTypeError, passed on as 400 BadRequest."""
    return ApiError(400, "BadRequest",
                    f"json: cannot unmarshal {_GO_JSON[type(value)]} into Go value of type jsonpatch.{go_type}")


def _apply_op(doc: dict[str, Any], op: dict[str, Any]) -> None:
    kind = op.get("op")
    if kind == "test":
        node, key = _container(doc, op.get("path"))
        found = _get(node, key)
        if not (found is None and op.get("value") is None) and not _same_json(found, op.get("value"), "value" in op):
            raise _PatchFailed
    elif kind in ("add", "replace"):
        node, key = _container(doc, op.get("path"))
        if kind == "replace" and isinstance(node, list):
            node[_index(key, len(node) - 1)] = op.get("value")
        else:
            _add(node, key, op.get("value"))
    elif kind == "remove":
        node, key = _container(doc, op.get("path"))
        _remove(node, key)
    elif kind in ("move", "copy"):
        node, key = _container(doc, op.get("from"))
        value = _get(node, key)
        if kind == "move":
            _remove(node, key)
        else:
            value = copy.deepcopy(value)
        _add(*_container(doc, op.get("path")), value)
    else:
        raise _PatchFailed  # "Unexpected kind"


def _container(doc: Any, path: Any) -> tuple[Any, str]:
    """``findObject``: the object or list holding the path's last token, and that token."""
    if not isinstance(path, str) or "/" not in path:
        raise _PatchFailed
    *parents, last = [p.replace("~1", "/").replace("~0", "~") for p in path.split("/")[1:]]
    node = doc
    for part in parents:
        node = _get(node, part)
        if not isinstance(node, dict | list):
            raise _PatchFailed
    return node, last


def _index(token: str, highest: int, negative_from: int = 0) -> int:
    """A list index as strconv.Atoi reads it, at most ``highest``; negative ones count from the
    end where json-patch allows them (``SupportNegativeIndices``: add and remove)."""
    if not re.fullmatch(r"[+-]?[0-9]+", token):
        raise _PatchFailed
    index = int(token)
    if index > highest or index < -negative_from:
        raise _PatchFailed
    return index + negative_from if index < 0 else index


def _get(node: Any, key: str) -> Any:
    if isinstance(node, dict):
        return node.get(key)
    return node[_index(key, len(node) - 1)]


def _add(node: Any, key: str, value: Any) -> None:
    if isinstance(node, dict):
        node[key] = value
    elif key == "-":
        node.append(value)
    else:
        node.insert(_index(key, len(node), len(node) + 1), value)


def _remove(node: Any, key: str) -> None:
    if isinstance(node, dict):
        if key not in node:
            raise _PatchFailed  # "Unable to remove nonexistent key"
        del node[key]
    else:
        del node[_index(key, len(node) - 1, len(node))]


def _same_json(a: Any, b: Any, given: bool = True) -> bool:
    """JSON equality as json-patch's ``lazyNode.equal`` (true is not 1; 1 is not 1.0)."""
    if not given or type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same_json(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same_json(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


EVENT_TYPES = ("Normal", "Warning")
EVENT_LIMITS = {"reportingInstance": 128, "action": 128, "reason": 128, "note": 1024}
QUALIFIED_NAME = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
MICRO_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)$", re.ASCII)


EVENT_SCHEMA_VERSION = "1.33"  # the Kubernetes minor whose published schema Events are checked against
_event_validator: list[Any] = []  # [validator or None], built once per process


def _event_schema() -> Any:
    """A Draft 2020-12 validator of the ``events.k8s.io/v1`` Event schema that kubernetes-validate
    ships (strict: no unknown fields), built once; None when that package is not installed."""
    if not _event_validator:
        try:
            import jsonschema
            from kubernetes_validate import utils  # type: ignore[import-untyped]  # ships no type hints
            from referencing import Registry, Resource
        except ImportError:
            _event_validator.append(None)
            return None
        folder = f"kubernetes-json-schema/v{utils.major_minor(EVENT_SCHEMA_VERSION)}.0-local-strict"
        schema = utils.schema_contents(f"{folder}/event-events-v1.json", EVENT_SCHEMA_VERSION)
        definitions = utils.schema_contents(f"{folder}/_definitions.json", EVENT_SCHEMA_VERSION)
        registry = Resource.from_contents(definitions) @ (Resource.from_contents(schema) @ Registry())
        _event_validator.append(jsonschema.Draft202012Validator(schema, registry=registry))
    return _event_validator[0]


def _validate_event(event: dict[str, Any]) -> None:
    """What kube-apiserver checks when an ``events.k8s.io/v1`` Event is created.

    1. The published OpenAPI schema of the kind (the PyPI package kubernetes-validate carries it),
       when that package is installed. Strict: an unknown field is a 422 here, where the real
       apiserver's default (fieldValidation=Warn) drops it with a warning; a typo must not pass.
    2. The rules in code that no schema carries, from ``ValidateEventCreate`` and
       ``legacyValidateEvent`` (kubernetes/kubernetes pkg/apis/core/validation/events.go):
       eventTime required; type Normal or Warning; reportingController required and a qualified
       name; reportingInstance, action and reason required, at most 128 characters; note at most
       1024 bytes (Go's ``len``); the deprecated* fields unset; series.count >= 2 with
       series.lastObservedTime; and a regarding.namespace unless the Event is in default or
       kube-system (Events about cluster-scoped objects). With eventTime set the apiserver does
       not compare regarding.namespace with the Event's own; neither does this.
    """
    name = event["metadata"].get("name", "")
    causes: list[tuple[str, str]] = []
    schema = _event_schema()
    if schema is not None:
        for error in sorted(schema.iter_errors(event), key=lambda e: list(e.absolute_path))[:5]:
            causes.append((".".join(str(p) for p in error.absolute_path), error.message))
    if not MICRO_TIME.match(str(event.get("eventTime") or "")):
        causes.append(("eventTime", "Required value"))
    if event.get("type") not in EVENT_TYPES:
        causes.append(("type", f"Invalid value: has invalid value: {event.get('type')}"))
    controller = str(event.get("reportingController") or "")
    if not controller:
        causes.append(("reportingController", "Required value"))
    elif not QUALIFIED_NAME.match(controller) or len(controller.rsplit("/", 1)[-1]) > 63:
        causes.append(("reportingController", "Invalid value: must be a qualified name"))
    for field, limit in EVENT_LIMITS.items():
        value = str(event.get(field) or "")
        if not value and field != "note":
            causes.append((field, "Required value"))
        if len(value.encode()) > limit:
            causes.append((field, f"Invalid value: can have at most {limit} characters"))
    for field in ("deprecatedFirstTimestamp", "deprecatedLastTimestamp", "deprecatedCount", "deprecatedSource"):
        if event.get(field):
            causes.append((field, "Invalid value: needs to be unset"))
    series = event.get("series")
    if series is not None:
        if int(series.get("count") or 0) < 2:
            causes.append(("series.count", "Invalid value: should be at least 2"))
        if not series.get("lastObservedTime"):
            causes.append(("series.lastObservedTime", "Required value"))
    namespace = event["metadata"].get("namespace")
    regarding_ns = (event.get("regarding") or {}).get("namespace", "")
    if not regarding_ns and namespace not in ("default", "kube-system"):
        causes.append(("regarding.namespace", "Invalid value: does not match event.namespace"))
    if causes:
        field, message = causes[0]
        raise ApiError(
            422,
            "Invalid",
            f'Event.events.k8s.io "{name}" is invalid: {field}: {message}',
            {
                "name": name,
                "group": "events.k8s.io",
                "kind": "Event",
                "causes": [{"reason": "FieldValueInvalid", "field": f, "message": m} for f, m in causes],
            },
        )


# What ``BeforeDelete`` says after each failed precondition (field, its name there, the hint).
_DELETE_PRECONDITIONS = (("uid", "UID", "The object might have been deleted and then recreated"),
                         ("resourceVersion", "ResourceVersion", "The object might have been modified"))
# The group of the type a registry stores where it is not the URL's: events.k8s.io Events are kept
# as core Events (pkg/registry/events/rest/storage_events.go serves the core event storage).
_STORED_GROUP = {"events.k8s.io": ""}


def _check_preconditions(current: dict[str, Any], options: Any, kind: str, group: str) -> None:
    """DeleteOptions.preconditions, checked by apiserver pkg/registry/rest/delete.go
    ``BeforeDelete`` "to fail early", before anything is deleted (the storage checks them again,
    which only a concurrent write can fail): a uid or resourceVersion that is not the stored one
    is ``NewConflict`` on ``GroupResource{Group: gvk.Group, Resource: gvk.Kind}`` of the stored
    object, i.e. the kind where a resource would be (``PipelineRun.tekton.dev``, ``ConfigMap``).
    An empty value sent is compared too (a non-nil pointer); null is no precondition."""
    preconditions = (options.get("preconditions") if isinstance(options, dict) else None) or {}
    metadata = current["metadata"]
    group = _STORED_GROUP.get(group, group)
    for field, label, hint in _DELETE_PRECONDITIONS:
        wanted, have = preconditions.get(field), metadata.get(field, "")
        if wanted is not None and wanted != have:
            raise ApiError(409, "Conflict", f'Operation cannot be fulfilled on {_resource(group, kind)} '
                                            f'"{metadata["name"]}": the {label} in the precondition ({wanted}) '
                                            f"does not match the {label} in record ({have}). {hint}",
                           {"name": metadata["name"], "group": group, "kind": kind})


def _resource(group: str, plural: str) -> str:
    """A GroupResource as Go prints it (``pipelineruns.tekton.dev``, ``configmaps``)."""
    return f"{plural}.{group}" if group else plural


def _target_metadata(new: Any, ns: str, name: str, put: bool) -> dict[str, Any]:
    """The metadata of an update's body (a PUT's, or a patch's result), which must name the
    object of the URL: apiserver pkg/endpoints/handlers/rest.go ``checkName``, called by
    update.go ``UpdateResource`` and patch.go ``applyPatch``; a patch first meets rest
    ``EnsureObjectNamespaceMatchesRequestNamespace`` (the fake's create's message). 400 if not."""
    if not isinstance(new, dict) or not isinstance(new.get("metadata") or {}, dict):
        raise ApiError(400, "BadRequest", "the body of the request was in an unknown format")
    sent: dict[str, Any] = new.get("metadata") or {}
    if sent.get("namespace", ns) != ns:
        raise ApiError(400, "BadRequest", f"the namespace of the object ({sent['namespace']}) does not match the "
                                          f"namespace on the request ({ns})" if put else
                       "the namespace of the provided object does not match the namespace sent on the request")
    if sent.get("name") != name:
        raise ApiError(400, "BadRequest", f"the name of the object ({sent.get('name') or ''}) does not match "
                                          f"the name on the URL ({name})")
    return sent


def _precondition_failed(key: Key, detail: str) -> ApiError:
    """A PUT's uid is a precondition (apiserver pkg/registry/rest/update.go
    ``defaultUpdatedObjectInfo.Preconditions``), checked by the storage (pkg/storage
    ``Preconditions.Check`` → errors.go ``NewInvalidObjError``: "Precondition failed: ...") and
    answered as a conflict (pkg/storage/errors ``InterpretUpdateError``), with the etcd key and
    ``StorageError.Error``'s wording in the message."""
    group, plural, ns, name = key
    prefix = f"/registry/{group}/{plural}" if (group, plural) in CUSTOM else f"/registry/{plural}"
    return ApiError(409, "Conflict", f'Operation cannot be fulfilled on {_resource(group, plural)} "{name}": '
                                     f"StorageError: invalid object, Code: 4, Key: {prefix}/{ns}/{name}, "
                                     f"ResourceVersion: 0, AdditionalErrorMsg: Precondition failed: {detail}",
                    {"name": name, "group": group, "kind": plural})


def _invalid(kind: str, group: str, name: str, field: str, shown: str, detail: str) -> ApiError:
    """apimachinery pkg/api/errors ``NewInvalid`` of one ``field.Invalid`` (``shown``: the value
    as field/errors.go prints it)."""
    cause = f"Invalid value: {shown}: {detail}"
    return ApiError(422, "Invalid", f'{kind}.{group} "{name}" is invalid: {field}: {cause}' if group else
                    f'{kind} "{name}" is invalid: {field}: {cause}',
                    {"name": name, "group": group, "kind": kind,
                     "causes": [{"reason": "FieldValueInvalid", "message": cause, "field": field}]})


def _continue_token(last_name: str, rv: int) -> str:
    """Opaque to clients, as the real one (base64 of the key to resume after and the list's RV)."""
    raw = json.dumps({"v": "fake.k8s.io/v1", "rv": rv, "start": last_name})
    return base64.urlsafe_b64encode(raw.encode()).decode()


def _continue_after(token: str) -> str:
    if not token:
        return ""
    try:
        return str(json.loads(base64.urlsafe_b64decode(token.encode()))["start"])
    except (ValueError, KeyError, TypeError):
        raise ApiError(
            400,
            "BadRequest",
            "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)",
        ) from None


def _limit(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ApiError(400, "BadRequest", f"limit: Invalid value: {text!r}") from None
    return max(value, 0)  # the apiserver treats limit <= 0 as "no limit"


class _SelectorError(Exception):
    pass


Requirement = tuple[str, str, list[str]]  # (operator, key, values)
_SELECTOR_SPECIAL = "=!(),><"
_SELECTOR_TOKENS = {")", ",", "!", "==", "=", ">", "in", "<", "!=", "notin", "("}
_BINARY_OPERATORS = {"in": "in", "notin": "notin", "=": "=", "==": "==", "!=": "!=", ">": "gt", "<": "lt"}
_INT64 = re.compile(r"[+-]?[0-9]+")


def _parse_selector(text: str) -> list[Requirement]:
    """A ``labelSelector`` as kube-apiserver reads it: apimachinery pkg/labels/selector.go
    ``Parse`` (its Lexer, ``Parser.parse``, ``parseRequirement``, ``parseValues``,
    ``parseIdentifiersList``, ``parseExactValue``, ``NewRequirement``), with the same messages.
    A selector it cannot parse is 400 BadRequest with that message (pkg/endpoints/handlers/get.go
    ``ListResource``: ``DecodeParameters`` → ``NewBadRequest``)."""
    try:
        return _SelectorParser(text).parse()
    except _SelectorError as exc:
        raise ApiError(400, "BadRequest", str(exc)) from None


class _SelectorParser:
    def __init__(self, text: str):
        self.items: list[tuple[str, str]] = []  # (token, literal); token "id" or "end" or the symbol
        pos = 0
        while True:
            while pos < len(text) and text[pos] in " \t\r\n":
                pos += 1
            if pos == len(text):
                self.items.append(("end", ""))
                break
            start = pos
            if text[pos] in _SELECTOR_SPECIAL:  # scanSpecialSymbol: the longest symbol read
                token = ""
                while pos < len(text) and text[pos] in _SELECTOR_SPECIAL and text[start:pos + 1] in _SELECTOR_TOKENS:
                    pos += 1
                    token = text[start:pos]
                self.items.append((token, token))
            else:  # scanIDOrKeyword
                while pos < len(text) and text[pos] not in _SELECTOR_SPECIAL and text[pos] not in " \t\r\n":
                    pos += 1
                word = text[start:pos]
                self.items.append((word if word in _SELECTOR_TOKENS else "id", word))
        self.position = 0

    def lookahead(self, values: bool = True) -> tuple[str, str]:
        token, literal = self.items[self.position]
        return ("id" if values and token in ("in", "notin") else token), literal

    def consume(self, values: bool = True) -> tuple[str, str]:
        found = self.lookahead(values)
        self.position += 1
        return found

    def parse(self) -> list[Requirement]:
        requirements: list[Requirement] = []
        while True:
            token, literal = self.lookahead()
            if token == "end":
                return requirements
            if token not in ("id", "!"):
                raise _SelectorError(f"found '{literal}', expected: !, identifier, or 'end of string'")
            try:
                requirements.append(self.requirement())
            except _SelectorError as exc:
                raise _SelectorError(f"unable to parse requirement: {exc}") from None
            token, literal = self.consume()
            if token == "end":
                return requirements
            if token != ",":
                raise _SelectorError(f"found '{literal}', expected: ',' or 'end of string'")
            after, literal = self.lookahead()
            if after not in ("id", "!"):
                raise _SelectorError(f"found '{literal}', expected: identifier after ','")

    def requirement(self) -> Requirement:
        operator = ""
        token, key = self.consume()  # parseKeyAndInferOperator
        if token == "!":
            operator = "!"
            token, key = self.consume()
        if token != "id":
            raise _SelectorError(f"found '{key}', expected: identifier")
        if errors := apilimits.label_key(key):
            raise _SelectorError(f"<nil>: Invalid value: {json.dumps(key)}: {'; '.join(errors)}")
        if self.lookahead()[0] in ("end", ","):
            operator = operator or "exists"
        if operator in ("exists", "!"):
            return operator, key, []
        token, literal = self.consume(values=False)  # parseOperator
        if token not in _BINARY_OPERATORS:
            raise _SelectorError(f"found '{literal}', expected: {', '.join(_BINARY_OPERATORS.values())}")
        operator = _BINARY_OPERATORS[token]
        values = self.value_set() if operator in ("in", "notin") else self.exact_value()
        return operator, key, _checked_values(operator, key, sorted(values))

    def value_set(self) -> set[str]:
        token, literal = self.consume()
        if token != "(":
            raise _SelectorError(f"found '{literal}' expected: '('")
        token, literal = self.lookahead()
        if token == ")":
            self.consume()
            return {""}
        if token not in ("id", ","):
            raise _SelectorError(f"found '{literal}', expected: ',', ')' or identifier")
        values = self.identifiers()
        if self.consume()[0] != ")":
            raise _SelectorError(f"found '{literal}', expected: ')'")  # the literal looked at first, as there
        return values

    def identifiers(self) -> set[str]:
        values: set[str] = set()
        while True:
            token, literal = self.consume()
            if token == "id":
                values.add(literal)
                after, literal = self.lookahead()
                if after == ")":
                    return values
                if after != ",":
                    raise _SelectorError(f"found '{literal}', expected: ',' or ')'")
            elif token == ",":  # "(," ",," and ",)" each hold an empty value
                after = self.lookahead()[0]
                if not values or after in (")", ","):
                    values.add("")
                if after == ")":
                    return values
            else:
                raise _SelectorError(f"found '{literal}', expected: ',', or identifier")

    def exact_value(self) -> set[str]:
        if self.lookahead()[0] in ("end", ","):
            return {""}
        token, literal = self.consume()
        if token != "id":
            raise _SelectorError(f"found '{literal}', expected: identifier")
        return {literal}


def _checked_values(operator: str, key: str, values: list[str]) -> list[str]:
    """``NewRequirement``'s checks of the values (the key was checked when it was read)."""
    errors = []
    for i, value in enumerate(values):
        if operator in ("gt", "lt") and not (_INT64.fullmatch(value) and -2**63 <= int(value) < 2**63):
            errors.append(f"values[{i}]: Invalid value: {json.dumps(value)}: "
                          "for 'Gt', 'Lt' operators, the value must be an integer")
    errors += [f"values[{i}][{key}]: Invalid value: {json.dumps(value)}: {'; '.join(problems)}"
               for i, value in enumerate(values) if (problems := apilimits.label_value(value))]
    if errors:  # an aggregate: one error alone, several as [a, b]
        raise _SelectorError(errors[0] if len(errors) == 1 else f"[{', '.join(errors)}]")
    return values


def _matches(selector: list[Requirement], obj: dict[str, Any]) -> bool:
    """``Requirement.Matches`` of every requirement."""
    labels = (obj.get("metadata") or {}).get("labels") or {}
    for operator, key, values in selector:
        value = labels.get(key)
        if operator in ("in", "=", "=="):
            ok = key in labels and value in values
        elif operator in ("notin", "!="):
            ok = key not in labels or value not in values
        elif operator in ("exists", "!"):
            ok = (key in labels) == (operator == "exists")
        else:  # gt, lt: both sides integers
            number = value if isinstance(value, str) and _INT64.fullmatch(value) else None
            ok = number is not None and (int(number) > int(values[0]) if operator == "gt"
                                         else int(number) < int(values[0]))
        if not ok:
            return False
    return True


def _decode_run_timeouts(spec: dict[str, Any]) -> None:
    """Tekton's defaulting webhook decoding ``spec.timeouts``: each value as Go's ParseDuration reads it."""
    timeouts = spec.get("timeouts")
    for value in (timeouts.values() if isinstance(timeouts, dict) else ()):
        try:
            go_durations.parse_duration(str(value))
        except ValueError as exc:
            raise ApiError(400, "BadRequest", f'admission webhook "{TEKTON_DEFAULTING_WEBHOOK}" denied the request: '
                                              f"mutation failed: cannot decode incoming new object: {exc}") from None


def _validate_run_timeouts(spec: dict[str, Any]) -> None:
    """Tekton's validating webhook on ``spec.timeouts`` (tektoncd/pipeline
    pkg/apis/pipeline/v1/pipelinerun_validation.go, ``validatePipelineTimeout``): ``tasks`` and
    ``finally`` each at most ``pipeline`` and not 0 ("no timeout") while it has one, and their
    sum at most ``pipeline``. Without ``pipeline`` the limit is the cluster's default timeout
    (60 minutes in Tekton's config-defaults)."""
    timeouts = spec.get("timeouts")
    if not isinstance(timeouts, dict):
        return
    seconds = {key: go_durations.parse_duration(str(value)) / 1e9  # decoded already: Go takes each
               for key, value in timeouts.items() if key in ("pipeline", "tasks", "finally")}
    limit = seconds.get("pipeline", 3600.0)
    against = "pipeline duration" if "pipeline" in seconds else "default timeout duration"
    problems = [f"{timeouts[key]} should be <= {against}: spec.timeouts.{key}" for key in ("tasks", "finally")
                if key in seconds and (seconds[key] > limit or (seconds[key] == 0 and limit != 0))]
    if "tasks" in seconds and "finally" in seconds and seconds["tasks"] + seconds["finally"] > limit:
        problems.append(f"{timeouts['tasks']} + {timeouts['finally']} should be <= {against}: "
                        "spec.timeouts.finally, spec.timeouts.tasks")
    if problems:
        raise ApiError(400, "BadRequest", f'admission webhook "{TEKTON_WEBHOOK}" denied the request: '
                                          f"validation failed: invalid value: {'; '.join(problems)}")


# The values Tekton's webhook accepts in a PipelineRun's spec.status (tektoncd/pipeline
# pkg/apis/pipeline/v1/pipelinerun_validation.go ``validateSpecStatus``), in its message's order.
SPEC_STATUSES = ("Cancelled", "CancelledRunFinally", "StoppedRunFinally", PENDING)


def _validate_run_spec_status(run: dict[str, Any]) -> None:
    """Tekton's validating webhook on ``spec.status``, on create and on every update
    (tektoncd/pipeline pkg/apis/pipeline/v1/pipelinerun_validation.go): a value it knows
    (``validateSpecStatus``), and never ``PipelineRunPending`` once the run has a
    ``status.startTime`` (``PipelineRun.Validate``: ``pr.IsPending() && pr.HasStarted()``; docs/
    pipelineruns.md "Pending PipelineRuns": "invalid after the PipelineRun has been started")."""
    value = (run.get("spec") or {}).get("status")
    if not value:
        return
    if value not in SPEC_STATUSES:
        known = f"{', '.join(SPEC_STATUSES[:-1])} or {SPEC_STATUSES[-1]}"
        problem = f"{value} should be {known}"
    elif value == PENDING and (run.get("status") or {}).get("startTime"):
        problem = "PipelineRun cannot be Pending after it is started"
    else:
        return
    raise ApiError(400, "BadRequest", f'admission webhook "{TEKTON_WEBHOOK}" denied the request: '
                                      f"validation failed: invalid value: {problem}: spec.status")


def _validate_run_update(old: dict[str, Any], new: dict[str, Any]) -> None:
    """Tekton's validating webhook on a PipelineRun update (tektoncd/pipeline
    pkg/apis/pipeline/v1/pipelinerun_validation.go, ``PipelineRunSpec.ValidateUpdate``): once the
    run is done (Succeeded True or False) its spec cannot change at all; before that, only
    ``spec.status`` may (start, cancel, stop). 400, as any webhook denial."""
    old_spec, new_spec = old.get("spec") or {}, new.get("spec") or {}
    if old_spec == new_spec:
        return
    done = any(c.get("type") == "Succeeded" and c.get("status") in ("True", "False")
               for c in (old.get("status") or {}).get("conditions") or ())
    if done:
        tips = "Once the PipelineRun is complete, no updates are allowed"
    elif {k: v for k, v in old_spec.items() if k != "status"} != {k: v for k, v in new_spec.items() if k != "status"}:
        tips = "Once the PipelineRun has started, only status updates are allowed"
    else:
        return
    raise ApiError(400, "BadRequest", f'admission webhook "{TEKTON_WEBHOOK}" denied the request: '
                                      f"validation failed: invalid value: {tips}: spec")


def _is_running(run: dict[str, Any]) -> bool:
    status = run.get("status") or {}
    return bool(status.get("startTime")) and not status.get("completionTime")


def _complete(run: dict[str, Any], reason: str) -> None:
    status = run.setdefault("status", {})
    status.setdefault("startTime", _now())
    status["completionTime"] = _now()
    status["conditions"] = [
        {"type": "Succeeded", "status": "True" if reason == "Succeeded" else "False", "reason": reason}
    ]


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


__all__ = ["FakeKubeApi"]
