"""Where a served webhook's time goes, stage by stage, in each system of compare_upstream.py.

    .venv/bin/python bench/path_split.py [--upstream SRC --upstream-python PY]
        [--systems earlier,all-in-one,chain] [--workers 2] [--rate 100] [--seconds 10]
        [--payload octokit|sample]

One steady measurement per system, as ``compare_upstream.py`` makes it (same load generator,
payload, fake Kubernetes API and servers), with every process stamped (``path_stamps/``: the
directory goes on ``PYTHONPATH``, so the earlier system's gunicorn workers, the all-in-one's
workers, the chain's functions and the fake API are stamped too, and this process, which runs the
chain's Broker). For each stage, the median time from the load generator's send, and the step
from the stage before: which part of the gap between the systems is HTTP, which is a handler,
which is the Kubernetes client, which is the fake API. A stage seen twice on one webhook (the
chain's POSTs, the seals) is numbered. The stamps cost a few µs each, so the totals here are a
little above compare_upstream.py's; compare the steps, not the totals.

Stamps go to the webhook sent last before them (no stage knows its webhook's number), so the
split holds while a webhook's path ends before the next is sent: at the default 100/s, 10 ms.
Every process started with ``path_stamps/`` on ``PYTHONPATH`` takes its ``sitecustomize``
instead of any other on the path.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import os
import statistics
import sys
import tempfile
from pathlib import Path

STAMPS_DIR = Path(__file__).with_name("path_stamps")
WINDOW_S = 0.02  # a webhook's stamps: from its send until the next send, at most this long


def stages(stamps: list[tuple[float, str]], sends: list[float]) -> list[tuple[str, list[float]]]:
    """(stage, ms from the send of each webhook that reached it), by the median, in order."""
    sends = sorted(sends)  # the load generator lists them as their answers were read
    times = [t for t, _ in stamps]
    seen: dict[str, list[float]] = {}
    for i, sent in enumerate(sends):
        ends = min(sends[i + 1] if i + 1 < len(sends) else sent + WINDOW_S, sent + WINDOW_S)
        counts: dict[str, int] = {}
        for at, label in stamps[bisect.bisect_left(times, sent):bisect.bisect_left(times, ends)]:
            counts[label] = counts.get(label, 0) + 1
            numbered = label if counts[label] == 1 else f"{label} (#{counts[label]})"
            seen.setdefault(numbered, []).append((at - sent) * 1000)
    return sorted(seen.items(), key=lambda item: statistics.median(item[1]))


def read_stamps(path: Path) -> list[tuple[float, str]]:
    found = []
    for line in path.read_text().splitlines():
        label, at, _pid = line.rsplit(" ", 2)
        found.append((float(at), label))
    return sorted(found)


async def main(args: argparse.Namespace) -> None:
    import compare_upstream

    systems = args.systems.split(",")
    if args.upstream is None:
        systems = [s for s in systems if s != "earlier"]
        print("the earlier system is not available (no --upstream SRC): splitting ours alone")
    for system in systems:
        stamps = Path(os.environ["TEKTON_DAG_PATH_STAMPS"])
        stamps.write_bytes(b"")
        result = await compare_upstream.measure(system, args.rate, args)
        compare_upstream.show(result)
        rows = stages(read_stamps(stamps), result["sends"])
        print(f"{system}: ms from the send (median of the n webhooks that reached the stage), step from the row above")
        before = 0.0
        for label, values in rows:
            if len(values) < len(result["sends"]) // 2:  # an occasional stage (a retry, a late answer)
                continue
            median = statistics.median(values)
            print(f"  {median:7.3f}  +{median - before:6.3f}  {label} (n={len(values)})")
            before = median


if __name__ == "__main__":
    with tempfile.TemporaryDirectory(prefix="tekton-dag-path-split-") as work:
        # Before compare_upstream (and tekton_dag) is imported: this process runs the chain's Broker.
        os.environ["TEKTON_DAG_PATH_STAMPS"] = str(Path(work) / "stamps")
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(STAMPS_DIR), os.environ.get("PYTHONPATH")]))
        sys.path.insert(0, str(STAMPS_DIR))
        import path_stamps

        path_stamps.install()
        from compare_upstream import measured_arguments

        from tekton_dag.functions import loops

        arguments = measured_arguments(argparse.ArgumentParser(description=__doc__.splitlines()[0]))()
        loops.install()
        asyncio.run(main(arguments))
