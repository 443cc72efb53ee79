"""Writing small configuration trees for tests, also as Kubernetes mounts them."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

# A valid two-team tree: alpha's shop (web -> api -> db) and beta's shop, which builds alpha's
# api repo too (fan-out across teams).
BASE: dict[str, str] = {
    "teams/alpha/team.yaml": "name: alpha\nnamespace: alpha-ci\nstacks: [stacks/shop.yaml]\n",
    "teams/alpha/stacks/shop.yaml": """\
name: shop
apps:
  - name: web
    repo: acme/web
    role: frontend
    build: {tool: npm}
    downstream: [api]
  - name: api
    repo: acme/api
    role: middleware
    build: {tool: maven}
    downstream: [db]
  - name: db
    repo: acme/db
    role: persistence
    build: {tool: gradle}
""",
    "teams/beta/team.yaml": "name: beta\nnamespace: beta-ci\nstacks: [stacks/shop.yaml]\n",
    "teams/beta/stacks/shop.yaml": """\
name: shop
apps:
  - name: api
    repo: Acme/API
    role: standalone
    build: {tool: maven}
""",
}


def write_tree(base: Path, files: Mapping[str, str | None]) -> Path:
    """Write ``files`` (relative path -> text; ``None`` deletes) under ``base``; returns base/teams."""
    for relative, text in files.items():
        path = base / relative
        if text is None:
            path.unlink(missing_ok=True)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return base / "teams"




class MountedVolume:
    """A ConfigMap or Secret volume as the kubelet's atomic writer keeps it: the files live in
    ``..<version>/``, the visible name (``teams``, or a Secret's key) is a symlink via ``..data``,
    and ``publish`` swaps ``..data`` to a new version in one step."""

    def __init__(self, mount: Path, visible: str = "teams") -> None:
        self.mount = mount
        self.visible = visible
        self.version = 0
        mount.mkdir()

    def publish(self, files: dict[str, str]) -> None:
        self.version += 1
        data = self.mount / f"..2026_11_24_06_00_00.{self.version}"
        write_tree(data, files)
        tmp_link = self.mount / "..data_tmp"
        tmp_link.symlink_to(data.name)
        os.replace(tmp_link, self.mount / "..data")  # the one atomic step
        if not (self.mount / self.visible).is_symlink():
            (self.mount / self.visible).symlink_to(f"..data/{self.visible}")

    @property
    def root(self) -> Path:
        return self.mount / self.visible
