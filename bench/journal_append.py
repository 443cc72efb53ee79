"""The durable journal's options: the cost of making one accepted event durable before the ack.

Compares what the local Broker's journal could be (docs/local-dev.md has the choice):
- SQLite in WAL mode, ``synchronous=NORMAL`` (a commit is durable against a killed process; the
  WAL is fsynced at checkpoints) and ``FULL`` (every commit fsyncs the WAL: durable against a
  power cut), through the real ``tekton_dag.bus.journal.Journal`` (insert one delivery, then mark
  it delivered: the two writes each delivery costs);
- an append-only file with ``write`` + ``fdatasync`` per record (two records per delivery too),
  which would also need its own compaction and an index of finished records to resume.

Each row: latency p50/p99 of one write and CPU per delivery (both writes). The event is a
700-byte CloudEvent, the size of webhook-ingest's slim pull_request event.

    .venv/bin/python bench/journal_append.py [--deliveries 3000] [--dir DIR]

``--dir`` decides the disk measured (default: a temp directory beside the repository).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tekton_dag.bus.journal import DELIVERED, Journal, NewDelivery

EVENT = b'{"specversion":"1.0","type":"dev.tektondag.github.pull_request.v1","data":' + b'"' + b"x" * 600 + b'"}'


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def measure(name: str, deliveries: int, one: Callable[[int], None]) -> None:
    latencies: list[float] = []
    cpu = time.process_time()
    for i in range(deliveries):
        started = time.perf_counter()
        one(i)
        latencies.append((time.perf_counter() - started) / 2)  # two writes per delivery
    cpu = time.process_time() - cpu
    print(f"{name:<34} write p50 {statistics.median(latencies) * 1000:6.3f} ms  p99 "
          f"{percentile(latencies, 99) * 1000:6.3f} ms  CPU {cpu / deliveries * 1000:6.3f} ms per delivery", flush=True)


def sqlite(directory: Path, sync: str, deliveries: int) -> None:
    journal = Journal(directory / f"journal-{sync}.sqlite3", sync)  # type: ignore[arg-type]
    journal.open()

    def one(i: int) -> None:
        [row] = journal.accept([NewDelivery("resolver-github-pull-request", "owner/repo", 255, EVENT)])
        journal.finish(row, DELIVERED)

    measure(f"SQLite WAL synchronous={sync}", deliveries, one)
    journal.close()


def append_file(directory: Path, deliveries: int) -> None:
    fd = os.open(directory / "journal.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def one(i: int) -> None:
        os.write(fd, b"A %d " % i + EVENT + b"\n")
        os.fdatasync(fd)
        os.write(fd, b"D %d\n" % i)
        os.fdatasync(fd)

    measure("append-only file + fdatasync", deliveries, one)
    os.close(fd)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=3000)
    parser.add_argument("--dir", type=Path, default=Path(__file__).resolve().parents[1])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir, prefix=".journal-bench-") as scratch:
        print(f"{args.deliveries} deliveries, journal in {scratch}, load average {os.getloadavg()[0]:.1f}")
        for sync in ("NORMAL", "FULL"):
            sqlite(Path(scratch), sync, args.deliveries)
        append_file(Path(scratch), args.deliveries)


if __name__ == "__main__":
    main()
