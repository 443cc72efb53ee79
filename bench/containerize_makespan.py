"""Makespan of the REAL containerize script (sliding window) on 40 simulated builds, 5 slots.

The script runs unchanged against tests/tekton's fake kubectl with a virtual clock (the fake
`sleep` advances it), so the figures are exact and independent of machine load. One time unit is
60 virtual seconds; build times are spread 1-8 units (fixed seed); the window polls every 7 s (not
aligned with build ends).

Compared: the sliding window in input order, the sliding window longest-first (what resolve-stack
plans when durations are known: build.expected-minutes or observed durations in the build cache),
ideal static batches of 5 (no polling overhead, favouring batches), and the lower bound
max(longest, total / 5). Target: longest-first window <= 1.05 x bound.

    .venv/bin/python bench/containerize_makespan.py
"""

from __future__ import annotations

import random
import tempfile
import time
from pathlib import Path

from tekton_dag.testing.task_scripts import FakeCluster, run_containerize, write_plan

UNIT = 60
SLOTS = 5
POLL = 7  # not a divisor of UNIT: builds end between polls, as they do for real
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
    # Estimates are never exact: order by durations off by up to +-30% (as expected-minutes or history may be).
    estimate = {a: durations[a] * rng.uniform(0.7, 1.3) for a in apps}
    lpt_noisy = sorted(apps, key=lambda a: -estimate[a])
    started = time.perf_counter()
    input_order = run_window(durations, apps)
    longest_first = run_window(durations, lpt)
    noisy = run_window(durations, lpt_noisy)
    wall = time.perf_counter() - started
    batches = static_batches([durations[a] for a in apps])
    rows = [
        (f"lower bound max(longest, total/{SLOTS})", bound),
        (f"static batches of {SLOTS}, input order (ideal, no polling)", batches),
        ("sliding window, input order (real script)", input_order),
        ("sliding window, longest first, exact estimates (real script)", longest_first),
        ("sliding window, longest first, estimates +-30% (real script)", noisy),
    ]
    print(
        f"40 builds, durations 1-8 units (seed {SEED}), total {total} units, {SLOTS} slots, "
        f"poll {POLL}s per {UNIT}s unit"
    )
    for label, value in rows:
        print(f"{label:<62} {value:6.2f} units  {value / bound:.3f} x bound")
    verdict = {True: "met", False: "missed"}
    print(f"target <= 1.05 x bound: longest first {verdict[longest_first <= 1.05 * bound]}, "
          f"with +-30% estimates {verdict[noisy <= 1.05 * bound]}, input order {verdict[input_order <= 1.05 * bound]}")
    print(f"(wall time of the three script runs: {wall:.1f} s)")


if __name__ == "__main__":
    main()
