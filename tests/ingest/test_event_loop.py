"""Every function serves on uvloop (``tekton_dag.functions.loops``): func-python's ``asyncio.run``
takes its loop from the policy that importing ``function/func.py`` (what ``func build`` runs) sets."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import uvloop

from tekton_dag.functions import loops

ROOT = Path(__file__).parents[2]
FUNC_PY = sorted([*ROOT.glob("functions/*/function/func.py"), ROOT / "function" / "func.py"])


def loop_class() -> type:
    loop = asyncio.new_event_loop()
    try:
        return type(loop)
    finally:
        loop.close()


def test_uvloop_is_the_default_and_asyncio_one_setting_away() -> None:
    asyncio.set_event_loop_policy(None)  # what a process starts with
    assert loops.install({loops.EVENT_LOOP_ENV: "asyncio"}) == "asyncio" and loop_class() is not uvloop.Loop
    assert loops.install({}) == "uvloop" and loop_class() is uvloop.Loop


def test_an_unknown_loop_is_refused_naming_the_variable() -> None:
    with pytest.raises(SystemExit, match=r"TEKTON_DAG_EVENT_LOOP='trio': must be one of uvloop, asyncio"):
        loops.install({loops.EVENT_LOOP_ENV: "trio"})


@pytest.mark.parametrize("path", FUNC_PY, ids=lambda p: p.parent.parent.name)
def test_importing_a_func_project_chooses_uvloop_for_func_python(path: Path) -> None:
    asyncio.set_event_loop_policy(None)
    spec = importlib.util.spec_from_file_location(f"func_loop_{path.parent.parent.name.replace('-', '_')}", path)
    assert spec is not None and spec.loader is not None
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
    assert isinstance(asyncio.get_event_loop_policy(), uvloop.EventLoopPolicy)


def test_asyncio_run_in_a_process_that_installed_it_runs_uvloop() -> None:
    """func-python serves with ``asyncio.run``; a fresh process shows what that call runs on."""
    code = (
        "import asyncio\n"
        "from tekton_dag.functions import loops\n"
        "loops.install()\n"
        "async def which():\n"
        "    return type(asyncio.get_running_loop()).__module__\n"
        "print(asyncio.run(which()))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "uvloop"


def test_each_all_in_one_worker_serves_on_uvloop(monkeypatch: pytest.MonkeyPatch) -> None:
    """``tekton-dag serve all-in-one --workers N`` forks workers that call ``asyncio.run`` themselves
    (not through ``serving.serve``): each must choose the loop too."""
    from tekton_dag.cli import workers

    asyncio.set_event_loop_policy(None)
    ran: list[object] = []

    def run(coroutine: object) -> None:
        ran.append(asyncio.get_event_loop_policy())
        coroutine.close()  # type: ignore[attr-defined]

    monkeypatch.setattr(workers, "die_with_parent", lambda env: None)
    monkeypatch.setattr(workers.signal, "signal", lambda *args: None)
    class Function:
        async def handle(self, scope: object, receive: object, send: object) -> None: ...

    monkeypatch.setattr(workers.all_in_one, "new", Function)
    monkeypatch.setattr("tekton_dag.functions.limits.install", lambda: None)
    monkeypatch.setattr(asyncio, "run", run)
    env = {key: value for key, value in os.environ.items() if key != loops.EVENT_LOOP_ENV}
    assert workers._worker(0, ["fd://3"], env) == 0
    assert len(ran) == 1 and isinstance(ran[0], uvloop.EventLoopPolicy)


@pytest.mark.parametrize("path", FUNC_PY, ids=lambda p: p.parent.parent.name)
def test_importing_a_func_project_loads_its_configuration_before_func_python_serves(
        path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As ``tekton-dag serve`` does (``configs.preload``): loaded while the process has no server
    threads yet, for the function's ConfigSource to take."""
    from support.trees import BASE, write_tree
    from tekton_dag.functions import configs

    root = write_tree(tmp_path, BASE)
    monkeypatch.setenv("TEKTON_DAG_TEAMS_DIR", str(root))
    monkeypatch.setenv("TEKTON_DAG_CONFIG_CACHE", "off")
    monkeypatch.setattr(configs, "_preloaded", {})
    spec = importlib.util.spec_from_file_location(f"func_config_{path.parent.parent.name.replace('-', '_')}", path)
    assert spec is not None and spec.loader is not None
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
    store, _ = configs._preloaded[str(root)]
    assert store.config is not None and [t.name for t in store.config.teams] == ["alpha", "beta"]
