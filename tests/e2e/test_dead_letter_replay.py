"""Dead letters end to end: run-creator cannot reach the API, the Broker gives up and writes the
dead letter; `tekton-dag dead-letters replay` sends it through the normal chain once the API is
back -- a PipelineRun appears; replaying it again creates nothing new."""

from __future__ import annotations

import json

import pytest

from support.e2e import eventually, run_cli, running_chain, send
from tekton_dag.events import catalog
from tekton_dag.testing.kube_api import FakeKubeApi

pytestmark = pytest.mark.slow


async def test_a_dead_letter_replayed_makes_the_run_and_a_second_replay_makes_nothing(
        tmp_path, kube_api: FakeKubeApi, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEKTON_DAG_KUBE_DEADLINE_SECONDS", "0.3")  # run-creator gives up on the API quickly
    kube_api.fail(503, times=10_000, plural="pipelineruns")
    async with running_chain(tmp_path, kube_api, retry=1, backoffDelay="PT0.05S") as (chain, _):
        file = chain.broker.dead_letter_file
        await send(chain, "pull_request.opened", "--number", "9", "--delivery", "dl-e2e-9")
        await eventually(lambda: chain.broker.stats["dead_lettered"] == 1, what="one dead letter")
        assert kube_api.objects("pipelineruns") == []

        code, out, err = await run_cli("dead-letters", "list", "--local", str(file), "-o", "json")
        assert code == 0, err
        [letter] = json.loads(out)
        assert letter["eventType"] == catalog.RUN_REQUESTED and letter["state"] == "new"

        kube_api.clear_faults()
        code, out, err = await run_cli("dead-letters", "replay", "--all", "--local", str(file),
                                       "--broker", chain.broker_url)
        assert code == 0, out + err
        assert f"{letter['name']}: replayed" in out
        await eventually(lambda: len(kube_api.objects("pipelineruns")) == 1, what="the replayed run")
        (run,) = kube_api.objects("pipelineruns")

        delivered = chain.broker.stats["delivered"]
        code, out, err = await run_cli("dead-letters", "replay", letter["name"], "--local", str(file),
                                       "--broker", chain.broker_url)
        assert code == 0 and "replayed (again)" in out, out + err
        await eventually(lambda: chain.broker.stats["delivered"] > delivered and chain.broker.in_flight == 0,
                         what="the second replay delivered")
        assert [r["metadata"]["uid"] for r in kube_api.objects("pipelineruns")] == [run["metadata"]["uid"]]
        assert chain.broker.stats["dead_lettered"] == 1  # the replays did not fail again

        code, out, err = await run_cli("dead-letters", "list", "--local", str(file), "-o", "json")
        assert json.loads(out) == []  # replayed: listed only with --all
        code, out, err = await run_cli("dead-letters", "replay", "--all", "--local", str(file),
                                       "--broker", chain.broker_url)
        assert out.strip() == "nothing to replay"
