"""Stands in for `kubectl` and the cluster behind it (pods the kubelet runs, Deployments rolling out)
for the Tekton task scripts, with a virtual clock. A program, not a module: ``task_scripts.FakeCluster``
puts it on PATH.

State lives in $FAKE_KUBE_DIR:
  clock_ms       the virtual time in milliseconds (advanced only by the fake `sleep`)
  scenario.json  per app: {"duration": s, "pending": s, "fail": bool, "stuck": bool, "log": str}
  pods.json      every pod created, with its manifest and creation/deletion times
  ops.jsonl      one line per call that matters: create, logs, delete, list (with the time and the
                 number of build pods that exist at that moment)

Objects applied with `apply -f FILE` (Deployments, Services, Lists of them) are kept in
objects.json by kind/namespace/name; `rollout status deployment/X` succeeds unless the scenario
has {"rollout-fails": true} for that Deployment's name; `wait --for=condition=Ready pod/X`
succeeds unless {"never-ready": true} for that pod's app label.

A pod is Pending for `pending` seconds, then Running for `duration` seconds, then Succeeded (or
Failed when `fail`); `stuck` keeps it Pending forever; activeDeadlineSeconds fails it with
DeadlineExceeded, as the kubelet would. Only the subcommands the scripts use are understood;
anything else exits 2 so that a script calling something unexpected fails loudly.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

STATE = Path(os.environ["FAKE_KUBE_DIR"])


def now_ms() -> int:
    return int((STATE / "clock_ms").read_text().strip() or 0)


def load(name: str, default: object) -> Any:  # the JSON of a state file
    path = STATE / name
    return json.loads(path.read_text()) if path.exists() else default


def save(name: str, value: object) -> None:
    (STATE / name).write_text(json.dumps(value))


def record(op: str, **fields: object) -> None:
    with (STATE / "ops.jsonl").open("a") as out:
        out.write(json.dumps({"t": now_ms() / 1000, "op": op, **fields}) + "\n")


def scenario_of(pod: dict[str, Any]) -> dict[str, Any]:
    app = pod["manifest"]["metadata"]["labels"].get("tekton-dag.dev/app", "")
    return {
        "duration": 1,
        "pending": 0,
        "fail": False,
        "stuck": False,
        "log": "",
        **load("scenario.json", {}).get(app, {}),
    }


def phase_of(pod: dict[str, Any]) -> tuple[str, str]:
    s = scenario_of(pod)
    elapsed = (now_ms() - pod["created_ms"]) / 1000
    deadline = pod["manifest"]["spec"].get("activeDeadlineSeconds")
    if s["stuck"] or elapsed < s["pending"]:
        return "Pending", "ImagePullBackOff" if s["stuck"] else "ContainerCreating"
    if elapsed < s["pending"] + s["duration"]:
        if deadline is not None and elapsed >= deadline:
            return "Failed", "DeadlineExceeded"
        return "Running", ""
    return ("Failed", "Error") if s["fail"] else ("Succeeded", "Completed")


def matches(pod: dict[str, Any], selector: str) -> bool:
    labels = pod["manifest"]["metadata"].get("labels", {})
    for term in filter(None, selector.split(",")):
        key, _, value = term.partition("=")
        if labels.get(key) != value:
            return False
    return True


def live_pods() -> dict[str, Any]:
    return {n: p for n, p in load("pods.json", {}).items() if p.get("deleted_ms") is None}


def option(args: list[str], *names: str) -> str | None:
    for i, arg in enumerate(args):
        for name in names:
            if arg == name and i + 1 < len(args):
                return args[i + 1]
            if arg.startswith(name + "="):
                return arg.split("=", 1)[1]
    return None


def create(args: list[str]) -> int:
    if option(args, "-f", "--filename") != "-":
        return unsupported(args)
    manifest = json.load(sys.stdin)
    pods = load("pods.json", {})
    name = manifest["metadata"]["name"]
    if name in pods and pods[name].get("deleted_ms") is None:
        print(f'Error from server (AlreadyExists): pods "{name}" already exists', file=sys.stderr)
        return 1
    pods[name] = {"manifest": manifest, "created_ms": now_ms(), "deleted_ms": None}
    save("pods.json", pods)
    record("create", pod=name, existing=len(live_pods()))
    print(f"pod/{name} created")
    return 0


def get(args: list[str]) -> int:
    kind = args[0] if args else ""
    if kind.startswith("deployment/"):
        return get_object(args)
    if kind == "events":
        print("LAST SEEN   TYPE      REASON    OBJECT   MESSAGE")
        print("1s          Warning   Failed    pod      simulated event")
        return 0
    if kind in ("pods", "pod") and option(args, "-o", "--output") == "name":
        selector = option(args, "-l", "--selector") or ""
        for name, pod in live_pods().items():
            if matches(pod, selector) and pod["manifest"]["metadata"].get("namespace", "default") == namespace_of(args):
                print(f"pod/{name}")
        return 0
    if kind not in ("pods", "pod") or option(args, "-o", "--output") != "json":
        return unsupported(args)
    selector = option(args, "-l", "--selector") or ""
    items = []
    for pod in live_pods().values():
        if matches(pod, selector):
            phase, reason = phase_of(pod)
            state = {"waiting": {"reason": reason}} if phase == "Pending" else {"terminated": {"reason": reason}}
            items.append({"metadata": pod["manifest"]["metadata"],
                          "status": {"phase": phase, "containerStatuses": [{"name": "build", "state": state}]}})
    record("list", selector=selector, existing=len(live_pods()))
    json.dump({"apiVersion": "v1", "kind": "List", "items": items}, sys.stdout)
    return 0


def logs(args: list[str]) -> int:
    name = args[0].split("/", 1)[-1]  # NAME or pod/NAME
    pod = live_pods().get(name)
    if pod is None:
        print(f'Error from server (NotFound): pods "{name}" not found', file=sys.stderr)
        return 1
    record("logs", pod=name)
    log_file = scenario_of(pod).get("log-file")
    if log_file:  # a log that grows while the test runs (e.g. the intercept forwarder's)
        print(Path(log_file).read_text() if Path(log_file).exists() else "", end="")
        return 0
    text = scenario_of(pod)["log"] or f"INFO building {name}\nINFO pushed"
    print(text)
    return 0


def delete(args: list[str]) -> int:
    if args and "," in args[0]:
        return delete_labelled(args)
    pods = load("pods.json", {})
    selector = option(args, "-l", "--selector")
    if selector is not None:
        targets = [n for n, p in live_pods().items() if matches(p, selector)]
    else:
        targets = [args[1]] if len(args) > 1 else []
        missing = [n for n in targets if n not in live_pods()]
        if missing and "--ignore-not-found" not in args:
            print(f'Error from server (NotFound): pods "{missing[0]}" not found', file=sys.stderr)
            return 1
        targets = [n for n in targets if n in live_pods()]
    for name in targets:
        pods[name]["deleted_ms"] = now_ms()
        record("delete", pod=name)
    save("pods.json", pods)
    return 0


def namespace_of(args: list[str]) -> str:
    return option(args, "-n", "--namespace") or "default"


def apply(args: list[str]) -> int:
    path = option(args, "-f", "--filename")
    if not path or path == "-":
        return unsupported(args)
    doc = json.loads(Path(path).read_text())
    objects = load("objects.json", {})
    for item in doc.get("items", [doc]):
        key = f"{item['kind']}/{item['metadata'].get('namespace', 'default')}/{item['metadata']['name']}"
        objects[key] = item
        record("apply", object=key)
        print(f"{item['kind'].lower()}/{item['metadata']['name']} configured")
    save("objects.json", objects)
    return 0


def rollout(args: list[str]) -> int:
    if args[:1] != ["status"] or not args[1].startswith("deployment/"):
        return unsupported(args)
    name = args[1].split("/", 1)[1]
    key = f"Deployment/{namespace_of(args)}/{name}"
    record("rollout", object=key)
    if key not in load("objects.json", {}):
        print(f'Error from server (NotFound): deployments.apps "{name}" not found', file=sys.stderr)
        return 1
    if load("scenario.json", {}).get(name, {}).get("rollout-fails"):
        print(f'error: deployment "{name}" exceeded its progress deadline', file=sys.stderr)
        return 1
    print(f'deployment "{name}" successfully rolled out')
    return 0


def wait(args: list[str]) -> int:
    target = next((a for a in args if a.startswith("pod/")), None)
    if target is None:
        return unsupported(args)
    pod = live_pods().get(target.split("/", 1)[1])
    record("wait", pod=target)
    if pod is None or scenario_of(pod).get("never-ready"):
        print(f"error: timed out waiting for the condition on {target}", file=sys.stderr)
        return 1
    return 0


def get_object(args: list[str]) -> int:
    kind, _, name = args[0].partition("/")
    key = f"{kind.capitalize()}/{namespace_of(args)}/{name}"
    if key not in load("objects.json", {}):
        print(f'Error from server (NotFound): {kind}s "{name}" not found', file=sys.stderr)
        return 1
    print(f"{kind}/{name}")
    return 0


def delete_labelled(args: list[str]) -> int:
    """delete deployments,services,pods -n NS -l SEL: objects and pods carrying the labels."""
    selector, namespace = option(args, "-l", "--selector") or "", namespace_of(args)
    objects = load("objects.json", {})
    for key in [k for k, o in objects.items() if k.split("/")[1] == namespace and matches({"manifest": o}, selector)]:
        del objects[key]
        record("delete", object=key)
    save("objects.json", objects)
    pods = load("pods.json", {})
    for name, pod in live_pods().items():
        if pod["manifest"]["metadata"].get("namespace", namespace) == namespace and matches(pod, selector):
            pods[name]["deleted_ms"] = now_ms()
            record("delete", pod=name)
    save("pods.json", pods)
    return 0


def unsupported(args: list[str]) -> int:
    print(f"fake kubectl: unsupported call: kubectl {' '.join(args)}", file=sys.stderr)
    return 2


def main(argv: list[str]) -> int:
    commands = {"create": create, "get": get, "logs": logs, "delete": delete, "apply": apply,
                "rollout": rollout, "wait": wait}
    if not argv or argv[0] not in commands:
        return unsupported(argv)
    return commands[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
