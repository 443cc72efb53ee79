"""The store is chosen by env; the dry-run directory store keeps the same rules as Kubernetes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from runcreator.conftest import FAST, NAMESPACE, pr_request
from tekton_dag.config.models import Config
from tekton_dag.kube.errors import LedgerConflict
from tekton_dag.kube.stores import DirectoryStore, KubernetesStore, RunStore, store_from_env
from tekton_dag.pipelineruns import build_pipelinerun
from tekton_dag.testing.kube_api import FakeKubeApi
from tekton_dag.usecases.creating import RunCreator, read_ledger


def test_the_dry_run_env_var_selects_the_directory_store(tmp_path: Path) -> None:
    assert isinstance(store_from_env({"TEKTON_DAG_DRY_RUN_DIR": str(tmp_path)}), DirectoryStore)
    assert isinstance(store_from_env({}), KubernetesStore)


async def test_dry_run_writes_kubectl_ready_yaml_once_per_request(tmp_path: Path, config: Config) -> None:
    rc = RunCreator(lambda: config, DirectoryStore(tmp_path))
    outcomes = [await rc.request(pr_request(number=n, delivery=f"d{n}")) for n in (1, 1, 2, 3, 4)]
    assert [o.kind for o in outcomes] == ["created", "created", "created", "created", "queued"]
    files = sorted((tmp_path / NAMESPACE).glob("*.yaml"))
    assert len(files) == 4
    pending = yaml.safe_load((tmp_path / NAMESPACE / f"{outcomes[4].name}.yaml").read_text())
    assert pending["kind"] == "PipelineRun" and pending["spec"]["status"] == "PipelineRunPending"


async def test_directory_ledgers_refuse_stale_versions(tmp_path: Path) -> None:
    store = DirectoryStore(tmp_path)
    await store.write_ledger("ns", "l", "{}", None)
    _, version = await store.read_ledger("ns", "l")
    await store.write_ledger("ns", "l", '{"nextSeq":1}', version)
    with pytest.raises(LedgerConflict):
        await store.write_ledger("ns", "l", '{"nextSeq":2}', version)


async def test_directory_segments_are_created_once_read_and_deleted(tmp_path: Path) -> None:
    store = DirectoryStore(tmp_path)
    assert await store.read_segment("ns", "l-q1") is None
    await store.create_segment("ns", "l-q1", "l", '{"priority":1,"entries":{}}')
    await store.create_segment("ns", "l-q1", "l", '{"priority":1,"entries":{}}')  # the same content: fine
    assert await store.read_segment("ns", "l-q1") == '{"priority":1,"entries":{}}'
    await store.delete_segment("ns", "l-q1")
    await store.delete_segment("ns", "l-q1")  # gone already: fine
    assert await store.read_segment("ns", "l-q1") is None


async def test_a_dry_run_queue_longer_than_the_head_holds_keeps_its_order(tmp_path: Path, config: Config) -> None:
    rc = RunCreator(lambda: config, DirectoryStore(tmp_path))
    outcomes = [await rc.request(pr_request(number=n, delivery=f"d{n}")) for n in range(1, 1 + 3 + 100)]
    assert [o.position for o in outcomes[3:]] == list(range(1, 101))
    segments = tmp_path / ".ledgers" / NAMESPACE / "segments"
    assert len(list(segments.glob("*-q*.json"))) == 1  # 64 sealed
    assert len(list(segments.glob("*-h*.json"))) == 3  # the heads of 3 x 33 pull requests sealed
    again = RunCreator(lambda: config, DirectoryStore(tmp_path))  # another replica reads it all
    assert (await again._read(config.team("default")))[0].queue() == [o.name for o in outcomes[3:]]


class StaleFirstRead(DirectoryStore):
    """Answers the first ledger read with an older head that lists a segment deleted since."""

    def __init__(self, root: Path, stale: tuple[str, str]):
        super().__init__(root)
        self.stale: tuple[str, str] | None = stale

    async def read_ledger(self, namespace: str, name: str) -> tuple[str | None, str | None]:
        if self.stale is not None:
            stale, self.stale = self.stale, None
            return stale
        return await super().read_ledger(namespace, name)


async def test_a_segment_drained_and_deleted_since_the_head_was_read_means_read_the_head_again(
    tmp_path: Path, config: Config, caplog: pytest.LogCaptureFixture
) -> None:
    team = config.team("default")
    rc = RunCreator(lambda: config, DirectoryStore(tmp_path))
    for n in range(1, 1 + 3 + 70):
        await rc.request(pr_request(number=n, delivery=f"d{n}"))
    old_head = json.dumps({"entries": {}, "nextSeq": 1, "segments": ["q000000000000"]})
    store = StaleFirstRead(tmp_path, (old_head, "0"))
    ledger, _ = await read_ledger(store, team)
    assert ledger.queued_count == 70 and "missing" not in caplog.text


def pending_run(config: Config, name: str) -> dict:
    team = config.team("default")
    run = build_pipelinerun(pr_request(), team, team.stack("stack-one"))
    run["metadata"]["name"] = name
    run["spec"]["status"] = "PipelineRunPending"
    return run


@pytest.fixture(params=["kubernetes", "directory"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> RunStore:
    if request.param == "kubernetes":
        request.getfixturevalue("kube_api")
        return KubernetesStore(policy=FAST)
    return DirectoryStore(tmp_path)


async def test_a_run_starts_only_while_it_waits_and_a_cancel_is_never_undone(
    any_store: RunStore, config: Config
) -> None:
    await any_store.create_run(pending_run(config, "r1"))
    assert await any_store.cancel_run(NAMESPACE, "r1")
    assert not await any_store.start_run(NAMESPACE, "r1")  # a late start from an older ledger view
    assert (await any_store.get_run(NAMESPACE, "r1"))["spec"]["status"] == "Cancelled"
    await any_store.create_run(pending_run(config, "r2"))
    assert await any_store.start_run(NAMESPACE, "r2")
    assert "status" not in (await any_store.get_run(NAMESPACE, "r2"))["spec"]
    assert not await any_store.start_run(NAMESPACE, "gone") and not await any_store.cancel_run(NAMESPACE, "gone")


async def test_a_runs_status_is_written_only_through_its_status_subresource(
    any_store: RunStore, config: Config
) -> None:
    """Both stores as a cluster does (the CRD's status subresource): ``patch_run`` leaves status
    alone, ``patch_run_status`` (Tekton's write) changes status only. The pending run is not
    started by the fake's instant Tekton, so the status is only what this test writes."""
    await any_store.create_run(pending_run(config, "r1"))
    done = {"conditions": [{"type": "Succeeded", "status": "True", "reason": "Succeeded"}]}
    patched = await any_store.patch_run(NAMESPACE, "r1", {"status": done, "metadata": {"labels": {"a": "b"}}})
    assert patched is not None and "conditions" not in (patched.get("status") or {})
    assert patched["metadata"]["labels"]["a"] == "b"
    written = await any_store.patch_run_status(NAMESPACE, "r1", done)
    assert written is not None and written["status"]["conditions"] == done["conditions"]
    assert (await any_store.get_run(NAMESPACE, "r1"))["status"]["conditions"] == done["conditions"]
    assert await any_store.patch_run_status(NAMESPACE, "gone", done) is None


async def test_cancelling_a_run_that_is_already_done_is_not_an_error(
    kube_api: FakeKubeApi, config: Config
) -> None:
    """Tekton's webhook refuses any change to a done run (400); that run has nothing left to stop."""
    store = KubernetesStore(policy=FAST)
    await store.create_run(pending_run(config, "r1"))
    assert await store.start_run(NAMESPACE, "r1")
    kube_api.finish(NAMESPACE, "r1")
    assert not await store.cancel_run(NAMESPACE, "r1")
    assert "status" not in (await store.get_run(NAMESPACE, "r1"))["spec"]
    store.close()


async def test_a_ledger_deleted_by_hand_is_not_brought_back_by_a_write_from_before(
    any_store: RunStore, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """kube-apiserver creates a Lease that a PUT names and nobody holds (the Lease strategy's
    ``AllowCreateOnUpdate``), whatever ``resourceVersion`` the PUT carries: a write made from a read
    before someone deleted the ledger would bring the old queue back (and the client, given a 201,
    returned no body). The read's uid, sent as a precondition, makes that write a conflict."""
    await any_store.write_ledger(NAMESPACE, "l", '{"nextSeq":1}', None)
    _, version = await any_store.read_ledger(NAMESPACE, "l")
    if isinstance(any_store, KubernetesStore):
        kube_api: FakeKubeApi = request.getfixturevalue("kube_api")
        token = kube_api.kubeconfig_dict()["users"][0]["user"]["token"]
        kube_api.handle("DELETE", f"/apis/coordination.k8s.io/v1/namespaces/{NAMESPACE}/leases/l", {}, None, "",
                        authorization=f"Bearer {token}")
    else:
        (tmp_path / ".ledgers" / NAMESPACE / "l.json").unlink()
    with pytest.raises(LedgerConflict):
        await any_store.write_ledger(NAMESPACE, "l", '{"nextSeq":2}', version)
    assert await any_store.read_ledger(NAMESPACE, "l") == (None, None)
