"""The docs: M10 pages exist, every link resolves (file and heading), the values table is current and complete."""

from __future__ import annotations

import re
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from support.helm import CHART, REPO

DOCS = REPO / "docs"
M10 = ["architecture.md", "onboarding.md", "migration-guide.md", "argocd.md", "helm.md"]
PAGES = [*sorted(DOCS.glob("*.md")), REPO / "README.md", CHART / "README.md"]
LINK = re.compile(r"\]\(([^)\s]+)\)")
FENCED = re.compile(r"^```.*?^```", flags=re.DOTALL | re.MULTILINE)
HEADING = re.compile(r"^#{1,6} +(.+?)(?: +#+)?$", flags=re.MULTILINE)


def anchors(page: Path) -> set[str]:
    """The ``#fragment`` each heading of ``page`` gets on GitHub: lower case, punctuation but ``-``
    dropped, spaces to ``-``, a repeated one suffixed ``-1``, ``-2``… (github-slugger, which
    github.com's Markdown renderer follows)."""
    found: set[str] = set()
    seen: dict[str, int] = {}
    for heading in HEADING.findall(FENCED.sub("", page.read_text())):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        found.add(f"{slug}-{seen[slug]}" if slug in seen else slug)
        seen[slug] = seen.get(slug, 0) + 1
    return found


def broken_links(page: Path) -> list[str]:
    """The relative links of ``page`` (outside code) to a file that does not exist, or to a
    heading its Markdown target does not have."""
    text = re.sub(r"`[^`\n]*`", "", FENCED.sub("", page.read_text()))
    broken = []
    for link in LINK.findall(text):
        if "://" in link or link.startswith("mailto:"):
            continue
        target, _, fragment = link.partition("#")
        path = page.parent / target if target else page
        if not path.exists():
            broken.append(f"{link} (no such file)")
        elif fragment and path.suffix == ".md" and fragment not in anchors(path):
            broken.append(f"{link} (no such heading)")
    return broken


@pytest.mark.parametrize("name", M10)
def test_m10_pages_exist(name: str) -> None:
    assert (DOCS / name).is_file(), f"docs/{name} is missing"


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(REPO)))
def test_relative_links_and_their_headings_resolve(page: Path) -> None:
    assert not broken_links(page), f"{page.relative_to(REPO)}: broken links {broken_links(page)}"


def test_the_link_check_finds_a_missing_file_and_a_missing_heading(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# Dead letters\n## Retention, and Kubernetes events\n## Dead letters\n")
    page = tmp_path / "page.md"
    page.write_text("[a](other.md#dead-letters) [b](other.md#retention-and-kubernetes-events) "
                    "[c](other.md#dead-letters-1) [d](#top) [e](gone.md) [f](other.md#dead-letters-2) "
                    "`[g](gone.md)` [h](https://example.com/x.md)\n# Top\n")
    assert broken_links(page) == ["gone.md (no such file)", "other.md#dead-letters-2 (no such heading)"]


def test_architecture_numbers_the_event_flow_and_maps_every_folder() -> None:
    text = (DOCS / "architecture.md").read_text()
    flow = text.split("## Event flow", 1)[1].split("\n## ", 1)[0]
    numbers = [int(n) for n in re.findall(r"^(\d+)\. ", flow, flags=re.MULTILINE)]
    assert numbers == list(range(1, len(numbers) + 1)) and len(numbers) >= 6
    folders = re.findall(r"\| `([a-z][\w./-]*/)", text.split("## Components and their folders", 1)[1])
    for folder in folders:
        assert (REPO / folder.split("<")[0]).exists(), f"mapped folder {folder} does not exist"
    assert "func-python" in text and "parliament" in text


def test_values_table_is_current() -> None:
    result = subprocess.run([sys.executable, str(REPO / "helm" / "values-table.py"), "--check"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def leaf_paths(node: object, prefix: str = "") -> list[str]:
    if isinstance(node, dict) and node:
        return [p for k, v in node.items() for p in leaf_paths(v, f"{prefix}{k}.")]
    return [prefix.rstrip(".")]


def test_every_value_is_documented() -> None:
    documented_values = runpy.run_path(str(REPO / "helm" / "values-table.py"))["documented_values"]
    documented = {v.path for v in documented_values((CHART / "values.yaml").read_text())}
    for leaf in leaf_paths(yaml.safe_load((CHART / "values.yaml").read_text())):
        parts = leaf.split(".")
        assert any(".".join(parts[:i]) in documented for i in range(1, len(parts) + 1)), f"{leaf} has no # -- comment"


@pytest.mark.parametrize("name", ["kind-e2e.sh", "run-e2e-with-intercepts.sh", "lib/e2e.sh"])
def test_kind_scripts_say_they_are_not_run_in_ci(name: str) -> None:
    script = (REPO / "scripts" / name).read_text()
    assert "NOT run in this project's CI" in script
    result = subprocess.run(["bash", "-n", str(REPO / "scripts" / name)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def section(text: str, heading: str) -> str:
    return text.split(heading, 1)[1].split("\n#", 1)[0]


def test_argocd_doc_says_when_applications_sync_is_ignored_and_what_removal_then_does() -> None:
    text = (DOCS / "argocd.md").read_text()
    policy = section(text, "### When `applicationsSync` is ignored")
    for fact in ("--policy", "--enable-policy-override", "applicationsetcontroller.enable.policy.override",
                 "create-only", "create-update", "kubectl -n argocd delete application"):
        assert fact in policy, fact
    assert "Controlling-Resource-Modification" in policy  # the cited source


def test_argocd_doc_gives_the_wave_of_every_kind_the_chart_syncs() -> None:
    from support.helm import render

    text = section((DOCS / "argocd.md").read_text(), "## Sync waves")
    rows = {int(m.group(1)): m.group(2) for m in re.finditer(r"^\| (\d+) \| ([^|]+) \|", text, flags=re.MULTILINE)}
    for doc in render():
        number = int(doc["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"])
        assert number in rows, f"wave {number} ({doc['kind']}) is not in docs/argocd.md"
    assert "PVC" in rows[max(rows)]


def test_helm_doc_says_what_the_network_policy_does_not_stop() -> None:
    network = section((DOCS / "helm.md").read_text(), "## Network")
    assert "does **not** stop" in network and "Broker ingress is not guarded" in network
