"""`scripts/build-images` names every image the chart and knative/ run, and its Dockerfile keeps the rules.

Rules (issue 14): the base pinned by digest, a non-root user, no installer or build tool in the
final stage, the core from the build context only. What runs here is in test_image_install.py
(install + readiness) and test_image_build.py (a real buildah build, opt-in).
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from support.images import ROOT, build_images, core_wheel

DOCKERFILE = ROOT / "build-images" / "orchestrator" / "Dockerfile"
CHART = yaml.safe_load((ROOT / "helm" / "tekton-dag" / "Chart.yaml").read_text(encoding="utf-8"))
VALUES = yaml.safe_load((ROOT / "helm" / "tekton-dag" / "values.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def staged(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[list[str]]]:
    context = tmp_path_factory.mktemp("context")
    result = build_images("--stage-only", "--context", str(context))
    assert result.returncode == 0, result.stderr
    return context, [shlex.split(line) for line in result.stdout.splitlines()]


def refs(commands: list[list[str]]) -> dict[str, str]:
    """FUNCTION build-arg → image reference, from the printed build commands."""
    out = {}
    for command in commands:
        function = command[command.index("--build-arg") + 1].removeprefix("FUNCTION=")
        out[function] = command[command.index("-t") + 1]
    return out


def test_every_image_the_chart_references_is_built_with_the_charts_tag(staged) -> None:
    _, commands = staged
    registry, tag = VALUES["image"]["registry"], CHART["appVersion"]
    expected = {section["repository"]: f"{registry}/{section['repository']}:{tag}"
                for section in [*VALUES["functions"].values(), VALUES["allInOne"], VALUES["eventing"]["deadLetter"]]}
    assert sorted(refs(commands).values()) == sorted(expected.values())
    assert refs(commands)["dead-letters"].endswith(f"/{VALUES['eventing']['deadLetter']['repository']}:{tag}")
    assert refs(commands)["all-in-one"].endswith(f"/{VALUES['allInOne']['repository']}:{tag}")


def test_every_image_knative_services_run_is_built(staged) -> None:
    _, commands = staged
    services = [doc for doc in yaml.safe_load_all((ROOT / "knative" / "services.yaml").read_text(encoding="utf-8"))
                if doc and doc["kind"] == "Service"]
    run = {
        container["image"] for service in services for container in service["spec"]["template"]["spec"]["containers"]
    }
    assert run and run <= set(refs(commands).values())
    for service in services:  # each Service runs the image of its own function
        assert (
            refs(commands)[service["metadata"]["name"]] == service["spec"]["template"]["spec"]["containers"][0]["image"]
        )


def test_the_context_holds_the_dockerfile_and_the_core_wheel_of_the_charts_version(staged) -> None:
    context, _ = staged
    assert (context / "Dockerfile").read_text() == DOCKERFILE.read_text()
    assert core_wheel(context).name == f"tekton_dag-{CHART['appVersion']}-py3-none-any.whl"


def test_an_unknown_image_is_refused_naming_the_charts_images(tmp_path: Path) -> None:
    result = build_images("--stage-only", "--context", str(tmp_path / "c"), "--only", "nope")
    assert result.returncode == 1
    assert "--only nope: not an image of the chart (webhook-ingest, resolver," in result.stderr
    assert not (tmp_path / "c").exists()  # nothing half-done


def stages(dockerfile: str) -> list[list[str]]:
    """Instructions (continuations joined, comments dropped) per stage; stage 0 is the global ARGs."""
    out: list[list[str]] = [[]]
    for line in re.sub(r"\\\n", " ", dockerfile).splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            out.append([])
        out[-1].append(line)
    return out


def test_the_base_is_pinned_by_digest_and_every_stage_uses_it() -> None:
    header, *built = stages(DOCKERFILE.read_text())
    [base] = [line for line in header if line.startswith("ARG BASE=")]
    assert re.fullmatch(r"ARG BASE=[a-z0-9./-]+:[\w.-]+@sha256:[0-9a-f]{64}", base)
    assert [stage[0].split()[1] for stage in built] == ["${BASE}"] * len(built)
    assert len(built) >= 2  # multi-stage: the installer runs in the first only


def test_the_final_stage_runs_as_a_numeric_non_root_user_with_no_installer() -> None:
    final = stages(DOCKERFILE.read_text())[-1]
    [user] = [line for line in final if line.startswith("USER ")]
    uid, gid = user.split()[1].split(":")
    assert int(uid) > 0 and int(gid) > 0
    runs = " ".join(line for line in final if line.startswith("RUN "))
    for installing in ("install", "apt-get", "apk ", "gcc", "make "):  # it only removes the base's pip
        assert installing not in runs
    assert 'ENTRYPOINT ["/opt/tekton-dag/bin/tekton-dag", "serve"]' in final
    assert any(line.startswith("ENV TEKTON_DAG_FUNCTION=${FUNCTION}") for line in final)


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        ([], {}, "NAME (or $TEKTON_DAG_FUNCTION) is missing"),
        ([], {"TEKTON_DAG_FUNCTION": "nope"}, "$TEKTON_DAG_FUNCTION 'nope' is not one of webhook-ingest"),
        (["nope"], {"TEKTON_DAG_FUNCTION": "resolver"}, "NAME 'nope' is not one of webhook-ingest"),
        (["resolver", "--sink", "broker:8080"], {}, "argument --sink: 'broker:8080'"),  # was taken, failing later
    ],
)
def test_serve_without_a_valid_function_is_a_usage_error(argv, env, message, monkeypatch) -> None:
    monkeypatch.delenv("TEKTON_DAG_FUNCTION", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    result = subprocess.run(
        [sys.executable, "-m", "tekton_dag.cli.main", "serve", *argv], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert message in result.stderr
