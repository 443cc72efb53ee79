"""Benchmark: planning a 40-app bootstrap against a real registry (Debian docker-registry) on loopback.

Each run is what bootstrap-batcher does per request: select the 40 apps of the example team
``commerce``, HEAD every image (20 present, 20 absent) concurrently with a bounded client, and
build the plan with its waves. Two ways to hold the client:

- *function*: one long-lived ``RegistryClient`` across requests, as bootstrap-batcher keeps it
  (pooled connections; for bearer auth, tokens cached until they expire);
- *fresh*: a new client per plan, as one CLI run (includes building httpx's TLS context, about
  tens of ms, and every 401 / token round trip).

Also: the same plan through a proxy that delays each request by 10 ms (a registry one round trip
away), sequential against bounded-concurrent, which is where concurrency pays.

Target: <= 300 ms per plan on loopback (the function's case, anonymous registry).

    .venv/bin/python bench/bootstrap_plan.py [--runs 15]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import yaml

from tekton_dag.config.loading import load_config_or_raise
from tekton_dag.config.models import Config
from tekton_dag.events.requests import BootstrapRequest
from tekton_dag.oci.client import DEFAULT_CONCURRENCY, RegistryClient
from tekton_dag.oci.credentials import CredentialStore, parse_config
from tekton_dag.testing.registry import Registry, start_registry
from tekton_dag.usecases.bootstrapping import plan_bootstrap

ROOT = Path(__file__).resolve().parents[1]

TARGET_MS = 300.0
TAG = "bench"


def teams_for(directory: Path, host: str) -> Config:
    root = directory / "teams"
    shutil.copytree(ROOT / "teams", root)
    team_file = root / "commerce" / "team.yaml"
    document = yaml.safe_load(team_file.read_text())
    document["imageRegistry"] = host
    team_file.write_text(yaml.safe_dump(document, sort_keys=False))
    return load_config_or_raise(root)


REQUEST = BootstrapRequest(team="commerce", delivery="bench", stack="shop", image_tag=TAG)


async def timed_plan(config: Config, client: RegistryClient) -> float:
    started = time.perf_counter()
    plan = await plan_bootstrap(config, REQUEST, client)
    elapsed = (time.perf_counter() - started) * 1000
    assert len(plan.stacks[0].build_apps) == 20, plan.stacks[0].build_apps
    return elapsed


async def fresh_runs(config: Config, credentials: CredentialStore, concurrency: int, runs: int) -> list[float]:
    times = []
    for _ in range(runs + 1):
        started = time.perf_counter()
        async with RegistryClient(credentials, concurrency=concurrency) as client:
            await timed_plan(config, client)
        times.append((time.perf_counter() - started) * 1000)
    return times[1:]  # the first run warms imports and the registry's caches


async def function_runs(config: Config, credentials: CredentialStore, concurrency: int, runs: int) -> list[float]:
    async with RegistryClient(credentials, concurrency=concurrency) as client:
        return [await timed_plan(config, client) for _ in range(runs + 1)][1:]


def measure(label: str, registry: Registry, directory: Path, concurrency: int, runs: int, fresh: bool) -> float:
    config = teams_for(directory / f"{label.replace(' ', '-')}-{concurrency}-{fresh}", registry.host)
    credentials = parse_config(registry.docker_config(), "bench") if registry.auth else CredentialStore()
    apps = [a.name for a in config.team("commerce").stack("shop").apps]
    if not registry.pushed:
        registry.push_images(apps[::2], TAG)  # 20 present, 20 absent
    mode = fresh_runs if fresh else function_runs
    times = sorted(asyncio.run(mode(config, credentials, concurrency, runs)))
    label = f"{label} ({'fresh' if fresh else 'function'} client)"
    return report(label, concurrency, times, runs)


def report(label: str, concurrency: int, times: list[float], runs: int) -> float:
    times = sorted(times)
    median = statistics.median(times)
    p90 = times[min(len(times) - 1, int(len(times) * 0.9))]
    print(f"{label:<46} concurrency {concurrency:>2}: median {median:6.1f} ms  p90 {p90:6.1f} ms  "
          f"min {times[0]:6.1f} ms  ({runs} runs)")
    return median


class DelayProxy:
    """A TCP proxy in front of the registry that holds each client->registry chunk for ``delay``
    seconds: a registry one round trip away instead of on loopback (what concurrency is for)."""

    def __init__(self, target: str, delay: float) -> None:
        self.target_host, port = target.rsplit(":", 1)
        self.target_port = int(port)
        self.delay = delay
        self.host = ""

    async def __aenter__(self) -> DelayProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.host = f"127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(self.target_host, self.target_port)
        try:
            await asyncio.gather(
                self._pipe(reader, upstream_writer, self.delay), self._pipe(upstream_reader, writer, 0)
            )
        except asyncio.CancelledError:  # the benchmark's loop is ending: just drop the connection
            writer.close()
            upstream_writer.close()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
        try:
            while chunk := await reader.read(65536):
                if delay:
                    await asyncio.sleep(delay)
                writer.write(chunk)
                await writer.drain()
        except ConnectionError:
            pass
        writer.close()


async def remote_runs(registry: Registry, config_dir: Path, concurrency: int, runs: int, delay: float) -> list[float]:
    async with DelayProxy(registry.host, delay) as proxy:
        config = teams_for(config_dir, proxy.host)
        async with RegistryClient(concurrency=concurrency) as client:
            return [await timed_plan(config, client) for _ in range(runs + 1)][1:]


async def floor_runs(registry: Registry, concurrency: int, runs: int) -> list[float]:
    """40 bare httpx HEADs with the same bound: the cost of the HTTP alone, for comparison."""
    names = [f"floor-{i}" for i in range(40)]
    semaphore = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=concurrency)) as client:
        async def head(name: str) -> None:
            async with semaphore:
                await client.head(f"{registry.url}/v2/{name}/manifests/{TAG}")
        times = []
        for _ in range(runs + 1):
            started = time.perf_counter()
            await asyncio.gather(*(head(n) for n in names))
            times.append((time.perf_counter() - started) * 1000)
    return times[1:]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        registries = {
            auth: start_registry(directory / f"registry-{auth}", auth=auth) for auth in (None, "basic", "token")
        }
        try:
            c = DEFAULT_CONCURRENCY
            print(f"40 apps of teams/commerce, 20 images present, 20 absent; load average {os.getloadavg()[0]:.2f} "
                  f"on {os.cpu_count()} CPU(s)")
            headline = measure("anonymous", registries[None], directory, c, args.runs, fresh=False)
            measure("anonymous", registries[None], directory, 1, args.runs, fresh=False)
            measure("anonymous", registries[None], directory, 16, args.runs, fresh=False)
            measure("anonymous", registries[None], directory, c, args.runs, fresh=True)
            measure("basic auth", registries["basic"], directory, c, args.runs, fresh=False)
            measure("basic auth", registries["basic"], directory, c, args.runs, fresh=True)
            measure("bearer token (tokens cached)", registries["token"], directory, c, args.runs, fresh=False)
            measure("bearer token (40 token fetches)", registries["token"], directory, c, args.runs, fresh=True)
            report(
                "floor: 40 bare httpx HEADs, no planning",
                c,
                asyncio.run(floor_runs(registries[None], c, args.runs)),
                args.runs,
            )
            for concurrency in (1, c):
                times = asyncio.run(remote_runs(registries[None], directory / f"remote-{concurrency}", concurrency,
                                                args.runs, 0.010))
                report("anonymous, 10 ms away (delay proxy)", concurrency, times, args.runs)
        finally:
            for registry in registries.values():
                registry.stop()
    verdict = "met" if headline <= TARGET_MS else "MISSED"
    print(f"target: anonymous plan of 40 apps <= {TARGET_MS:.0f} ms on loopback: {verdict} ({headline:.1f} ms median)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
