"""Where run-creator keeps PipelineRuns and its admission ledgers: the ``RunStore`` interface.

Two implementations, chosen by ``store_from_env()``:

- ``KubernetesStore``: ``tekton.dev/v1`` PipelineRuns and one ``coordination.k8s.io/v1`` Lease
  per team holding the admission ledger (annotation ``tekton-dag.dev/admission-ledger``), all
  through ``kubernetes_asyncio`` on the event loop, with retries (``clients.RetryingApi``).
- ``DirectoryStore``: a dry-run directory (``TEKTON_DAG_DRY_RUN_DIR``); each PipelineRun is a
  YAML file you could ``kubectl create -f``, with the same idempotency and the same ledger rules,
  and the same object limits a real API server enforces (``tekton_dag.kube.apilimits``, the
  module the tests' fake API uses): what a cluster would refuse is refused here too.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import threading
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, cast

import yaml

from tekton_dag.kube import apilimits
from tekton_dag.kube.errors import (
    ApiStatusError,
    LedgerConflict,
    PermanentApiError,
    TransientApiError,
)
from tekton_dag.kube.retrying import RetryPolicy
from tekton_dag.pipelineruns import states

if TYPE_CHECKING:
    from tekton_dag.kube.shared import SharedClient

DRY_RUN_DIR_ENV = "TEKTON_DAG_DRY_RUN_DIR"
LEDGER_ANNOTATION = "tekton-dag.dev/admission-ledger"
# On a segment Lease, its content: a sealed part of the queue, or of the heads memory (the name is
# older than heads segments, and stays: queue segments already stored are read by it).
SEGMENT_ANNOTATION = "tekton-dag.dev/admission-queue"
SEGMENT_LABEL = "tekton-dag.dev/admission-ledger"  # on a segment Lease: the head Lease it belongs to
Object = dict[str, Any]


class RunStore(Protocol):
    """PipelineRuns and admission ledgers. Errors: ``TransientApiError`` (retry later),
    ``PermanentApiError`` (give up, say why), ``LedgerConflict`` (re-read the ledger)."""

    async def create_run(self, run: Object) -> bool:
        """Create ``run``; False when a run of that name already exists (idempotent success)."""

    async def get_run(self, namespace: str, name: str) -> Object | None: ...

    async def list_runs(self, namespace: str, labels: Mapping[str, str]) -> list[Object]:
        """Runs whose labels include all of ``labels``."""

    async def patch_run(self, namespace: str, name: str, patch: Object) -> Object | None:
        """JSON merge-patch ``run``; None when it does not exist (any more). A ``status`` in the
        patch is ignored, as the API server ignores it: it is a subresource of the CRD."""

    async def patch_run_status(self, namespace: str, name: str, status: Object) -> Object | None:
        """Merge-patch the run's ``status`` through its status subresource: what Tekton (or the
        Tekton double) writes; the product never does. None when the run does not exist."""

    async def start_run(self, namespace: str, name: str) -> bool:
        """Let a waiting run start (remove ``spec.status: PipelineRunPending``) only if, at that
        moment, it is still waiting: the check and the change are one step. True when the run
        is started now; False when it is gone, cancelled meanwhile (by another replica whose
        ledger write came later) or done."""

    async def cancel_run(self, namespace: str, name: str) -> bool:
        """Ask Tekton to cancel the run: ``spec.status: Cancelled`` while it waits Pending (it has
        run nothing), else ``CancelledRunFinally`` (its ``finally`` cleanup still runs); False
        when it is gone or already done (Tekton refuses any change to a done run)."""

    async def delete_run(self, namespace: str, name: str, uid: str) -> bool:
        """Delete the run if it is still the object ``uid`` names (a precondition: a run deleted
        and re-created under the same name meanwhile is left alone); False when it is gone or
        is another object now. Its TaskRuns and pods go with it (background cascade)."""

    async def read_ledger(self, namespace: str, name: str) -> tuple[str | None, str | None]:
        """The ledger text and its version; (None, None) when there is none yet."""

    async def write_ledger(self, namespace: str, name: str, text: str, version: str | None) -> str:
        """Write the ledger if it is still at ``version`` (None: must not exist yet), else
        raise ``LedgerConflict``; returns the new version."""

    async def read_segment(self, namespace: str, name: str) -> str | None:
        """A ledger segment's text (queue or heads); None when it does not exist."""

    async def create_segment(self, namespace: str, name: str, ledger: str, text: str) -> None:
        """Create segment ``name`` of ledger ``ledger``. Segments never change and are named
        after their content, so one that exists already is the same: success."""

    async def delete_segment(self, namespace: str, name: str) -> None:
        """Delete a segment nothing waits in any more; one already gone is fine."""


def store_from_env(env: Mapping[str, str] | None = None) -> RunStore:
    """``DirectoryStore`` when ``TEKTON_DAG_DRY_RUN_DIR`` is set, else ``KubernetesStore``."""
    env = os.environ if env is None else env
    directory = env.get(DRY_RUN_DIR_ENV)
    if directory:
        return DirectoryStore(Path(directory))
    return KubernetesStore(policy=RetryPolicy.from_env(env))


class KubernetesStore:
    GROUP, VERSION, PLURAL = "tekton.dev", "v1", "pipelineruns"
    LEASE_GROUP, LEASE_VERSION, LEASES = "coordination.k8s.io", "v1", "leases"

    def __init__(self, kubeconfig: str | None = None, policy: RetryPolicy | None = None, holder: str = ""):
        """``kubeconfig``: a kubeconfig file this store connects with (its own client, which
        ``aclose`` closes); by default the process's client (``shared.PROCESS``, configured the
        standard way on first use, closed with the process). The client is imported only on first
        use (or by ``warm_up``): importing it is most of a cold start."""
        self._kubeconfig = kubeconfig
        self._shared: SharedClient | None = None
        self._objects: Any = None
        self._api: Any = None
        self._policy = policy or RetryPolicy.from_env()
        self._holder = holder or os.environ.get("HOSTNAME", "run-creator")

    def warm_up(self) -> None:
        """Import the client now (e.g. in a background thread), not on the first call."""
        from tekton_dag.kube import clients, shared

        if self._shared is None:
            self._shared = shared.SharedClient.for_kubeconfig(self._kubeconfig) if self._kubeconfig else shared.PROCESS
        self._api = self._api or clients.RetryingApi(self._policy)

    async def aclose(self) -> None:
        """Close the client this store made (the process's is the process's to close)."""
        if self._kubeconfig and self._shared is not None:
            await self._shared.aclose()

    def close(self) -> None:
        """``aclose`` from synchronous code: scheduled on the running loop; without one, the
        client's loop has ended, which closed it (``shared.SharedClient``)."""
        with contextlib.suppress(RuntimeError):
            asyncio.get_running_loop().create_task(self.aclose())  # nothing awaits a close

    async def _call(self, what: str, method: str, *args: Any, answer: bool = True, **kwargs: Any) -> Any:
        """``method`` of ``CustomObjectsApi`` with retries; ``answer=False``: the answer is not
        parsed (``clients.unread``), for writes whose caller needs only to know they worked."""
        if self._shared is None or self._api is None:
            await asyncio.to_thread(self.warm_up)  # import the client off the loop, once
        assert self._shared is not None
        try:
            api_client = await self._shared.get()
        except Exception as exc:  # the client's config errors have no common base class
            raise TransientApiError(f"{what}: Kubernetes client not configured: {exc}") from None
        if self._objects is None or self._objects.api_client is not api_client:
            from kubernetes_asyncio.client import CustomObjectsApi

            self._objects = CustomObjectsApi(api_client)
        fn = getattr(self._objects, method)
        if not answer:
            from tekton_dag.kube.clients import unread

            fn = unread(fn)
        return await self._api.call(what, fn, *args, **kwargs)

    async def create_run(self, run: Object) -> bool:
        namespace, name = run["metadata"]["namespace"], run["metadata"]["name"]
        what = f"create PipelineRun {namespace}/{name}"
        try:
            await self._call(what, "create_namespaced_custom_object",
                             self.GROUP, self.VERSION, namespace, self.PLURAL, run, answer=False)
        except ApiStatusError as exc:
            if exc.status == 409:
                return False
            raise exc.permanent(what) from None
        return True

    async def get_run(self, namespace: str, name: str) -> Object | None:
        what = f"get PipelineRun {namespace}/{name}"
        try:
            found = await self._call(what, "get_namespaced_custom_object",
                                     self.GROUP, self.VERSION, namespace, self.PLURAL, name)
            return cast(Object, found)
        except ApiStatusError as exc:
            if exc.status == 404:
                return None
            raise exc.permanent(what) from None

    async def list_runs(self, namespace: str, labels: Mapping[str, str]) -> list[Object]:
        selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
        what = f"list PipelineRuns in {namespace} ({selector})"
        try:
            result = await self._call(what, "list_namespaced_custom_object",
                                          self.GROUP, self.VERSION, namespace, self.PLURAL, label_selector=selector)
        except ApiStatusError as exc:
            raise exc.permanent(what) from None
        return list(result.get("items") or [])

    async def _patch(self, what: str, namespace: str, name: str, patch: Object | list[Object],
                     content_type: str = "application/merge-patch+json", answer: bool = True) -> Any:
        return await self._call(what, "patch_namespaced_custom_object",
                                self.GROUP, self.VERSION, namespace, self.PLURAL, name, patch,
                                _content_type=content_type, answer=answer)

    async def patch_run(self, namespace: str, name: str, patch: Object) -> Object | None:
        return await self._patch_run(f"patch PipelineRun {namespace}/{name}", "patch_namespaced_custom_object",
                                     namespace, name, patch)

    async def patch_run_status(self, namespace: str, name: str, status: Object) -> Object | None:
        return await self._patch_run(f"patch PipelineRun {namespace}/{name} status",
                                     "patch_namespaced_custom_object_status", namespace, name, {"status": status})

    async def _patch_run(self, what: str, method: str, namespace: str, name: str, patch: Object) -> Object | None:
        try:
            return cast(Object, await self._call(what, method, self.GROUP, self.VERSION, namespace, self.PLURAL, name,
                                                 patch, _content_type="application/merge-patch+json"))
        except ApiStatusError as exc:
            if exc.status == 404:
                return None
            raise exc.permanent(what) from None

    # RFC 6902: the API server applies all of a JSON patch or none of it, and answers 422 when a
    # test op fails (k8s.io/apiserver pkg/endpoints/handlers/patch.go, applyJSPatch). A merge
    # patch would start a run that another replica, whose ledger write came later, has just
    # cancelled: its cancel would be undone.
    START_IF_PENDING: ClassVar[list[Object]] = [{"op": "test", "path": "/spec/status", "value": states.PENDING},
                                                {"op": "remove", "path": "/spec/status"}]
    # A run still waiting has run nothing: ``Cancelled`` ends it before any TaskRun or pod. A
    # started one may have deployed the PR's app and intercepts, which only its ``finally``
    # cleanup-run removes, and Tekton schedules no ``finally`` task for ``Cancelled``
    # ("Pending finally tasks are not scheduled"); ``CancelledRunFinally`` cancels the running
    # TaskRuns and still runs ``finally`` (tektoncd/pipeline docs/pipelineruns.md, "Cancelling a
    # PipelineRun", "Gracefully cancelling a PipelineRun"). The test op makes the choice and the
    # change one step, as for the start.
    CANCEL_IF_PENDING: ClassVar[list[Object]] = [{"op": "test", "path": "/spec/status", "value": states.PENDING},
                                                 {"op": "replace", "path": "/spec/status", "value": states.CANCELLED}]
    CANCEL_RUN_FINALLY: ClassVar[Object] = {"spec": {"status": states.CANCELLED_RUN_FINALLY}}

    async def start_run(self, namespace: str, name: str) -> bool:
        what = f"start PipelineRun {namespace}/{name}"
        try:
            await self._patch(what, namespace, name, self.START_IF_PENDING, "application/json-patch+json", answer=False)
        except ApiStatusError as exc:
            if exc.status == 404:
                return False
            if exc.status == 422:
                # No longer waiting. Cancelled meanwhile, or started: by a retry of this very
                # patch whose first answer was lost (the write had landed), or by another replica.
                run = await self.get_run(namespace, name)
                return run is not None and not states.is_pending(run) and not states.is_finished(run)
            raise exc.permanent(what) from None
        return True

    async def cancel_run(self, namespace: str, name: str) -> bool:
        what = f"cancel PipelineRun {namespace}/{name}"
        try:
            await self._patch(what, namespace, name, self.CANCEL_IF_PENDING, "application/json-patch+json",
                              answer=False)
            return True
        except ApiStatusError as exc:
            if exc.status == 404:
                return False
            if exc.status != 422:  # 422: the test failed, the run no longer waits
                raise exc.permanent(what) from None
        try:
            await self._patch(what, namespace, name, self.CANCEL_RUN_FINALLY, answer=False)
        except ApiStatusError as exc:
            if exc.status == 404:
                return False
            if exc.status == 400:
                # Tekton's webhook refuses any change to a done run's spec (pipelinerun_validation.go
                # ValidateUpdate: "Once the PipelineRun is complete, no updates are allowed"); a run
                # that finished between our decision and this patch has nothing left to stop.
                run = await self.get_run(namespace, name)
                if run is None or states.is_done(run):
                    return False
            raise exc.permanent(what) from None
        return True

    async def delete_run(self, namespace: str, name: str, uid: str) -> bool:
        what = f"delete PipelineRun {namespace}/{name}"
        # Background: the API deletes the run at once and the garbage collector its TaskRuns and
        # pods (owner references), as ``kubectl delete`` does; the uid precondition answers 409
        # for a different object of the same name.
        options = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Background",
                   "preconditions": {"uid": uid}}
        try:
            await self._call(what, "delete_namespaced_custom_object",
                             self.GROUP, self.VERSION, namespace, self.PLURAL, name, body=options, answer=False)
        except ApiStatusError as exc:
            if exc.status in (404, 409):
                return False
            raise exc.permanent(what) from None
        return True

    async def read_ledger(self, namespace: str, name: str) -> tuple[str | None, str | None]:
        what = f"get admission Lease {namespace}/{name}"
        try:
            lease = await self._call(what, "get_namespaced_custom_object",
                                         self.LEASE_GROUP, self.LEASE_VERSION, namespace, self.LEASES, name)
        except ApiStatusError as exc:
            if exc.status == 404:
                return None, None
            raise exc.permanent(what) from None
        metadata = lease.get("metadata") or {}
        return (metadata.get("annotations") or {}).get(LEDGER_ANNOTATION), _ledger_version(metadata)

    async def write_ledger(self, namespace: str, name: str, text: str, version: str | None) -> str:
        lease = self._lease(namespace, name, text, version)
        what = f"write admission Lease {namespace}/{name}"
        try:
            if version is None:
                written = await self._call(what, "create_namespaced_custom_object",
                                     self.LEASE_GROUP, self.LEASE_VERSION, namespace, self.LEASES, lease)
            else:
                written = await self._call(what, "replace_namespaced_custom_object",
                                     self.LEASE_GROUP, self.LEASE_VERSION, namespace, self.LEASES, name, lease)
        except ApiStatusError as exc:
            if exc.status == 409:
                raise LedgerConflict(f"{what}: {exc.status}") from None
            raise exc.permanent(what) from None
        if not written:  # a 201 to the PUT, whose body the client drops: the Lease was gone (see _lease)
            raise LedgerConflict(f"{what}: the Lease was gone and was created again")
        return _ledger_version(written["metadata"])

    async def read_segment(self, namespace: str, name: str) -> str | None:
        what = f"get admission ledger segment Lease {namespace}/{name}"
        try:
            lease = await self._call(what, "get_namespaced_custom_object",
                                     self.LEASE_GROUP, self.LEASE_VERSION, namespace, self.LEASES, name)
        except ApiStatusError as exc:
            if exc.status == 404:
                return None
            raise exc.permanent(what) from None
        return cast(str | None, ((lease.get("metadata") or {}).get("annotations") or {}).get(SEGMENT_ANNOTATION))

    async def create_segment(self, namespace: str, name: str, ledger: str, text: str) -> None:
        lease = self._lease(namespace, name, text, None, SEGMENT_ANNOTATION)
        lease["metadata"]["labels"][SEGMENT_LABEL] = ledger
        what = f"create admission ledger segment Lease {namespace}/{name}"
        try:
            await self._call(what, "create_namespaced_custom_object",
                             self.LEASE_GROUP, self.LEASE_VERSION, namespace, self.LEASES, lease, answer=False)
        except ApiStatusError as exc:
            if exc.status != 409:  # AlreadyExists: the same content (the name is its hash)
                raise exc.permanent(what) from None

    async def delete_segment(self, namespace: str, name: str) -> None:
        what = f"delete admission ledger segment Lease {namespace}/{name}"
        try:
            await self._call(what, "delete_namespaced_custom_object",
                             self.LEASE_GROUP, self.LEASE_VERSION, namespace, self.LEASES, name, answer=False)
        except ApiStatusError as exc:
            if exc.status != 404:
                raise exc.permanent(what) from None

    def _lease(self, namespace: str, name: str, text: str, version: str | None,
               annotation: str = LEDGER_ANNOTATION) -> Object:
        metadata: Object = {
            "name": name, "namespace": namespace,
            "labels": {"app.kubernetes.io/managed-by": "tekton-dag"},
            "annotations": {annotation: text},
        }
        if version is not None:
            # A PUT to a Lease nobody holds creates it, whatever resourceVersion it carries (the
            # Lease strategy's AllowCreateOnUpdate; apiserver registry/store.go Update): a write
            # made from a read before someone deleted the ledger would bring the old queue back.
            # A uid in the body is a precondition (rest/update.go defaultUpdatedObjectInfo
            # .Preconditions) that the missing Lease fails: 409, a conflict like any other.
            metadata["resourceVersion"], _, uid = version.partition("/")
            if uid:
                metadata["uid"] = uid
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return {
            "apiVersion": f"{self.LEASE_GROUP}/{self.LEASE_VERSION}", "kind": "Lease",
            "metadata": metadata, "spec": {"holderIdentity": self._holder, "renewTime": now},
        }


def _ledger_version(metadata: Object) -> str:
    """A ledger Lease's version as ``KubernetesStore`` hands it out: ``<resourceVersion>/<uid>``,
    both of which its next write is conditional on (``_lease``)."""
    return f"{metadata.get('resourceVersion')}/{metadata.get('uid') or ''}"


class DirectoryStore:
    """Dry run: ``<dir>/<namespace>/<name>.yaml`` per PipelineRun, ledgers under ``<dir>/.ledgers``.

    run-creator writes it and, under ``tekton-dag dev --simulate-tekton``, the Tekton double in
    another process patches ``status``: every read-modify-write holds a thread lock and an
    ``flock`` on ``<dir>/.lock``, so neither loses the other's change.
    """

    def __init__(self, root: Path):
        self.root = Path(root)
        self._thread_lock = threading.Lock()

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        with self._thread_lock:
            self.root.mkdir(parents=True, exist_ok=True)
            with open(self.root / ".lock", "a") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(handle, fcntl.LOCK_UN)

    def _run_path(self, namespace: str, name: str) -> Path:
        return self.root / namespace / f"{name}.yaml"

    def _ledger_path(self, namespace: str, name: str) -> Path:
        return self.root / ".ledgers" / namespace / f"{name}.json"

    async def create_run(self, run: Object) -> bool:
        namespace, name = run["metadata"]["namespace"], run["metadata"]["name"]
        _check_limits(f"create PipelineRun {namespace}/{name}", "PipelineRun", "tekton.dev", run)
        path = self._run_path(namespace, name)
        with self._lock():
            if path.exists():
                return False
            _write(path, yaml.safe_dump(run, sort_keys=False))
            return True

    async def get_run(self, namespace: str, name: str) -> Object | None:
        path = self._run_path(namespace, name)
        with self._lock():
            return yaml.safe_load(path.read_text()) if path.exists() else None

    async def list_runs(self, namespace: str, labels: Mapping[str, str]) -> list[Object]:
        runs = []
        with self._lock():
            for path in sorted((self.root / namespace).glob("*.yaml")):
                run = yaml.safe_load(path.read_text())
                have = run.get("metadata", {}).get("labels") or {}
                if all(have.get(k) == v for k, v in labels.items()):
                    runs.append(run)
        return runs

    async def patch_run(self, namespace: str, name: str, patch: Object) -> Object | None:
        # As a cluster: the main resource does not write status (the CRD's status subresource).
        return self._patch_run(namespace, name, {k: v for k, v in patch.items() if k != "status"})

    async def patch_run_status(self, namespace: str, name: str, status: Object) -> Object | None:
        return self._patch_run(namespace, name, {"status": status})

    def _patch_run(self, namespace: str, name: str, patch: Object) -> Object | None:
        path = self._run_path(namespace, name)
        with self._lock():
            if not path.exists():
                return None
            run: Object = merge_patch(yaml.safe_load(path.read_text()), patch)
            _check_limits(f"patch PipelineRun {namespace}/{name}", "PipelineRun", "tekton.dev", run)
            _write(path, yaml.safe_dump(run, sort_keys=False))
            return run

    async def start_run(self, namespace: str, name: str) -> bool:
        path = self._run_path(namespace, name)
        with self._lock():
            run = yaml.safe_load(path.read_text()) if path.exists() else None
            if run is None or not states.is_pending(run):
                return False
            del run["spec"]["status"]
            _write(path, yaml.safe_dump(run, sort_keys=False))
            return True

    async def cancel_run(self, namespace: str, name: str) -> bool:
        path = self._run_path(namespace, name)
        with self._lock():
            run = yaml.safe_load(path.read_text()) if path.exists() else None
            if run is None or states.is_done(run):
                return False
            # As KubernetesStore.cancel_run: a waiting run is Cancelled, a started one keeps its finally.
            run.setdefault("spec", {})["status"] = (states.CANCELLED if states.is_pending(run)
                                                    else states.CANCELLED_RUN_FINALLY)
            _write(path, yaml.safe_dump(run, sort_keys=False))
            return True

    async def delete_run(self, namespace: str, name: str, uid: str) -> bool:
        path = self._run_path(namespace, name)
        with self._lock():
            if not path.exists():
                return False
            current = (yaml.safe_load(path.read_text()).get("metadata") or {}).get("uid")
            if uid and current and current != uid:
                return False
            path.unlink()
            return True

    async def read_ledger(self, namespace: str, name: str) -> tuple[str | None, str | None]:
        path = self._ledger_path(namespace, name)
        with self._lock():
            if not path.exists():
                return None, None
            stored = json.loads(path.read_text())
        return stored["ledger"], str(stored["version"])

    async def write_ledger(self, namespace: str, name: str, text: str, version: str | None) -> str:
        # The cluster keeps the ledger in a Lease's annotation: the same limits apply to it here.
        lease = {"metadata": {"name": name, "namespace": namespace, "annotations": {LEDGER_ANNOTATION: text}}}
        _check_limits(f"write admission Lease {namespace}/{name}", "Lease", "coordination.k8s.io", lease)
        path = self._ledger_path(namespace, name)
        with self._lock():
            current = str(json.loads(path.read_text())["version"]) if path.exists() else None
            if current != version:
                raise LedgerConflict(f"ledger {namespace}/{name} is at version {current}, not {version}")
            new_version = int(version or 0) + 1
            _write(path, json.dumps({"version": new_version, "ledger": text}))
        return str(new_version)


    def _segment_path(self, namespace: str, name: str) -> Path:
        return self.root / ".ledgers" / namespace / "segments" / f"{name}.json"

    async def read_segment(self, namespace: str, name: str) -> str | None:
        path = self._segment_path(namespace, name)
        with self._lock():
            return path.read_text() if path.exists() else None

    async def create_segment(self, namespace: str, name: str, ledger: str, text: str) -> None:
        lease = {"metadata": {"name": name, "namespace": namespace, "labels": {SEGMENT_LABEL: ledger},
                              "annotations": {SEGMENT_ANNOTATION: text}}}
        _check_limits(f"create admission ledger segment Lease {namespace}/{name}", "Lease", "coordination.k8s.io",
                      lease)
        path = self._segment_path(namespace, name)
        with self._lock():
            if not path.exists():
                _write(path, text)

    async def delete_segment(self, namespace: str, name: str) -> None:
        with self._lock():
            self._segment_path(namespace, name).unlink(missing_ok=True)


def _check_limits(what: str, kind: str, group: str, obj: Object) -> None:
    """Refuse ``obj`` as the API server would, with the error ``KubernetesStore`` would raise."""
    try:
        apilimits.check_object(kind, group, obj)
    except apilimits.Refused as refused:
        if refused.code >= 500:  # KubernetesStore retries these until its deadline, then gives up so
            raise TransientApiError(f"{what}: API answered {refused.code}: {refused.message}") from None
        raise PermanentApiError(refused.code, f"{what}: {refused.message}") from None


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: ``None`` deletes a key, mappings merge, the rest replaces.

    The fake Kubernetes API (``tekton_dag.testing.kube_api._merged``) has its own copy on purpose:
    a test double must not share the code it checks."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


__all__ = ["DRY_RUN_DIR_ENV", "DirectoryStore", "KubernetesStore", "PermanentApiError", "RunStore", "store_from_env"]
