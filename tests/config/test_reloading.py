"""Serving the last good config while files change, as a ConfigMap volume changes them."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from support.trees import BASE, MountedVolume, write_tree
from tekton_dag.config.reloading import ConfigStore, Refresh, Snapshot

BROKEN_ALPHA = {"teams/alpha/team.yaml": "name: alpha\nnamespace: NOPE\nstacks: [stacks/shop.yaml]\n"}
GAMMA = {
    "teams/gamma/team.yaml": "name: gamma\nnamespace: gamma-ci\nstacks: [stacks/s.yaml]\n",
    "teams/gamma/stacks/s.yaml": "name: s\napps:\n  - {name: x, repo: acme/x, role: standalone, build: {tool: pip}}\n",
}


def team_names(store: ConfigStore) -> list[str]:
    assert store.config is not None
    return [t.name for t in store.config.teams]


def test_first_refresh_loads_then_nothing_changes(tmp_path: Path) -> None:
    store = ConfigStore(write_tree(tmp_path, BASE))
    assert store.config is None and store.refresh() is Refresh.LOADED
    assert team_names(store) == ["alpha", "beta"] and store.errors == ()
    assert store.refresh() is Refresh.UNCHANGED
    assert store.index is not None and len(store.index.lookup("acme/api")) == 2


def test_a_config_map_symlink_swap_is_picked_up_atomically(tmp_path: Path) -> None:
    volume = MountedVolume(tmp_path / "config")
    volume.publish(BASE)
    store = ConfigStore(volume.root)
    seen: list[Snapshot] = []
    store.on_change(seen.append)
    assert store.refresh() is Refresh.LOADED
    volume.publish({**BASE, **GAMMA})
    assert store.refresh() is Refresh.LOADED
    assert team_names(store) == ["alpha", "beta", "gamma"]
    assert [len(s.config.teams) for s in seen] == [2, 3]
    assert seen[-1].index.lookup("ACME/X")[0].team.name == "gamma"  # index and config swap together


def test_an_invalid_change_keeps_the_last_good_config_and_reports(tmp_path: Path,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    volume = MountedVolume(tmp_path / "config")
    volume.publish(BASE)
    store = ConfigStore(volume.root)
    store.refresh()
    good = store.snapshot
    volume.publish({**BASE, **BROKEN_ALPHA})
    with caplog.at_level(logging.ERROR, logger="tekton_dag.config.reloading"):
        assert store.refresh() is Refresh.REJECTED
    assert store.snapshot is good
    assert [str(e) for e in store.errors] == [
        'teams/alpha/team.yaml: namespace: "NOPE" is not a DNS-1123 label (lowercase letters, digits and \'-\', '
        "starting and ending with a letter or digit, at most 63 characters)"]
    assert "keeping the previous configuration" in caplog.text and "NOPE" in caplog.text
    assert store.refresh() is Refresh.UNCHANGED  # the same broken tree is not reloaded and re-reported
    volume.publish({**BASE, **GAMMA})
    assert store.refresh() is Refresh.LOADED and store.errors == ()
    assert team_names(store) == ["alpha", "beta", "gamma"]


def test_an_invalid_first_config_serves_nothing(tmp_path: Path) -> None:
    store = ConfigStore(write_tree(tmp_path, {**BASE, **BROKEN_ALPHA}))
    assert store.refresh() is Refresh.REJECTED
    assert store.config is None and store.index is None and len(store.errors) == 1


def test_editing_a_file_in_place_is_noticed(tmp_path: Path) -> None:
    root = write_tree(tmp_path, BASE)
    store = ConfigStore(root)
    store.refresh()
    team_file = root / "alpha" / "team.yaml"
    team_file.write_text(team_file.read_text().replace("alpha-ci", "alpha-builds"))
    assert store.refresh() is Refresh.LOADED
    assert store.config.team("alpha").namespace == "alpha-builds"  # type: ignore[union-attr]


def test_a_tree_changing_during_the_load_is_loaded_again(tmp_path: Path) -> None:
    root = write_tree(tmp_path, BASE)
    calls = []

    def load_while_someone_writes(path: Path):  # type: ignore[no-untyped-def]
        from tekton_dag.config.loading import load_config

        calls.append(path)
        if len(calls) == 1:  # a second writer finishes while the first load runs
            write_tree(tmp_path, GAMMA)
        return load_config(path)

    store = ConfigStore(root, load=load_while_someone_writes)
    assert store.refresh() is Refresh.LOADED
    assert len(calls) == 2 and team_names(store) == ["alpha", "beta", "gamma"]


async def test_watch_reloads_in_the_background(tmp_path: Path) -> None:
    volume = MountedVolume(tmp_path / "config")
    volume.publish(BASE)
    store = ConfigStore(volume.root)
    changed = asyncio.Event()
    loop = asyncio.get_running_loop()
    store.on_change(lambda snapshot: loop.call_soon_threadsafe(changed.set))  # listeners run in the load thread
    watcher = asyncio.create_task(store.watch(interval=0.02))
    try:
        await asyncio.wait_for(changed.wait(), 5)
        changed.clear()
        volume.publish({**BASE, **GAMMA})
        await asyncio.wait_for(changed.wait(), 5)
        assert team_names(store) == ["alpha", "beta", "gamma"]
    finally:
        watcher.cancel()
        with pytest.raises(asyncio.CancelledError):
            await watcher


def test_unchanged_teams_are_reused_across_reloads(tmp_path: Path) -> None:
    volume = MountedVolume(tmp_path / "config")
    volume.publish(BASE)
    store = ConfigStore(volume.root)
    store.refresh()
    alpha, beta = store.config.teams  # type: ignore[union-attr]
    beta_changed = {"teams/beta/team.yaml": BASE["teams/beta/team.yaml"].replace("beta-ci", "beta-builds")}
    volume.publish({**BASE, **beta_changed})  # every file is new on disk, only beta's content differs
    assert store.refresh() is Refresh.LOADED
    new_alpha, new_beta = store.config.teams  # type: ignore[union-attr]
    assert new_alpha is alpha
    assert new_beta is not beta and new_beta.namespace == "beta-builds"


def test_checks_across_teams_still_see_reused_teams(tmp_path: Path) -> None:
    root = write_tree(tmp_path, BASE)
    store = ConfigStore(root)
    store.refresh()
    write_tree(tmp_path, {"teams/beta/team.yaml": BASE["teams/beta/team.yaml"].replace("beta-ci", "alpha-ci")})
    assert store.refresh() is Refresh.REJECTED  # alpha came from the cache, its namespace still counts
    assert {e.file for e in store.errors} == {"teams/alpha/team.yaml", "teams/beta/team.yaml"}


def test_a_cached_team_broken_later_is_reported(tmp_path: Path) -> None:
    root = write_tree(tmp_path, BASE)
    store = ConfigStore(root)
    store.refresh()
    write_tree(tmp_path, BROKEN_ALPHA)
    assert store.refresh() is Refresh.REJECTED and len(store.errors) == 1
    write_tree(tmp_path, {"teams/alpha/team.yaml": BASE["teams/alpha/team.yaml"]})
    assert store.refresh() is Refresh.LOADED and store.errors == ()


async def test_a_function_reports_reloads_and_the_state_of_its_config_as_metrics(tmp_path: Path) -> None:
    from prometheus_client import REGISTRY

    from tekton_dag.functions.configs import ConfigSource
    from tekton_dag.observability import metrics

    def sample(name: str, **labels: str) -> float:
        metrics.make()  # as a scrape does (metrics.exposition): updates recorded before are applied then
        return REGISTRY.get_sample_value(name, labels) or 0.0

    volume = MountedVolume(tmp_path / "config")
    volume.publish(BASE)
    ok = sample("tektondag_config_reloads_total", result="ok")
    invalid = sample("tektondag_config_reloads_total", result="invalid")
    source = ConfigSource(str(volume.root), reload_interval=0.02)
    try:
        assert sample("tektondag_config_last_reload_successful") == 1
        first = sample("tektondag_config_loaded_timestamp_seconds")
        assert first > 0
        volume.publish({**BASE, **BROKEN_ALPHA})
        for _ in range(250):
            if sample("tektondag_config_last_reload_successful") == 0:
                break
            await asyncio.sleep(0.02)
        assert sample("tektondag_config_last_reload_successful") == 0
        assert sample("tektondag_config_reloads_total", result="invalid") == invalid + 1
        assert sample("tektondag_config_loaded_timestamp_seconds") == first  # the old one is still in use
        volume.publish({**BASE, **GAMMA})
        for _ in range(250):
            if sample("tektondag_config_last_reload_successful") == 1:
                break
            await asyncio.sleep(0.02)
        assert sample("tektondag_config_reloads_total", result="ok") == ok + 2
        assert sample("tektondag_config_loaded_timestamp_seconds") > first
    finally:
        source.close()


async def test_a_function_serves_the_load_made_before_its_server_started_then_follows_changes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``tekton-dag serve`` loads before the server's threads exist (``configs.preload``: the load
    may then fork); the function's ConfigSource serves that load without loading again, and a
    change made after it is found by the next refresh, as after any load."""
    from tekton_dag.functions import configs

    def served(source: configs.ConfigSource) -> list[str]:
        config = source.current()
        assert config is not None
        return [team.name for team in config.teams]

    monkeypatch.setenv("TEKTON_DAG_CONFIG_CACHE", "off")
    loads: list[Path] = []
    load = configs.load_config_cached

    def counting(root: Path, *args: object, **kwargs: object) -> object:
        loads.append(root)
        return load(root, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(configs, "load_config_cached", counting)
    volume = MountedVolume(tmp_path / "config")
    volume.publish(BASE)
    configs.preload(str(volume.root))
    assert len(loads) == 1
    volume.publish({**BASE, **GAMMA})  # after the preload, before the function starts
    source = configs.ConfigSource(str(volume.root), reload_interval=0.02)
    try:
        assert len(loads) == 1  # the preload's, not a second one
        assert served(source) == ["alpha", "beta"]
        for _ in range(250):
            if len(served(source)) == 3:
                break
            await asyncio.sleep(0.02)
        assert served(source) == ["alpha", "beta", "gamma"]
        assert len(loads) == 2
        other = configs.ConfigSource(str(volume.root), reload_interval=0)  # taken once: this one loads
        assert len(loads) == 3 and other.current() is not None
    finally:
        source.close()


def test_removing_an_empty_team_directory_ends_its_error(tmp_path: Path) -> None:
    root = write_tree(tmp_path, BASE)
    store = ConfigStore(root)
    assert store.refresh() is Refresh.LOADED
    (root / "gamma").mkdir()  # a team begun: no team.yaml yet
    assert store.refresh() is Refresh.REJECTED
    assert [e.message for e in store.errors] == ["missing: every team directory needs a team.yaml"]
    (root / "gamma").rmdir()
    assert store.refresh() is Refresh.LOADED and store.errors == ()


@pytest.mark.parametrize("kind", ["store", "function"])
def test_a_team_read_while_it_changed_is_not_reused_after_the_change_is_undone(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    """The store drops a load during which the tree changed; the teams that load kept (each under
    the digest taken before its files were parsed) must go with it. Before, a change written
    during the parse and undone right after left the changed team under the old digest, and the
    next load served it while the files said otherwise."""
    from tekton_dag.config import loading
    from tekton_dag.functions import configs

    root = write_tree(tmp_path, BASE)
    monkeypatch.setenv("TEKTON_DAG_CONFIG_CACHE", "off")
    store = ConfigStore(root) if kind == "store" else configs._store(str(root))  # a function's own store
    assert store.refresh() is Refresh.LOADED
    team_file = root / "alpha" / "team.yaml"
    original = team_file.read_text()
    team_file.write_text(original.replace("alpha-ci", "alpha-two"))  # a change the next refresh loads
    parse, writes = loading._Loader.parse_team, []

    def parse_during_a_write(self, directory):  # type: ignore[no-untyped-def]
        if directory.name != "alpha" or writes:
            return parse(self, directory)
        writes.append(1)  # between the digest and the parse someone writes, and undoes it at once
        team_file.write_text(original.replace("alpha-ci", "alpha-three"))
        try:
            return parse(self, directory)
        finally:
            team_file.write_text(original.replace("alpha-ci", "alpha-two"))

    monkeypatch.setattr(loading._Loader, "parse_team", parse_during_a_write)
    assert store.refresh() is Refresh.LOADED  # the tree changed during the load: loaded again
    assert writes == [1]
    assert store.config is not None and store.config.team("alpha").namespace == "alpha-two"
