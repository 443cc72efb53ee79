"""Every step's results fit its termination message in the worst case the configuration allows.

Tekton passes results back through the container's termination message (4096 bytes, shared with
Tekton's own entries, and a pod's 12 KiB split among its containers): see the rules and sources in
tekton_dag/testing/tekton_rules.py. Results must not grow with the number of apps; the plan goes
through the workspace. The bounds come from the stack schema itself, so a looser schema is seen.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tekton_dag.testing.tekton_rules import check_results, result_budget, termination_message

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "functions/core/tekton_dag/config/schemas/stack.schema.json").read_text())
TASKS = {
    d["metadata"]["name"]: d for d in (yaml.safe_load(f.read_text()) for f in sorted((ROOT / "tasks").glob("*.yaml")))
}
TOOLS = SCHEMA["definitions"]["app"]["properties"]["build"]["properties"]["tool"]["enum"]
# No schema bound on the number of apps: 40 is the commerce team's bootstrap; 400 shows no growth.
APP_COUNTS = (40, 400)
# The longest values each result can take, where no script has to run to know them.
STATIC_WORST = {
    ("validate-intercepts", "summary"): json.dumps(
        {"header_reached_pr_build": False, "ordinary_traffic_stayed_stable": False, "stable_answered": False},
        separators=(",", ":")),
}


def longest(max_length: int, stem: str) -> str:
    return (stem + "-" + "x" * max_length)[:max_length]


def worst_case_stack(apps: int) -> dict:
    """Every app at the schema's longest name, each calling the next; every tool used."""
    name_max = SCHEMA["definitions"]["app"]["properties"]["name"].get("maxLength", 63)
    header_max = SCHEMA["properties"]["propagation"]["properties"]["header-name"].get("maxLength")
    assert header_max, "stack.schema.json must bound propagation.header-name (it is a result)"
    names = [longest(name_max, f"a{i:03d}") for i in range(apps)]
    return {
        "name": longest(63, "stack"),
        "propagation": {"header-name": "x" * header_max},
        "apps": [{"name": n, "repo": f"o/{n}", "role": "middleware", "build": {"tool": TOOLS[i % len(TOOLS)]},
                  "downstream": names[i + 1:i + 2]} for i, n in enumerate(names)],
    }


def run_resolve(tmp: Path, apps: int) -> dict[str, str]:
    results = tmp / f"results-{apps}"
    results.mkdir()
    declared = [r["name"] for r in TASKS["resolve-stack"]["spec"]["results"]]
    stack = worst_case_stack(apps)
    env = {"STACK_JSON": json.dumps(stack), "IMAGE_REGISTRY": "r" * 200, "IMAGE_TAG": "t" * 128,
           "WORKSPACE_PATH": str(tmp / f"ws-{apps}"), "RUN_NAME": "r" * 63, "TASKRUN_NAMESPACE": "n" * 63,
           "TEAM": "t" * 63, "PR_NUMBER": "9" * 20,
           "VERSIONS_JSON": json.dumps({a["name"]: {"version": "9" * 40} for a in stack["apps"]}),
           **{"RESULT_" + r.upper().replace("-", "_"): str(results / r) for r in declared}}
    proc = subprocess.run([sys.executable, str(ROOT / "tasks/scripts/resolve_stack.py")], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return {r: (results / r).read_text() for r in declared if (results / r).exists()}


def test_resolve_stack_results_stay_in_budget_and_do_not_grow_with_the_apps(tmp_path):
    task = TASKS["resolve-stack"]
    [step] = task["spec"]["steps"]
    sizes = {}
    for apps in APP_COUNTS:
        results = run_resolve(tmp_path, apps)
        assert check_results("resolve-stack", task, {step["name"]: results}) == []
        sizes[apps] = len(termination_message(results))
    assert sizes[APP_COUNTS[0]] == sizes[APP_COUNTS[1]], sizes
    print(f"\nresolve-stack worst-case termination message: {sizes[APP_COUNTS[0]]} of {result_budget(task)} bytes")


def test_every_declared_result_is_measured_here():
    declared = {(name, r["name"]) for name, task in TASKS.items() for r in task["spec"].get("results", [])}
    measured = {("resolve-stack", r["name"]) for r in TASKS["resolve-stack"]["spec"]["results"]} | set(STATIC_WORST)
    assert declared == measured, "a new result needs its worst case measured in this file"


@pytest.mark.parametrize(("task", "result"), sorted(STATIC_WORST))
def test_fixed_shape_results_fit(task, result):
    [step] = TASKS[task]["spec"]["steps"]
    assert check_results(task, TASKS[task], {step["name"]: {result: STATIC_WORST[(task, result)]}}) == []
