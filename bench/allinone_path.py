"""Where one webhook's wall time goes in the all-in-one, stage by stage, until its PipelineRun exists.

    .venv/bin/python bench/allinone_path.py [--webhooks 300] [--gap 0.02]

The all-in-one (``functions.all_in_one``, journal on) runs in this process as in
``allinone_cpu.py`` (no HTTP server: its cost is in ``compare_upstream.py``'s figures, not here);
the fake Kubernetes API runs in its own process. Webhooks go one at a time, ``--gap`` seconds
apart, each waiting until the bus is idle, so no webhook waits for another's work: this is the
path's floor. Wrappers note the time (``perf_counter``, CLOCK_MONOTONIC, which the fake API's
"stored" time shares) as each stage begins or ends; printed are the medians from the POST. The
wrappers are the only change to the code measured (a few µs each).

``compare_upstream.py`` times the earlier system's whole path (HTTP server, Flask, its one API
call) the same way to "stored"; the API call's part is the same fake API for both.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import inspect
import os
import statistics
import subprocess
import time
from collections.abc import Callable
from typing import Any

from allinone_cpu import deliveries, post, run, start_fake_api, started, stopped

marks: list[tuple[str, float]] = []


def noted(function: Callable[..., Any], begins: str, ends: str = "") -> Callable[..., Any]:
    """``function`` (a coroutine function or not), noting when each call begins and ends."""
    if inspect.iscoroutinefunction(function):
        @functools.wraps(function)
        async def waited(*args: Any, **kwargs: Any) -> Any:
            marks.append((begins, time.perf_counter()))
            try:
                return await function(*args, **kwargs)
            finally:
                if ends:
                    marks.append((ends, time.perf_counter()))
        return waited

    @functools.wraps(function)
    def called(*args: Any, **kwargs: Any) -> Any:
        marks.append((begins, time.perf_counter()))
        try:
            return function(*args, **kwargs)
        finally:
            if ends:
                marks.append((ends, time.perf_counter()))
    return called


def instrument() -> None:
    from tekton_dag.bus import broker, inprocess, journal
    from tekton_dag.functions import resolver, run_creator
    from tekton_dag.kube import stores
    from tekton_dag.webhooks import intake

    intake.receive = noted(intake.receive, "webhook-ingest: intake (HMAC, parse, checks) begins",
                           "webhook-ingest: intake ends")
    broker.LocalBroker.ingest = noted(broker.LocalBroker.ingest, "Broker ingress begins (after the seal)",
                                      "Broker ingress ends (accepted)")
    journal.Journal._commit = noted(journal.Journal._commit, "journal commit begins", "journal commit ends")
    inprocess.transported = noted(inprocess.transported, "a delivery begins")
    resolver.Resolver.handle = noted(resolver.Resolver.handle, "resolver begins", "resolver ends (its reply)")
    run_creator.RunCreatorFunction.handle = noted(run_creator.RunCreatorFunction.handle, "run-creator begins")
    stores.KubernetesStore.create_run = noted(stores.KubernetesStore.create_run, "create PipelineRun: request begins",
                                              "create PipelineRun: answer read")


async def measure(args: argparse.Namespace, fake: subprocess.Popen[str]) -> None:
    instrument()
    app = await started()
    rows = []
    for number, (headers, body) in enumerate(deliveries(1, args.webhooks), start=1):
        marks.clear()
        sent = time.perf_counter()
        await post(app, headers, body)
        marks.append(("acked (202 sent)", time.perf_counter()))
        await app.broker.drained(30)
        rows.append((number, sent, list(marks)))
        await asyncio.sleep(args.gap)
    _, _, created = await stopped(app, fake)
    stages: dict[str, list[float]] = {}
    for number, sent, noted_marks in rows:
        counts: dict[str, int] = {}
        for what, when in noted_marks:  # the n-th of a repeated stage (deliveries, commits) apart
            counts[what] = counts.get(what, 0) + 1
            label = what if counts[what] == 1 else f"{what} (#{counts[what]})"
            stages.setdefault(label, []).append((when - sent) * 1000)
        stages.setdefault("PipelineRun stored by the API", []).append((created[str(number)] - sent) * 1000)
    print(f"{args.webhooks} webhooks one at a time, {args.gap * 1000:.0f} ms apart; ms from the POST, median "
          f"(load average {os.getloadavg()[0]:.1f}):")
    for label, times in sorted(stages.items(), key=lambda item: statistics.median(item[1])):
        if len(times) >= args.webhooks // 2:
            print(f"  {statistics.median(times):7.2f}  {label}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--webhooks", type=int, default=300)
    parser.add_argument("--gap", type=float, default=0.02, help="seconds between webhooks")
    run(measure(parser.parse_args(), start_fake_api("allinone-path")))


if __name__ == "__main__":
    main()
