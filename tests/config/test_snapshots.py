"""The validated snapshot cache: used only while every file and the code are as they were."""

from __future__ import annotations

import marshal
import os
import time
from pathlib import Path

import pytest

from support.trees import BASE, write_tree
from tekton_dag.config import loading, snapshots
from tekton_dag.config.loading import load_config
from tekton_dag.config.snapshots import load_config_cached


def settled(root: Path, age_s: float = 60) -> None:
    """Files last modified ``age_s`` ago: not "racily clean", so a snapshot may be written."""
    stamp = time.time() - age_s
    for path in root.rglob("*"):
        os.utime(path, (stamp, stamp))


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    write_tree(tmp_path, BASE)
    settled(tmp_path / "teams")
    return tmp_path / "teams"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {snapshots.CACHE_ENV: str(tmp_path / "cache")}


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every file the loader parses (a snapshot hit parses none)."""
    seen: list[str] = []
    read = loading.read_yaml

    def counting(path: Path, shown_as: str, native: bool = True):  # type: ignore[no-untyped-def]
        seen.append(shown_as)
        return read(path, shown_as, native)

    monkeypatch.setattr(loading, "read_yaml", counting)
    return seen


def snapshot_files(env: dict[str, str]) -> list[Path]:
    return sorted(Path(env[snapshots.CACHE_ENV]).glob("*.snapshot"))


def test_a_second_load_comes_from_the_snapshot_and_equals_a_load(tree: Path, env: dict[str, str],
                                                                   parses: list[str]) -> None:
    first = load_config_cached(tree, env=env)
    assert len(parses) == 4 and len(snapshot_files(env)) == 1
    parses.clear()
    second = load_config_cached(tree, env=env)
    assert parses == []
    assert second == first == load_config(tree)


def test_a_touched_file_is_read_again(tree: Path, env: dict[str, str], parses: list[str]) -> None:
    load_config_cached(tree, env=env)
    stamp = time.time() - 30  # another time, same content and size
    os.utime(tree / "beta" / "stacks" / "shop.yaml", (stamp, stamp))
    parses.clear()
    assert load_config_cached(tree, env=env).ok
    assert len(parses) == 4


def test_an_edit_is_seen(tree: Path, env: dict[str, str]) -> None:
    load_config_cached(tree, env=env)
    team = tree / "beta" / "team.yaml"
    team.write_text(team.read_text().replace("beta-ci", "beta-ci2"))
    settled(tree, 20)
    assert load_config_cached(tree, env=env).config.team("beta").namespace == "beta-ci2"  # type: ignore[union-attr]


def test_another_code_version_does_not_trust_the_snapshot(tree: Path, env: dict[str, str], parses: list[str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    load_config_cached(tree, env=env)
    monkeypatch.setattr(snapshots, "code_version", lambda: "99.0 another")
    parses.clear()
    assert load_config_cached(tree, env=env).ok
    assert len(parses) == 4


@pytest.mark.parametrize("damage", [b"", b"not marshal at all", b"\xe9" * 64, "truncated", "format 1"])
def test_a_corrupt_snapshot_is_ignored(tree: Path, env: dict[str, str], damage: bytes | str) -> None:
    load_config_cached(tree, env=env)
    (path,) = snapshot_files(env)
    data = path.read_bytes()
    if damage == "format 1":  # what the version before wrote: one marshalled (key, documents)
        damage = marshal.dumps((snapshots.stored_key(data), [({"no": "name"}, "x", [], None)]))
    path.write_bytes(data[:100] if damage == "truncated" else damage)  # type: ignore[arg-type]
    assert load_config_cached(tree, env=env) == load_config(tree)


def test_a_stale_snapshot_is_refused_by_its_key_without_reading_its_documents(
        tree: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    load_config_cached(tree, env=env)
    (path,) = snapshot_files(env)
    size = path.stat().st_size
    os.utime(tree / "beta" / "team.yaml", (time.time() - 30, time.time() - 30))  # the files changed since
    unmarshalled: list[int] = []

    class Counting:
        dumps = staticmethod(marshal.dumps)

        @staticmethod
        def loads(raw: bytes) -> object:
            unmarshalled.append(len(raw))
            return marshal.loads(raw)

    monkeypatch.setattr(snapshots, "marshal", Counting)
    assert load_config_cached(tree, env=env) == load_config(tree)
    # One read, of the key alone (323 of the file's 903 bytes here): not of the documents behind it.
    assert len(unmarshalled) == 1 and unmarshalled[0] < size // 2


def test_a_foreign_snapshot_with_the_right_key_but_bad_documents_is_ignored(tree: Path, env: dict[str, str]) -> None:
    load_config_cached(tree, env=env)
    (path,) = snapshot_files(env)
    key = snapshots.stored_key(path.read_bytes())
    path.write_bytes(snapshots.pack(key, [({"no": "name"}, "x", [], None)]))  # type: ignore[list-item]
    assert load_config_cached(tree, env=env) == load_config(tree)


def test_an_invalid_config_reports_every_error_and_is_not_cached(tree: Path, env: dict[str, str]) -> None:
    stack = tree / "beta" / "stacks" / "shop.yaml"
    stack.write_text(stack.read_text().replace("tool: maven", "tool: ant"))
    settled(tree)
    result = load_config_cached(tree, env=env)
    assert result.config is None
    assert result.errors == load_config(tree).errors
    assert [(e.file, e.path) for e in result.errors] == [("teams/beta/stacks/shop.yaml", "apps[0].build.tool")]
    assert snapshot_files(env) == []


def test_an_invalid_edit_after_a_snapshot_reports_its_errors(tree: Path, env: dict[str, str]) -> None:
    load_config_cached(tree, env=env)
    stack = tree / "beta" / "stacks" / "shop.yaml"
    stack.write_text(stack.read_text().replace("tool: maven", "tool: ant"))
    result = load_config_cached(tree, env=env)
    assert result.config is None and result.errors == load_config(tree).errors


def test_files_changed_just_now_are_not_snapshotted(tree: Path, env: dict[str, str]) -> None:
    settled(tree, 0)  # within the timestamp granularity an edit could keep the same fingerprint
    assert load_config_cached(tree, env=env).ok
    assert snapshot_files(env) == []


def test_a_read_only_cache_directory_only_means_no_snapshot(tree: Path, tmp_path: Path) -> None:
    if os.geteuid() == 0:  # root writes through permissions: use a path that cannot be a directory
        (tmp_path / "file").write_text("")
        env = {snapshots.CACHE_ENV: str(tmp_path / "file" / "cache")}
    else:
        (tmp_path / "ro").mkdir(mode=0o500)
        env = {snapshots.CACHE_ENV: str(tmp_path / "ro")}
    assert load_config_cached(tree, env=env) == load_config(tree)
    assert load_config_cached(tree, env=env) == load_config(tree)


def test_off_disables_the_cache(tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert snapshots.cache_dir({"XDG_CACHE_HOME": str(tmp_path / "xdg")}) == tmp_path / "xdg" / "tekton-dag"
    assert snapshots.cache_dir({snapshots.CACHE_ENV: "off"}) is None
    assert load_config_cached(tree, env={snapshots.CACHE_ENV: "off"}).ok
    assert not (tmp_path / "xdg").exists()


def test_the_root_is_as_the_caller_spelled_it(tree: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tree.parent)
    load_config_cached("teams", env=env)
    assert load_config_cached("teams", env=env).config.root == "teams"  # type: ignore[union-attr]


def test_a_new_empty_team_directory_is_not_hidden_by_a_snapshot(tree: Path, env: dict[str, str]) -> None:
    """Every visible directory is a team to the load: one without a team.yaml yet is an error,
    which a snapshot of the tree before it must not answer for."""
    assert load_config_cached(tree, env=env).ok and len(snapshot_files(env)) == 1
    (tree / "gamma").mkdir()  # no file changes: only the directory is new
    cached, loaded = load_config_cached(tree, env=env), load_config(tree)
    assert not loaded.ok
    assert cached.errors == loaded.errors
    (tree / "gamma").rmdir()
    assert load_config_cached(tree, env=env).ok
