"""Makespan of the REAL containerize script (sliding window) on 40 simulated builds, 5 slots.

The script runs unchanged against tests/tekton's fake kubectl with a virtual clock (the fake
`sleep` advances it), so the figures are exact and independent of machine load. One time unit is
60 virtual seconds; build times are spread 1-8 units (fixed seed); the window polls every 10 s.

Compared: the sliding window in input order, the sliding window longest-first (what resolve-stack
plans when durations are known: build.expected-minutes or observed durations in the build cache),
ideal static batches of 5 (no polling overhead, favouring batches), and the lower bound
max(longest, total / 5). Target: longest-first window <= 1.05 x bound.

    .venv/bin/python bench/containerize_makespan.py
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "tekton"))
from tekton_harness import FakeCluster, run_containerize, write_plan  # noqa: E402

UNIT = 60
SLOTS = 5
POLL = 10
SEED = 7


def run_window(durations: dict[str, int], order: list[str]) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        cluster = FakeCluster(Path(tmp))
        cluster.scenario({app: {"duration": d * UNIT} for app, d in durations.items()})
        write_plan(Path(tmp) / "ws", order)
        result = run_containerize(cluster, Path(tmp) / "ws", max_parallel=SLOTS, poll=POLL,
                                  pending_timeout=3600, extra_env={"BUILD_DEADLINE_SECONDS": "36000"}, timeout=600)
        if result.returncode != 0 or result.max_existing() > SLOTS:
            raise SystemExit(f"containerize failed or exceeded the window: {result.stderr[-2000:]}")
        return result.makespan / UNIT


def static_batches(durations: list[int]) -> int:
    return sum(max(durations[i:i + SLOTS]) for i in range(0, len(durations), SLOTS))


def main() -> None:
    rng = random.Random(SEED)
    apps = [f"app-{i:02d}" for i in range(40)]
    durations = {a: rng.randint(1, 8) for a in apps}
    total = sum(durations.values())
    bound = max(max(durations.values()), total / SLOTS)
    lpt = sorted(apps, key=lambda a: -durations[a])
    started = time.perf_counter()
    input_order = run_window(durations, apps)
    longest_first = run_window(durations, lpt)
    wall = time.perf_counter() - started
    batches = static_batches([durations[a] for a in apps])
    print(f"40 builds, durations 1-8 units (seed {SEED}), total {total} units, {SLOTS} slots, poll {POLL}s per {UNIT}s unit")
    print(f"lower bound max(longest, total/{SLOTS})      : {bound:6.2f} units")
    print(f"static batches of {SLOTS} (ideal, no polling)  : {batches:6.2f} units  ({batches / bound:.3f} x bound)")
    print(f"sliding window, input order (real script) : {input_order:6.2f} units  ({input_order / bound:.3f} x bound)")
    print(f"sliding window, longest first (real script): {longest_first:6.2f} units  ({longest_first / bound:.3f} x bound)")
    print(f"target <= 1.05 x bound: {'met' if longest_first <= 1.05 * bound else 'MISSED'} (longest first); "
          f"{'met' if input_order <= 1.05 * bound else 'missed'} (input order)")
    print(f"(wall time of both script runs: {wall:.1f} s)")


if __name__ == "__main__":
    main()
