#!/usr/bin/env python3
"""resolve-stack: turn the `stack-json` param into a build/deploy plan for the other tasks.

Reads everything from the environment (never from Tekton substitutions in the script):
  STACK_JSON, VERSIONS_JSON, CHANGED_APP, BUILD_APPS, APP_REVISIONS, PR_NUMBER,
  IMAGE_REGISTRY, IMAGE_TAG, NAMESPACE_PARAM, TASKRUN_NAMESPACE, RUN_NAME, WORKSPACE_PATH,
  BUILD_HISTORY (optional file of observed build seconds; read only when CACHE_BOUND is "true")
and RESULT_<NAME> (the path of each Tekton result).

Results are small and bounded (a termination message holds 4 KiB, Tekton's own entries included):
the header name (at most 128 characters) and one true/false per build tool. Everything that grows
with the stack (apps, order, versions) is in the plan files only.

Writes the plan under $WORKSPACE_PATH/.tekton-dag/ as line-oriented files that the shell steps
of later tasks read without parsing JSON, plus ready-made Kubernetes manifests (JSON) so that no
shell step ever builds YAML from strings. Exits 1 with a message naming the field on bad input.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import sys
from pathlib import Path

TOOLS = ("npm", "maven", "gradle", "pip", "composer")
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$")  # <= 40: room for suffixes
REPO = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
REVISION = re.compile(r"^[A-Za-z0-9_./-]{1,200}$")
IMAGE_PART = re.compile(r"^[A-Za-z0-9._:/@-]+$")
RUN_LABEL = "tekton-dag.dev/run"
STACK_LABEL = "tekton-dag.dev/stack"
VARIANT_LABEL = "tekton-dag.dev/variant"
MANAGED_BY = {"app.kubernetes.io/managed-by": "tekton-dag"}
DEFAULT_VERSION = "0.1.0-rc.0"
MAX_HEADER_NAME = 128  # as stack.schema.json: the header is a Tekton result
MAX_PR_DIGITS = 20  # an unsigned 64-bit number: keeps pr-<N> names and labels bounded


class PlanError(Exception):
    """Bad input: the message names the field and the value."""


def env(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def parse_json(name: str, text: str, default: object) -> object:
    if not text:
        return default
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise PlanError(f"{name} is not valid JSON: {exc}") from None


def safe_relative(field: str, value: str) -> str:
    """A path inside the app's checkout: relative, no '..', no odd characters."""
    parts = [p for p in value.split("/") if p not in ("", ".")]
    if value.startswith("/") or ".." in parts or not re.fullmatch(r"[A-Za-z0-9_./-]*", value):
        raise PlanError(f"{field}: {value!r} must be a relative path inside the repository")
    return "/".join(parts) or "."


def check_apps(stack: dict) -> list[dict]:
    apps = stack.get("apps")
    if not isinstance(apps, list) or not apps:
        raise PlanError("stack-json: 'apps' must be a non-empty list")
    names: set[str] = set()
    for i, app in enumerate(apps):
        where = f"stack-json apps[{i}]"
        if not isinstance(app, dict):
            raise PlanError(f"{where} must be a mapping")
        name = app.get("name")
        if not isinstance(name, str) or not DNS_LABEL.match(name):
            raise PlanError(f"{where}.name: {name!r} must be a DNS label of at most 40 characters")
        if name in names:
            raise PlanError(f"{where}.name: {name!r} is used twice")
        names.add(name)
        if not isinstance(app.get("repo"), str) or not REPO.match(app["repo"]):
            raise PlanError(f"{where}.repo: {app.get('repo')!r} must be owner/name")
        build = app.get("build")
        if not isinstance(build, dict) or build.get("tool") not in TOOLS:
            raise PlanError(f"{where}.build.tool must be one of {', '.join(TOOLS)}")
    for i, app in enumerate(apps):
        for callee in app.get("downstream") or ():
            if callee not in names:
                raise PlanError(f"stack-json apps[{i}].downstream: unknown app {callee!r}")
    return apps


def dependency_order(apps: list[dict]) -> list[str]:
    """Callees before callers (the order to deploy in); ties keep the stack's order."""
    callees = {a["name"]: list(a.get("downstream") or ()) for a in apps}
    order: list[str] = []
    state: dict[str, str] = {}

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "visiting":
            cycle = path[path.index(name):] + [name]
            raise PlanError("stack-json: downstream cycle " + " -> ".join(cycle))
        state[name] = "visiting"
        for callee in callees[name]:
            visit(callee, path + [name])
        state[name] = "done"
        order.append(name)

    for app in apps:
        visit(app["name"], [])
    return order


def select_builds(apps: list[dict], build_apps: str, changed_app: str) -> list[str]:
    names = [a["name"] for a in apps]
    if build_apps:
        wanted = [n.strip() for n in build_apps.split(",") if n.strip()]
        unknown = [n for n in wanted if n not in names]
        if unknown:
            raise PlanError(f"build-apps: unknown app(s) {', '.join(unknown)}")
        return [n for n in names if n in wanted]
    if changed_app:
        if changed_app not in names:
            raise PlanError(f"changed-app: {changed_app!r} is not an app of this stack")
        return [changed_app]
    return names


def read_history(path: str) -> dict[str, float]:
    """Observed build seconds per app from earlier runs (written by containerize)."""
    seconds: dict[str, float] = {}
    if path and Path(path).is_file():
        for line in Path(path).read_text().splitlines():
            app, _, value = line.partition("\t")
            try:
                seconds[app] = float(value)
            except ValueError:
                continue
    return seconds


def estimate_seconds(app: dict, history: dict[str, float]) -> float | None:
    minutes = app["build"].get("expected-minutes")
    if isinstance(minutes, (int, float)) and minutes > 0:
        return float(minutes) * 60
    return history.get(app["name"])


def longest_first(builds: list[dict], history: dict[str, float]) -> list[tuple[dict, float | None]]:
    """LPT order for the sliding window: unknown durations first (they may be long), then longest."""
    weighted = [(a, estimate_seconds(a, history)) for a in builds]
    unknown = [(a, w) for a, w in weighted if w is None]
    known = sorted(((a, w) for a, w in weighted if w is not None), key=lambda aw: -aw[1])
    return unknown + known


def image_of(registry: str, app: str, tag: str) -> str:
    return f"{registry}/{app}:{tag}"


def port(app: dict, defaults: dict, key: str, fallback: int) -> int:
    value = app.get(key, defaults.get(key, fallback))
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise PlanError(f"stack-json: {app['name']}.{key} {value!r} is not a port number") from None
    if not 0 < number < 65536:
        raise PlanError(f"stack-json: {app['name']}.{key} {number} is out of range")
    return number


def workload(app: dict, ctx: dict, *, name: str, image: str, variant: str, extra_labels: dict) -> list[dict]:
    """Deployment + Service for one app. The image's own entrypoint runs: the build really serves.
    A PR build is PR code: its pods get no ServiceAccount token."""
    selector = {"app.kubernetes.io/name": app["name"], VARIANT_LABEL: variant}
    labels = {**MANAGED_BY, STACK_LABEL: ctx["stack"], **selector, **extra_labels}
    if ctx["team"]:
        labels["tekton-dag.dev/team"] = ctx["team"]
    container_port = port(app, ctx["defaults"], "container-port", 8080)
    service_port = port(app, ctx["defaults"], "service-port", 80)
    namespace = app.get("namespace") or ctx["namespace"]
    meta = {"name": name, "namespace": namespace, "labels": labels}
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta,
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {"labels": labels},
                "spec": {**({} if variant == "stable" else {"automountServiceAccountToken": False}), "containers": [{
                    "name": "app", "image": image,
                    "ports": [{"name": "http", "containerPort": container_port}],
                    "env": [{"name": "TEKTON_DAG_VARIANT", "value": variant}],
                    "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}},
                }]},
            },
        },
    }
    service = {
        "apiVersion": "v1", "kind": "Service", "metadata": meta,
        "spec": {"selector": selector,
                 "ports": [{"name": "http", "port": service_port, "targetPort": "http"}]},
    }
    return [deployment, service]


def write_lines(path: Path, rows: list[list[str]]) -> None:
    for row in rows:
        for cell in row:
            if "\t" in cell or "\n" in cell:
                raise PlanError(f"value {cell!r} may not contain tabs or newlines")
    path.write_text("".join("\t".join(r) + "\n" for r in rows))


def write_result(name: str, value: str) -> None:
    path = os.environ.get("RESULT_" + name.upper().replace("-", "_"))
    if path:
        Path(path).write_text(value)


def build_plan() -> None:
    stack = parse_json("stack-json", env("STACK_JSON"), None)
    if not isinstance(stack, dict):
        raise PlanError("stack-json must be a JSON object (the stack file)")
    apps = check_apps(stack)
    versions = parse_json("versions-json", env("VERSIONS_JSON"), {})
    revisions = parse_json("app-revisions", env("APP_REVISIONS"), {})
    if not isinstance(versions, dict) or not isinstance(revisions, dict):
        raise PlanError("versions-json and app-revisions must be JSON objects")
    registry, tag = env("IMAGE_REGISTRY").rstrip("/"), env("IMAGE_TAG")
    for field, value in (("image-registry", registry), ("image-tag", tag)):
        if not value or not IMAGE_PART.match(value):
            raise PlanError(f"{field}: {value!r} is empty or has characters not allowed in an image name")
    expected = env("STACK_NAME")
    if expected and stack.get("name") != expected:
        raise PlanError(f"stack-json is stack {stack.get('name')!r}, but the run is for stack {expected!r}")
    pr = env("PR_NUMBER")
    if pr and not (pr.isdigit() and len(pr) <= MAX_PR_DIGITS):
        raise PlanError(f"pr-number: {pr!r} is not a number of at most {MAX_PR_DIGITS} digits")
    by_name = {a["name"]: a for a in apps}
    order = dependency_order(apps)
    builds = select_builds(apps, env("BUILD_APPS"), env("CHANGED_APP"))
    propagation = stack.get("propagation") or {}
    header = str(propagation.get("header-name") or "x-dev-session")
    if len(header) > MAX_HEADER_NAME:
        raise PlanError(f"stack-json propagation.header-name: longer than {MAX_HEADER_NAME} characters")
    ctx = {
        "stack": str(stack.get("name", "stack"))[:63],
        "team": env("TEAM")[:63],
        "defaults": stack.get("defaults") or {},
        "namespace": (stack.get("defaults") or {}).get("namespace")
        or env("NAMESPACE_PARAM")
        or env("TASKRUN_NAMESPACE"),
    }
    plan = Path(env("WORKSPACE_PATH") or ".") / ".tekton-dag"
    for sub in ("commands", "deploy", "pr"):
        (plan / sub).mkdir(parents=True, exist_ok=True)

    clone_rows = []
    for name in builds:
        revision = str(revisions.get(name) or "")
        if revision and not REVISION.match(revision):
            raise PlanError(f"app-revisions.{name}: {revision!r} is not a git revision")
        clone_rows.append([name, by_name[name]["repo"], revision])
    write_lines(plan / "clone.tsv", clone_rows)

    history = read_history(env("BUILD_HISTORY")) if env("CACHE_BOUND", "true") == "true" else {}
    build_rows = []
    for app, seconds in longest_first([by_name[n] for n in builds], history):
        context = safe_relative(f"{app['name']}.context-dir", str(app.get("context-dir", ".")))
        dockerfile = safe_relative(f"{app['name']}.dockerfile", str(app.get("dockerfile", "Dockerfile")))
        build_rows.append(
            [
                app["name"],
                f"apps/{app['name']}" if context == "." else f"apps/{app['name']}/{context}",
                dockerfile,
                image_of(registry, app["name"], tag),
                "" if seconds is None else str(int(seconds)),
            ]
        )
    write_lines(plan / "builds.tsv", build_rows)

    for tool in TOOLS:
        rows = [[n, f"apps/{n}"] for n in builds if by_name[n]["build"]["tool"] == tool]
        write_lines(plan / f"compile-{tool}.tsv", rows)
    for name in builds:
        build = by_name[name]["build"]
        env_map = build.get("env") or {}
        for key in env_map:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(key)):
                raise PlanError(f"{name}.build.env: {key!r} is not an environment variable name")
        # Sourced by the POSIX compile script: names are checked, values quoted, so it only sets variables.
        (plan / "commands" / f"{name}.env").write_text(
            "".join(f"export {k}={shlex.quote(str(v))}\n" for k, v in env_map.items()))
        for step in ("pre-command", "build-command", "post-command"):
            (plan / "commands" / f"{name}.{step}").write_text(str(build.get(step) or ""))

    write_lines(plan / "deploy-order.tsv", [[n, by_name[n].get("namespace") or ctx["namespace"]] for n in order])
    for i, name in enumerate(order):
        docs = workload(by_name[name], ctx, name=name, image=image_of(registry, name, tag),
                        variant="stable", extra_labels={})
        (plan / "deploy" / f"{i:03d}-{name}.json").write_text(
            json.dumps({"apiVersion": "v1", "kind": "List", "items": docs})
        )
    if pr:
        run = env("RUN_NAME")[:63]
        for name in builds:
            docs = workload(by_name[name], ctx, name=f"{name}-pr-{pr}", image=image_of(registry, name, tag),
                            variant=f"pr-{pr}", extra_labels={RUN_LABEL: run, "tekton-dag.dev/pr": pr})
            (plan / "pr" / f"{name}.json").write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": docs}))

    def base_url(n: str) -> str:
        namespace = by_name[n].get("namespace") or ctx["namespace"]
        return f"http://{n}.{namespace}.svc:{port(by_name[n], ctx['defaults'], 'service-port', 80)}"

    test_rows = [[n, kind, safe_relative(f"{n}.tests.{kind}", str(path)), base_url(n)]
                 for n in order for kind, path in sorted((by_name[n].get("tests") or {}).items())]
    write_lines(plan / "tests.tsv", test_rows)

    resolved = {}
    for name in (a["name"] for a in apps):
        entry = versions.get(name) or {}
        resolved[name] = str(
            entry.get("version") if isinstance(entry, dict) and entry.get("version") else DEFAULT_VERSION
        )
    release_rows = [[n, image_of(registry, n, tag), image_of(registry, n, "v" + resolved[n])] for n in builds]
    write_lines(plan / "release.tsv", release_rows)

    callers = {c for a in apps for c in (a.get("downstream") or ())}
    entries = [a["name"] for a in apps if a["name"] not in callers]
    entry_rows = [
        [n, by_name[n].get("namespace") or ctx["namespace"], str(port(by_name[n], ctx["defaults"], "service-port", 80))]
        for n in entries
    ]
    write_lines(plan / "entries.tsv", entry_rows)
    (plan / "stack.json").write_text(json.dumps(stack))

    write_result("header-name", header)
    for tool in TOOLS:
        used = any(by_name[n]["build"]["tool"] == tool for n in builds)
        write_result(f"run-compile-{tool}", "true" if used else "false")
    print(f"stack {ctx['stack']}: {len(apps)} apps; building {len(builds)}: {', '.join(builds)}")
    print(f"deploy order (callees first): {', '.join(order)}")


def main() -> int:
    try:
        build_plan()
    except PlanError as exc:
        print(f"resolve-stack: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
