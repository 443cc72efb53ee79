"""What authentication and RBAC cost the fake Kubernetes API per request (issue 13: ≤ 0.2 ms CPU).

Calls the fake's request handler in this process (no sockets, so the difference is the check
alone) for the requests run-creator makes most (get, patch and list of PipelineRuns, get and update
of its Lease), as its ServiceAccount against the Helm chart's RBAC, and again with the check off;
prints the CPU per request of each and of the authorizer's lookup by itself.

    .venv/bin/python bench/kube_api_rbac.py [--requests 20000]
"""

from __future__ import annotations

import argparse
import json
import time

from tekton_dag.testing import rbac
from tekton_dag.testing.kube_api import FakeKubeApi

NS = "tekton-dag-default"
RUNS = f"/apis/tekton.dev/v1/namespaces/{NS}/pipelineruns"
LEASES = f"/apis/coordination.k8s.io/v1/namespaces/{NS}/leases"


def handler_cpu(enforce: bool, count: int) -> float:
    """CPU ms per request through FakeKubeApi.handle, RBAC on or off."""
    with FakeKubeApi(enforce_rbac=enforce) as api:
        token = api.tokens.for_service_account(NS, "tekton-dag-run-creator") if enforce else ""
        auth = f"Bearer {token}" if enforce else None
        run = {"apiVersion": "tekton.dev/v1", "kind": "PipelineRun", "metadata": {"name": "r1", "labels": {"a": "b"}},
               "spec": {"pipelineRef": {"name": "p"}, "status": "PipelineRunPending"}}
        api.handle("POST", RUNS, {}, run, "application/json", None, auth)
        lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "l1"}, "spec": {}}
        api.handle("POST", LEASES, {}, lease, "application/json", None, auth)
        calls = [
            ("GET", f"{RUNS}/r1", {}, None, ""),
            ("PATCH", f"{RUNS}/r1", {}, {"metadata": {"labels": {"a": "c"}}}, "application/merge-patch+json"),
            ("GET", RUNS, {"labelSelector": ["a=c"]}, None, ""),
            ("GET", f"{LEASES}/l1", {}, None, ""),
        ]
        for method, path, query, body, content_type in calls * 100:  # warm: compiled rules, caches
            api.handle(method, path, query, json.loads(json.dumps(body)), content_type, None, auth)
        bodies = [json.loads(json.dumps(c[3])) for c in calls]
        started = time.process_time()
        for i in range(count):
            method, path, query, _, content_type = calls[i % len(calls)]
            api.handle(method, path, query, bodies[i % len(calls)], content_type, None, auth)
        return (time.process_time() - started) * 1000 / count


def authorizer_cpu(count: int) -> float:
    authorizer = rbac.Authorizer(rbac.chart_documents())
    user = rbac.service_account_user(NS, "tekton-dag-run-creator")
    request = rbac.Request("patch", NS, "tekton.dev", "pipelineruns", name="r1")
    authorizer.authorize(user, request)
    started = time.process_time()
    for _ in range(count):
        authorizer.authorize(user, request)
    return (time.process_time() - started) * 1000 / count


def main(count: int) -> None:
    lookup = authorizer_cpu(count * 5)
    off = min(handler_cpu(False, count) for _ in range(3))
    on = min(handler_cpu(True, count) for _ in range(3))
    print(f"authorizer lookup alone:        {lookup * 1000:.2f} µs CPU per request")
    print(f"fake API handler, RBAC off:     {off * 1000:.1f} µs CPU per request")
    print(f"fake API handler, RBAC on:      {on * 1000:.1f} µs CPU per request")
    print(f"added by authentication + RBAC: {(on - off) * 1000:.1f} µs CPU per request (budget 200 µs)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    main(parser.parse_args().requests)
