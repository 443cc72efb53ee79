"""Reading teams in forked children (config/parallel.py): the same result as one process, or no fork."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from support.trees import write_tree
from tekton_dag.config import loading, parallel
from tekton_dag.config.loading import LoadResult, TeamCache, load_config

TEAMS = 12


def many_teams(base: Path, broken: dict[int, str] | None = None) -> Path:
    """``TEAMS`` small valid teams; ``broken`` replaces some teams' stack file text."""
    files = {}
    for i in range(TEAMS):
        files[f"teams/t{i:02}/team.yaml"] = f"name: t{i:02}\nnamespace: ns-{i}\nstacks: [stacks/s.yaml]\n"
        files[f"teams/t{i:02}/stacks/s.yaml"] = (broken or {}).get(i, f"""\
name: s{i}
apps:
  - name: web
    repo: acme/web-{i}
    role: frontend
    build: &b {{tool: npm, runtime: node}}
    downstream: [api]
  - name: api
    repo: acme/api-{i}
    role: middleware
    build: {{<<: *b, runtime: java}}
    container-port: 8080
""")
        files[f"teams/t{i:02}/versions.yaml"] = "apps:\n  web: {version: 1.0.0}\n"
    return write_tree(base, files)


@pytest.fixture
def forks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Fork for a dozen teams, on (at least) two CPUs; counts the children started.

    pytest's process may hold idle threads that earlier tests left (executors): forking anyway
    is safe enough here, as none of them holds a lock the children need."""
    monkeypatch.setattr(parallel, "MIN_TEAMS", 3)
    monkeypatch.setattr(parallel, "usable_cpus", lambda: 3)
    monkeypatch.setattr(parallel, "single_threaded", lambda: True)
    monkeypatch.delenv(parallel.PROCESSES_ENV, raising=False)
    started: list[int] = []
    child_init = parallel.Child.__init__

    def counting(self: parallel.Child, *args: object) -> None:
        child_init(self, *args)  # type: ignore[arg-type]
        started.append(self.pid)

    monkeypatch.setattr(parallel.Child, "__init__", counting)
    return started


def alone(root: Path, monkeypatch: pytest.MonkeyPatch) -> LoadResult:
    with monkeypatch.context() as patch:
        patch.setenv(parallel.PROCESSES_ENV, "1")
        return load_config(root)


def test_children_give_the_config_one_process_gives(tmp_path: Path, forks: list[int],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    root = many_teams(tmp_path)
    result = load_config(root)
    assert len(forks) == 2 and result.ok
    assert result == alone(root, monkeypatch)
    assert result.config is not None and [t.name for t in result.config.teams] == [f"t{i:02}" for i in range(TEAMS)]


def test_children_report_every_problem_in_order(tmp_path: Path, forks: list[int],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    # Problems in this process's share (team 0) and in each child's (teams 6 and 11).
    broken = {0: "name: s0\napps: []\nextra: 1\n", 6: "name: [\n", 11: "name: s11\napps:\n  - {name: Web}\n"}
    root = many_teams(tmp_path, broken)
    result = load_config(root)
    assert len(forks) == 2 and not result.ok
    assert result == alone(root, monkeypatch)
    files = [e.file for e in result.errors]
    assert files[0] == "teams/t00/stacks/s.yaml" and "teams/t06/stacks/s.yaml" in files
    assert "teams/t06/stacks/s.yaml: line 2, column 1: invalid YAML" in "\n".join(map(str, result.errors))
    assert "teams/t11/stacks/s.yaml" in files


def test_a_failing_child_leaves_its_teams_to_this_process(tmp_path: Path, forks: list[int],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    root = many_teams(tmp_path)
    expected = alone(root, monkeypatch)

    def crash(self: loading._Loader, directory: Path) -> object:
        raise RuntimeError("only in the children")

    monkeypatch.setattr(loading._Loader, "parse_team_to_send", crash)
    assert load_config(root) == expected
    assert len(forks) == 2


def test_a_reload_forks_for_the_teams_it_parses(tmp_path: Path, forks: list[int],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    root = many_teams(tmp_path)
    cache = TeamCache()
    first = load_config(root, cache)
    assert len(forks) == 2
    (root / "t03/team.yaml").write_text("name: t03\nnamespace: ns-3\nstacks: [stacks/s.yaml]\ncluster: c\n")
    second = load_config(root, cache)
    assert len(forks) == 2  # one team to parse: no fork
    assert second == alone(root, monkeypatch) and second != first
    assert second.config is not None and first.config is not None
    assert second.config.teams[0] is first.config.teams[0]  # reused from the cache
    reused = [i for i in range(TEAMS) if second.config.teams[i] is first.config.teams[i]]
    assert reused == [i for i in range(TEAMS) if i != 3]  # children's teams too: their digests came back


def test_a_first_load_into_a_cache_hashes_each_team_where_it_is_read(tmp_path: Path, forks: list[int],
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A cache with no team yet has nothing a digest could find: each team's digest is taken by
    the process that reads it (a child hashes its share), not by this one for all of them first."""
    root = many_teams(tmp_path)
    hashed: list[str] = []
    digest = loading._digest

    def counting(directory: Path) -> bytes:
        hashed.append(directory.name)  # in this process only: a child's list is its own
        return digest(directory)

    monkeypatch.setattr(loading, "_digest", counting)
    cache = TeamCache()
    assert load_config(root, cache).ok and len(forks) == 2
    own = len(parallel.shares(list(range(TEAMS)), 3)[0])
    assert hashed == [f"t{i:02}" for i in range(own)]
    hashed.clear()
    assert load_config(root, cache).ok
    assert len(hashed) == TEAMS  # a cache that holds teams: every digest first, to find them


def test_no_fork_with_other_threads_few_teams_or_one_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel, "usable_cpus", lambda: 2)
    monkeypatch.setattr(parallel, "single_threaded", lambda: True)
    monkeypatch.delenv(parallel.PROCESSES_ENV, raising=False)
    assert parallel.processes(2 * parallel.MIN_TEAMS) == 2
    assert parallel.processes(2 * parallel.MIN_TEAMS - 1) == 1
    assert parallel.processes(10 * parallel.MIN_TEAMS, env={parallel.PROCESSES_ENV: "1"}) == 1
    monkeypatch.setattr(parallel, "single_threaded", lambda: False)
    assert parallel.processes(10 * parallel.MIN_TEAMS) == 1
    monkeypatch.setattr(parallel, "single_threaded", lambda: True)
    monkeypatch.setattr(parallel, "usable_cpus", lambda: 1)
    assert parallel.processes(10 * parallel.MIN_TEAMS) == 1


@pytest.mark.parametrize("raw", ["four", "0", "-2", "2.5"])
def test_a_bad_process_cap_is_named_and_means_one_process(raw: str, monkeypatch: pytest.MonkeyPatch,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(parallel, "usable_cpus", lambda: 4)
    monkeypatch.setattr(parallel, "single_threaded", lambda: True)
    monkeypatch.setattr(parallel, "_warned", set())
    env = {parallel.PROCESSES_ENV: raw}
    assert parallel.processes(10 * parallel.MIN_TEAMS, env=env) == 1
    assert parallel.processes(10 * parallel.MIN_TEAMS, env=env) == 1
    warnings = [r.getMessage() for r in caplog.records if r.name == parallel.__name__]
    assert warnings == [f"{parallel.PROCESSES_ENV}={raw!r}: must be a whole number of processes, 1 or more "
                        "(1: never fork); reading the configuration in this process alone"]
    assert parallel.processes(10 * parallel.MIN_TEAMS, env={parallel.PROCESSES_ENV: " 3 "}) == 3


def test_a_second_thread_is_seen() -> None:
    # In a fresh interpreter: pytest's own process may already have threads.
    script = """if True:
        import threading
        from tekton_dag.config.parallel import single_threaded
        alone = single_threaded()
        release = threading.Event()
        thread = threading.Thread(target=release.wait)
        thread.start()
        print(alone, single_threaded())
        release.set()
    """
    output = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True).stdout
    assert output.split() == ["True", "False"]


def test_a_cgroup_cpu_limit_caps_the_cpus(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(parallel.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    limits = {"max 100000\n": 4, "250000 100000\n": 2, "50000 100000\n": 1}
    for text, cpus in limits.items():
        (tmp_path / "cpu.max").write_text(text)
        monkeypatch.setattr(parallel, "CPU_MAX", str(tmp_path / "cpu.max"))
        assert parallel.usable_cpus() == cpus


def test_shares_cover_every_item_once_in_order() -> None:
    items = list(range(1000))
    own, *others = parallel.shares(items, 2)
    assert list(own) + [i for share in others for i in share] == items
    assert len(own) < len(others[0])
    assert [len(s) for s in parallel.shares(items[:3], 3)] and sum(len(s) for s in parallel.shares(items[:3], 3)) == 3


def test_a_child_does_not_wait_for_this_process_to_read(tmp_path: Path) -> None:
    # 2 MB of answers: more than a pipe holds. Drained while this process is busy with its own
    # share, the child finishes meanwhile (a zombie until reaped) instead of waiting to be read.
    child = parallel.Child(lambda i: f"{i}:" + "x" * 10_000, list(range(200)))
    deadline = time.monotonic() + 60
    state = ""
    while time.monotonic() < deadline and state != "Z":
        child.drain()
        state = Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        time.sleep(0.01)
    assert state == "Z"
    assert [answer[:4] for answer in child.answers()] == [f"{i}:" + "x" * (3 - len(str(i))) for i in range(200)]


def test_a_load_that_stops_early_leaves_no_child(tmp_path: Path, forks: list[int],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    root = many_teams(tmp_path)

    def broken(documents: object) -> object:
        raise RuntimeError("building failed")

    monkeypatch.setattr(loading.building, "team_from_documents", broken)
    with pytest.raises(RuntimeError):
        load_config(root)
    assert len(forks) == 2
    for pid in forks:  # reaped: no zombie left
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)


STOP_EARLY = """
import sys
from tekton_dag.config import parallel
big = lambda i: "x" * (1 << 20)  # each answer fills a pipe
first, second = parallel.Child(big, range(4)), parallel.Child(big, range(4))
first.close()  # stopped reading early (a load that failed): the child must end on its broken pipe
second.close()
print("closed")
"""


def test_closing_a_child_early_does_not_wait_on_a_sibling_holding_its_pipe() -> None:
    """With three or more processes a later child inherited an earlier child's read end, so that
    pipe never broke and ``close`` waited forever (a load stopping early on four cores)."""
    try:
        done = subprocess.run([sys.executable, "-c", STOP_EARLY], capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("closing the first child waited on it forever")
    assert done.stdout == "closed\n", done.stderr


INTERRUPTED_CHILD = """
import os, signal
from tekton_dag.config import parallel
parent = os.getpid()
real = parallel._run_child

def interrupted(*args):
    os.kill(os.getpid(), signal.SIGINT)  # a Ctrl-C in the instant after the fork
    real(*args)

parallel._run_child = interrupted
try:
    answers = list(parallel.Child(lambda i: i * 2, list(range(5))).answers())
finally:
    print("parent" if os.getpid() == parent else "child", flush=True)
print(answers)
"""


def test_a_ctrl_c_just_after_the_fork_ends_the_child_not_a_copy_of_this_process() -> None:
    """Before the child's handlers were set, a SIGINT raised KeyboardInterrupt in the child, which
    then ran this process's code (finally blocks, output) as if it were this process."""
    done = subprocess.run([sys.executable, "-c", INTERRUPTED_CHILD], capture_output=True, text=True, timeout=60)
    assert done.stdout == "parent\n[None, None, None, None, None]\n", (done.stdout, done.stderr)
    assert "KeyboardInterrupt" not in done.stderr
