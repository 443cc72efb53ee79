"""yaml-rs is imported only when a load has many teams to parse: for a few teams libyaml's event path
costs about the same CPU and ~7 MB less memory in every function's process. Either way the data is
what ``yaml.safe_load`` gives (tests/config/test_fastyaml.py, test_documents.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tekton_dag.config.loading import NATIVE_PARSER_TEAMS

TEAM = "name: {name}\nnamespace: {name}-ci\nstacks: [stacks/shop.yaml]\n"
STACK = "name: shop\napps:\n  - name: web\n    repo: acme/{name}-web\n    role: frontend\n    build: {{tool: npm}}\n"

PROBE = """
import sys
from tekton_dag.config.loading import load_config
result = load_config(sys.argv[1])
assert result.config is not None, result.errors
print(len(result.config.teams), "yaml_rs" in sys.modules)
"""


def teams(root: Path, count: int) -> Path:
    for i in range(count):
        directory = root / "teams" / f"team-{i}"
        directory.mkdir(parents=True)
        (directory / "team.yaml").write_text(TEAM.format(name=f"team-{i}"))
        (directory / "stacks").mkdir()
        (directory / "stacks" / "shop.yaml").write_text(STACK.format(name=f"team-{i}"))
    return root / "teams"


@pytest.mark.parametrize(("count", "native"), [(2, False), (NATIVE_PARSER_TEAMS, True)])
def test_yaml_rs_is_imported_only_for_many_teams(tmp_path: Path, count: int, native: bool) -> None:
    pytest.importorskip("yaml_rs")
    done = subprocess.run([sys.executable, "-c", PROBE, str(teams(tmp_path, count))],
                          capture_output=True, text=True, timeout=60,
                          env={"TEKTON_DAG_CONFIG_CACHE": "off", "TEKTON_DAG_CONFIG_PROCESSES": "1",
                               "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(count), str(native)]
