"""Benchmark: load 1,000 teams x 40 apps, then resolve repositories.

    .venv/bin/python bench/config_load.py [--teams 1000] [--apps 40] [--lookups 200000]

Generates the configuration in a temporary directory (removed afterwards), then measures in a
fresh interpreter, so generation does not count towards time or memory:
  - load: ``load_config`` (read + parse + schema + checks + build) and ``ResolverIndex.from_config``
  - resolve: per-call latency of ``ResolverIndex.lookup`` over a mix of known repos in several
    spellings, fan-out repos and unknown repos (p50, p99)
  - reload: a load reusing unchanged teams (what ConfigStore does) after one team's file changed
  - RSS: resident memory after loading (and the peak), from /proc and getrusage
Then, for plain stack files and for stack files with anchors, aliases and ``<<`` merges, the
first load of a fresh process (what the CLI and a starting function do): without the snapshot
cache, with a cold cache (the load that writes the snapshot) and a warm one, and whole
``tekton-dag resolve`` processes without and with a warm cache, and a served resolver's time to
ready (``tekton-dag serve``: a fresh pod's start) without and with it (``--cold-only`` for just these).
A first load of 1,000 teams reads teams in forked processes on the other cores
(config/parallel.py): ``TEKTON_DAG_CONFIG_PROCESSES=1`` measures one process alone.
Targets (2-core machine): load <= 1.5 s, resolve p99 <= 20 us, RSS <= 150 MB; a first load
<= 1.0 s and a whole ``tekton-dag resolve`` <= 1.5 s, without a snapshot cache (a fresh pod has
none) as well as with a warm one.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import random
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TOOLS = {
    "npm": ("npm ci && npm run build", "node", 'node-version: "20"'),
    "maven": ("mvn -B -DskipTests package", "java", 'java-version: "21"'),
    "gradle": ("./gradlew --no-daemon build -x test", "java", 'java-version: "21"'),
    "pip": ("pip install -r requirements.txt", "python", 'python-version: "3.12"'),
    "composer": ("composer install --no-dev", "php", 'php-version: "8.3"'),
}
SHARED_REPOS = 20  # repos every 50th team also builds (fan-out across teams)


def stack_yaml(team: int, apps: int, rng: random.Random, anchors: bool = False) -> str:
    """A layered graph: a few front ends on top, shared backends at the bottom, depth >= 4.

    With ``anchors``, as hand-written files often are: the first app of each build tool anchors its
    ``build`` mapping, later ones reuse it by alias or by a ``<<`` merge that overrides a key, and
    the postman tests are aliased."""
    lines = [
        f"name: shop-{team}", f"description: generated stack of team {team}",
        "propagation:", "  header-name: x-dev-session", "  baggage-key: dev-session", "  strategy: w3c-baggage",
        "defaults:", "  namespace: staging", '  container-port: "8080"', "apps:",
    ]
    layers = [range(0, 4), range(4, apps // 3), range(apps // 3, 2 * apps // 3), range(2 * apps // 3, apps - 6),
              range(apps - 6, apps)]
    anchored: set[str] = set()
    tests_anchored = False
    for layer_no, layer in enumerate(layers):
        for i in layer:
            tool = "npm" if layer_no == 0 else rng.choice(list(TOOLS))
            command, runtime, version = TOOLS[tool]
            repo = (f"platform/shared-{i}" if team % 50 == 0 and i < SHARED_REPOS else f"team-{team}/app-{i}")
            lines += [
                f"  - name: app-{i}", f"    repo: {repo}",
                f"    role: {'frontend' if layer_no == 0 else 'persistence' if layer_no == 4 else 'middleware'}",
            ]
            if not anchors or tool not in anchored:
                anchored.add(tool)
                lines += [f"    build:{f' &build-{tool}' if anchors else ''}", f"      tool: {tool}",
                          f"      build-command: {command}", f"      runtime: {runtime}", f"      {version}"]
            elif i % 2:
                lines.append(f"    build: *build-{tool}")
            else:
                lines += ["    build:", f"      <<: *build-{tool}", f"      runtime: {runtime}-{i}"]
            below = [j for lower in layers[layer_no + 1:layer_no + 3] for j in lower]
            if below:
                callees = sorted(rng.sample(below, min(len(below), rng.randint(1, 4))))
                lines.append(f"    downstream: [{', '.join(f'app-{j}' for j in callees)}]")
            if tool in ("maven", "gradle") and anchors and tests_anchored:
                lines.append("    tests: *tests")
            elif tool in ("maven", "gradle"):
                tests_anchored = anchors
                lines += [f"    tests:{' &tests' if anchors else ''}", "      postman: tests/postman/collection.json"]
    return "\n".join(lines) + "\n"


def generate(root: Path, teams: int, apps: int, anchors: bool = False) -> None:
    rng = random.Random(42)
    for team in range(teams):
        directory = root / f"team-{team}"
        (directory / "stacks").mkdir(parents=True)
        (directory / "team.yaml").write_text(
            f"name: team-{team}\nnamespace: ci-team-{team}\nimageRegistry: registry.example:5000/team-{team}\n"
            f"maxConcurrentRuns: 3\nmaxParallelBuilds: 5\nstacks: [stacks/shop.yaml]\n"
            f"webhook:\n  secretName: webhook-team-{team}\npullRequests:\n  baseBranches: [main]\n"
        )
        (directory / "stacks" / "shop.yaml").write_text(stack_yaml(team, apps, rng, anchors))
        (directory / "versions.yaml").write_text(
            "apps:\n" + "".join(f"  app-{i}:\n    version: 1.{i}.0-rc.1\n    last-released: 1.{i}.0\n"
                                for i in range(0, apps, 4)))


def measure(root: Path, lookups: int) -> dict[str, float]:
    """Runs in a fresh interpreter (see main)."""
    from tekton_dag.config.index import ResolverIndex
    from tekton_dag.config.loading import TeamCache, load_config

    start, start_cpu = time.perf_counter(), time.process_time()
    result = load_config(root)
    loaded, loaded_cpu = time.perf_counter(), time.process_time()
    if result.config is None:
        raise SystemExit("generated config is invalid:\n" + "\n".join(map(str, result.errors[:20])))
    index = ResolverIndex.from_config(result.config)
    indexed = time.perf_counter()
    rss_kb = int(Path("/proc/self/statm").read_text().split()[1]) * resource.getpagesize() // 1024
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    rng = random.Random(7)
    teams = len(result.config.teams)
    queries = []
    for _ in range(lookups):
        team, app = rng.randrange(teams), rng.randrange(40)
        roll = rng.random()
        if roll < 0.6:
            queries.append(f"team-{team}/app-{app}")
        elif roll < 0.8:
            queries.append(f"Team-{team}/App-{app}")  # GitHub's spelling may differ in case
        elif roll < 0.9:
            queries.append(f"platform/shared-{app % SHARED_REPOS}")  # fan-out to 20 teams
        else:
            queries.append(f"nobody/unknown-{app}")
    timings = []
    clock = time.perf_counter_ns
    lookup = index.lookup
    for query in queries:
        before = clock()
        lookup(query)
        timings.append(clock() - before)
    timings.sort()

    # A reload as the ConfigStore does it: every file re-read, only the changed team parsed.
    cache = TeamCache()
    load_config(root, cache)
    team_file = root / "team-7" / "team.yaml"
    team_file.write_text(team_file.read_text() + f"# edited {time.time()}\n")
    before = time.perf_counter()
    reloaded = load_config(root, cache)
    reload_s = time.perf_counter() - before
    assert reloaded.config is not None
    return {
        "teams": teams,
        "apps": sum(len(s.apps) for t in result.config.teams for s in t.stacks),
        "load_s": loaded - start,
        "load_cpu_s": loaded_cpu - start_cpu,
        "index_s": indexed - loaded,
        "resolve_p50_us": timings[len(timings) // 2] / 1000,
        "resolve_p99_us": timings[int(len(timings) * 0.99)] / 1000,
        "reload_s": reload_s,
        "rss_mb": rss_kb / 1024,
        "peak_rss_mb": peak_kb / 1024,
    }


def cold_load(root: Path, cache: str) -> dict[str, float]:
    """One fresh process's first load, as the CLI and the functions do it (runs in a child).
    ``cpu_s`` is this process's CPU; ``children_cpu_s`` that of the processes it forked to read
    teams on other cores (``TEKTON_DAG_CONFIG_PROCESSES``, docs/configuration.md)."""
    started, started_cpu = time.perf_counter(), time.process_time()
    from tekton_dag.config.snapshots import CACHE_ENV, load_config_cached

    imported = time.perf_counter()
    result = load_config_cached(root, env={CACHE_ENV: cache})
    if result.config is None:
        raise SystemExit("generated config is invalid:\n" + "\n".join(map(str, result.errors[:20])))
    loaded = time.perf_counter()
    children = os.times()  # the processes that read teams in parallel (config/parallel.py)
    return {"load_s": loaded - imported, "cpu_s": time.process_time() - started_cpu,
            "children_cpu_s": children.children_user + children.children_system, "import_s": imported - started,
            "rss_mb": int(Path("/proc/self/statm").read_text().split()[1]) * resource.getpagesize() / 2**20}


def cold_loads(root: Path, runs: int) -> dict[str, list[float]]:
    """In-process first loads without a cache, with a cold cache (it writes the snapshot) and a
    warm one, then whole ``tekton-dag resolve`` processes without and with a warm cache."""
    stamp = time.time() - 60  # files edited just now are never snapshotted (snapshots.RACY_S)
    for path in root.rglob("*"):
        os.utime(path, (stamp, stamp))
    cache = root.parent / "cache"
    figures: dict[str, list[float]] = {}

    def child(name: str, cache_setting: str) -> None:
        out = subprocess.run([sys.executable, __file__, "--cold", str(root), "--cache", cache_setting],
                             check=True, capture_output=True, text=True).stdout
        for key, value in json.loads(out).items():
            figures.setdefault(f"{name} {key}", []).append(value)

    for _ in range(runs):
        child("no cache", "off")
        shutil.rmtree(cache, ignore_errors=True)
        child("cold cache", str(cache))
        child("warm cache", str(cache))
    command = [str(Path(sys.executable).parent / "tekton-dag"), "resolve", "--teams", str(root), "team-7/app-3"]
    for setting, name in (("off", "resolve process, no cache"), (str(cache), "resolve process, warm cache")):
        for _ in range(runs):
            before = time.perf_counter()
            environment = {**os.environ, "TEKTON_DAG_CONFIG_CACHE": setting}
            subprocess.run(command, check=True, capture_output=True, env=environment)
            figures.setdefault(name, []).append(time.perf_counter() - before)
    for setting, name in (("off", "resolver ready, no cache"), (str(cache), "resolver ready, warm cache")):
        for _ in range(runs):
            figures.setdefault(name, []).append(serve_ready(root, setting))
    return figures


def serve_ready(root: Path, cache: str) -> float:
    """Seconds from starting ``tekton-dag serve resolver`` on ``root`` until its readiness probe
    answers 200: a fresh pod's start, the configuration's first load included. Polled every 20 ms
    from this process (a ``curl`` per poll would take a CPU from the start it measures)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    environment = {**os.environ, "TEKTON_DAG_CONFIG_CACHE": cache, "K_SINK": "http://127.0.0.1:9/",
                   "TEKTON_DAG_EVENT_KEY": "bench-event-key-of-at-least-32-characters"}
    command = [str(Path(sys.executable).parent / "tekton-dag"), "serve", "resolver", "--teams", str(root),
               "--listen", f"127.0.0.1:{port}"]
    started = time.perf_counter()
    process = subprocess.Popen(command, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while time.perf_counter() - started < 60:
            time.sleep(0.02)
            with contextlib.suppress(OSError):
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                connection.request("GET", "/health/readiness")
                if connection.getresponse().status == 200:
                    return time.perf_counter() - started
        raise SystemExit("tekton-dag serve resolver was not ready within 60 s")
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teams", type=int, default=1000)
    parser.add_argument("--apps", type=int, default=40)
    parser.add_argument("--lookups", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3, help="fresh-process loads; the best and median are shown")
    parser.add_argument("--cold-only", action="store_true", help="only the first-load figures (cache, anchors)")
    parser.add_argument("--measure", metavar="DIR", help=argparse.SUPPRESS)  # the child's modes
    parser.add_argument("--cold", metavar="DIR", help=argparse.SUPPRESS)
    parser.add_argument("--cache", default="off", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(Path(args.measure), args.lookups)))
        return
    if args.cold:
        print(json.dumps(cold_load(Path(args.cold), args.cache)))
        return
    with tempfile.TemporaryDirectory(prefix="tekton-dag-bench-") as tmp:
        root = Path(tmp) / "teams"
        started = time.perf_counter()
        generate(root, args.teams, args.apps)
        print(f"generated {args.teams} teams x {args.apps} apps in {time.perf_counter() - started:.1f} s")
        if not args.cold_only:
            runs = []
            for _ in range(args.runs):
                child = subprocess.run([sys.executable, __file__, "--measure", str(root), "--lookups",
                                        str(args.lookups)], check=True, capture_output=True, text=True)
                runs.append(json.loads(child.stdout))
            report(runs)
        for variant, anchors in (("plain", False), ("anchors and aliases", True)):
            variant_root = Path(tmp) / variant.replace(" ", "-") / "teams"
            generate(variant_root, args.teams, args.apps, anchors)
            report_cold(variant, cold_loads(variant_root, args.runs))


def report_cold(variant: str, figures: dict[str, list[float]]) -> None:
    # Issue 18: a fresh pod has no snapshot, so the targets hold without one (and so with one).
    targets = {"no cache load_s": 1.0, "resolve process, no cache": 1.5,
               "warm cache load_s": 1.0, "resolve process, warm cache": 1.5}
    print(f"first load of a process, {variant} stack files (median / best of {len(next(iter(figures.values())))}, s):")
    for name, values in figures.items():
        if name.endswith("import_s") or (name.endswith("children_cpu_s") and not any(values)):
            continue
        target = targets.get(name)
        met = target is not None and median_of(values) <= target
        verdict = "" if target is None else f"  target <= {target:g}: {'met' if met else 'MISSED'}"
        print(f"  {name:<32} {median_of(values):7.3f} / {min(values):7.3f}{verdict}")


def median_of(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def report(runs: list[dict[str, float]]) -> None:
    def median(key: str) -> float:
        return sorted(r[key] for r in runs)[len(runs) // 2]

    first = runs[0]
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} (other work inflates wall times)")
    print(f"loaded {first['teams']} teams, {first['apps']} apps; {len(runs)} fresh-process runs (median / best)")
    rows = [
        ("config load (s)", "load_s", 1.5),
        ("config load, CPU (s)", "load_cpu_s", None),
        ("index build (s)", "index_s", None),
        ("reload, 1 team changed (s)", "reload_s", None),
        ("resolve p50 (us)", "resolve_p50_us", None),
        ("resolve p99 (us)", "resolve_p99_us", 20.0),
        ("RSS after load (MB)", "rss_mb", 150.0),
        ("peak RSS (MB)", "peak_rss_mb", 150.0),
    ]
    for label, key, target in rows:
        best = min(r[key] for r in runs)
        verdict = ""
        if target is not None:
            verdict = f"  target <= {target:g}: {'met' if median(key) <= target else 'MISSED'}"
        print(f"  {label:<27} {median(key):9.3f} / {best:9.3f}{verdict}")


if __name__ == "__main__":
    main()
