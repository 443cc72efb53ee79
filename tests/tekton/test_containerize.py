"""Behaviour of tasks/scripts/containerize.sh against a fake kubectl with a virtual clock."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tekton_dag.testing.task_scripts import FakeCluster, run_containerize, write_plan

pytestmark = pytest.mark.skipif(
    shutil.which("jq") is None, reason="jq is needed by containerize.sh (the task image ships it)"
)


def apps(n: int) -> list[str]:
    return [f"svc-{i:02d}" for i in range(n)]


@pytest.fixture
def cluster(tmp_path: Path) -> FakeCluster:
    return FakeCluster(tmp_path)


def test_sliding_window_never_exceeds_the_limit_and_fills_freed_slots(cluster, tmp_path):
    names = apps(9)
    durations = [9, 1, 1, 1, 1, 1, 1, 1, 1]
    cluster.scenario({a: {"duration": d} for a, d in zip(names, durations, strict=True)})
    write_plan(tmp_path / "ws", names)
    result = run_containerize(cluster, tmp_path / "ws", max_parallel=3, poll=1)
    assert result.returncode == 0, result.stderr
    assert result.max_existing() == 3
    # Static batches of 3 would take 9 + 1 + 1 = 11; the window runs the eight short builds beside the long one.
    assert result.makespan <= 9 + 1
    built = (result.workspace / ".tekton-dag/built-images.txt").read_text().splitlines()
    assert sorted(built) == [f"registry.test:5000/{a}:t1" for a in names]
    assert built[-1] == "registry.test:5000/svc-00:t1"  # the long build finishes last


def test_makespan_close_to_optimal_for_mixed_durations(cluster, tmp_path):
    names = apps(10)
    durations = [8, 7, 6, 5, 4, 4, 3, 2, 2, 1]  # longest first, as the plan orders them
    cluster.scenario({a: {"duration": d} for a, d in zip(names, durations, strict=True)})
    write_plan(tmp_path / "ws", names)
    result = run_containerize(cluster, tmp_path / "ws", max_parallel=4, poll=0.5)
    assert result.returncode == 0, result.stderr
    bound = max(max(durations), sum(durations) / 4)
    assert result.makespan <= 1.15 * bound
    assert result.max_existing() <= 4


def test_limit_one_builds_sequentially(cluster, tmp_path):
    names = apps(3)
    cluster.scenario({a: {"duration": 2} for a in names})
    write_plan(tmp_path / "ws", names)
    result = run_containerize(cluster, tmp_path / "ws", max_parallel=1, poll=1)
    assert result.returncode == 0, result.stderr
    assert result.max_existing() == 1
    assert 6 <= result.makespan <= 6 + 3 * 1


def test_failed_build_names_the_app_shows_its_log_tail_and_stops_the_rest(cluster, tmp_path):
    names = apps(6)
    log = "\n".join(f"step {i}" for i in range(100)) + "\nerror: COPY failed: no such file package.json"
    cluster.scenario({**{a: {"duration": 5} for a in names},
                      "svc-01": {"duration": 2, "fail": True, "log": log}})
    write_plan(tmp_path / "ws", names)
    result = run_containerize(cluster, tmp_path / "ws", max_parallel=3, poll=0.5)
    assert result.returncode == 1
    assert "build of app 'svc-01' failed" in result.stderr
    assert "COPY failed: no such file package.json" in result.stderr
    assert "step 99" in result.stderr and "step 10\n" not in result.stderr  # a tail, not the whole log
    assert (tmp_path / "ws/.tekton-dag/logs/svc-01.log").read_text().startswith("step 0")
    created = [op["pod"] for op in result.ops if op["op"] == "create"]
    assert len(created) == 3  # nothing new starts after a failure
    assert all(p["deleted_ms"] is not None for p in cluster.pods().values())


def test_logs_are_collected_before_every_delete(cluster, tmp_path):
    names = apps(4)
    cluster.scenario({a: {"duration": 1 + i} for i, a in enumerate(names)})
    write_plan(tmp_path / "ws", names)
    result = run_containerize(cluster, tmp_path / "ws", max_parallel=2, poll=1)
    assert result.returncode == 0, result.stderr
    for pod in cluster.pods():
        ops = result.ops_for(pod)
        assert ops.index("logs") < ops.index("delete"), (pod, ops)
    for app in names:
        assert "pushed" in (tmp_path / f"ws/.tekton-dag/logs/{app}.log").read_text()


def test_stuck_pending_pod_times_out(cluster, tmp_path):
    names = apps(3)
    cluster.scenario({"svc-00": {"duration": 1}, "svc-01": {"stuck": True}, "svc-02": {"duration": 1}})
    write_plan(tmp_path / "ws", names)
    result = run_containerize(cluster, tmp_path / "ws", max_parallel=3, poll=2.5, pending_timeout=10)
    assert result.returncode == 1
    assert "build of app 'svc-01' failed" in result.stderr
    assert "still Pending after 10s" in result.stderr and "ImagePullBackOff" in result.stderr
    assert 10 <= result.makespan <= 12.5


def test_active_deadline_failure_is_reported(cluster, tmp_path):
    cluster.scenario({"svc-00": {"duration": 50}})
    write_plan(tmp_path / "ws", ["svc-00"])
    result = run_containerize(cluster, tmp_path / "ws", max_parallel=2, poll=5,
                              extra_env={"BUILD_DEADLINE_SECONDS": "20"})
    assert result.returncode == 1
    assert "DeadlineExceeded" in result.stderr and "svc-00" in result.stderr


def test_build_pods_are_owned_labelled_bounded_and_pinned(cluster, tmp_path):
    write_plan(tmp_path / "ws", ["svc-00"])
    result = run_containerize(cluster, tmp_path / "ws", max_parallel=5,
                              extra_env={"CACHE_REPO": "registry.test:5000/cache", "REGISTRY_SECRET": "push-creds"})
    assert result.returncode == 0, result.stderr
    (pod,) = [p["manifest"] for p in cluster.pods().values()]
    meta, spec = pod["metadata"], pod["spec"]
    assert meta["ownerReferences"] == [{"apiVersion": "v1", "kind": "Pod", "name": "stack-pr-7-abcde-containerize-pod",
                                        "uid": "0b9d3c1e-1111-2222-3333-444455556666",
                                        "controller": False, "blockOwnerDeletion": False}]
    assert meta["labels"]["tekton-dag.dev/run"] == "stack-pr-7-abcde"
    assert spec["activeDeadlineSeconds"] > 0 and spec["restartPolicy"] == "Never" and spec["nodeName"] == "node-1"
    container = spec["containers"][0]
    assert container["image"].startswith("ghcr.io/osscontainertools/kaniko:v")
    assert container["resources"]["requests"] == {"cpu": "500m", "memory": "1Gi"}
    assert "--destination=registry.test:5000/svc-00:t1" in container["args"]
    assert "--cache-repo=registry.test:5000/cache" in container["args"]
    assert spec["volumes"][0]["persistentVolumeClaim"] == {"claimName": "pvc-abc123", "readOnly": True}
    assert spec["volumes"][1]["secret"]["secretName"] == "push-creds"


def test_build_pods_get_no_token_and_mount_only_the_source_and_the_registry_secret(cluster, tmp_path):
    """Kaniko runs the Dockerfile (PR code): no ServiceAccount token, no Secret but the registry's."""
    write_plan(tmp_path / "ws", ["svc-00"])
    result = run_containerize(cluster, tmp_path / "ws", max_parallel=5, extra_env={"REGISTRY_SECRET": "push-creds"})
    assert result.returncode == 0, result.stderr
    (pod,) = [p["manifest"] for p in cluster.pods().values()]
    spec = pod["spec"]
    assert spec["automountServiceAccountToken"] is False and spec["enableServiceLinks"] is False
    assert [sorted(set(v) - {"name"}) for v in spec["volumes"]] == [["persistentVolumeClaim"], ["secret"]]
    assert [v["secret"]["secretName"] for v in spec["volumes"] if "secret" in v] == ["push-creds"]
    assert all("envFrom" not in c and "valueFrom" not in str(c.get("env")) for c in spec["containers"])


def test_cleanup_only_touches_this_runs_pods(cluster, tmp_path):
    other = {"manifest": {"metadata": {"name": "x-build", "labels": {"tekton-dag.dev/run": "another-run",
             "tekton-dag.dev/component": "image-build"}}, "spec": {}}, "created_ms": 0, "deleted_ms": None}
    (cluster.state / "pods.json").write_text(__import__("json").dumps({"x-build": other}))
    cluster.scenario({"svc-00": {"fail": True}})
    write_plan(tmp_path / "ws", ["svc-00"])
    result = run_containerize(cluster, tmp_path / "ws", max_parallel=2)
    assert result.returncode == 1
    assert cluster.pods()["x-build"]["deleted_ms"] is None


def test_missing_dockerfile_fails_before_any_build(cluster, tmp_path):
    write_plan(tmp_path / "ws", ["svc-00", "svc-01"], dockerfiles=False)
    result = run_containerize(cluster, tmp_path / "ws", max_parallel=2)
    assert result.returncode == 1
    assert "no Dockerfile for: svc-00(apps/svc-00/Dockerfile) svc-01" in result.stderr
    assert not [op for op in result.ops if op["op"] == "create"]


@pytest.mark.parametrize("value", ["0", "-1", "five", "2x"])
def test_invalid_limit_is_rejected(cluster, tmp_path, value):
    write_plan(tmp_path / "ws", ["svc-00"])
    result = run_containerize(cluster, tmp_path / "ws", max_parallel=1, extra_env={"MAX_PARALLEL_BUILDS": value})
    assert result.returncode == 1 and "max-parallel-builds must be a positive integer" in result.stderr


def test_observed_durations_are_recorded_for_the_next_plan(cluster, tmp_path):
    names = apps(2)
    cluster.scenario({"svc-00": {"duration": 3}, "svc-01": {"duration": 7}})
    write_plan(tmp_path / "ws", names)
    history = tmp_path / "cache/.tekton-dag/build-seconds.tsv"
    result = run_containerize(cluster, tmp_path / "ws", max_parallel=2, extra_env={"BUILD_HISTORY": str(history)})
    assert result.returncode == 0, result.stderr
    seconds = dict(line.split("\t") for line in history.read_text().splitlines())
    assert 3 <= int(seconds["svc-00"]) <= 4 and 7 <= int(seconds["svc-01"]) <= 8


def test_a_leftover_pod_of_an_earlier_attempt_is_replaced(cluster, tmp_path):
    import json
    leftover = {
        "manifest": {
            "metadata": {
                "name": "svc-00-build-5cbadaa7",
                "labels": {
                    "tekton-dag.dev/run": "stack-pr-7-abcde",
                    "tekton-dag.dev/component": "image-build",
                    "tekton-dag.dev/app": "svc-00",
                },
            },
            "spec": {},
        },
        "created_ms": 0,
        "deleted_ms": None,
    }
    (cluster.state / "pods.json").write_text(json.dumps({"svc-00-build-5cbadaa7": leftover}))
    write_plan(tmp_path / "ws", ["svc-00"])
    result = run_containerize(cluster, tmp_path / "ws", max_parallel=1)
    assert result.returncode == 0, result.stderr
    assert [op["op"] for op in result.ops if op.get("pod") == "svc-00-build-5cbadaa7"][:2] == ["delete", "create"]
