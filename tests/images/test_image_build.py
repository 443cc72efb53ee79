"""A real image build and run with buildah (no daemon: chroot isolation, vfs storage), opt-in.

docker.io is not reachable here, so the base is made from Debian packages
(build-images/debian-base/build.sh: debootstrap + buildah) and the build installs with
``PIP_NO_INDEX=1`` from the staged context plus a local wheelhouse. One image (resolver) is built
by `scripts/build-images`, inspected (user, entry point, function), and run: it must answer
``/health/readiness`` on loopback as uid 65532, with no pip or compiler inside.
Takes ~4 minutes, so it runs only with TEKTON_DAG_IMAGE_BUILD=1 (docs/images.md); tools from
`scripts/install-tools --container`. TEKTON_DAG_IMAGE_BASE_DIR keeps the Debian root between runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from support.images import ROOT, build_images, core_wheel, wheelhouse
from tekton_dag.testing.github import environment, write_teams
from tekton_dag.testing.serving import free_port

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.environ.get("TEKTON_DAG_IMAGE_BUILD") != "1", reason="opt-in: TEKTON_DAG_IMAGE_BUILD=1"),
    pytest.mark.skipif(
        not (shutil.which("buildah") and shutil.which("debootstrap", path="/usr/sbin:/usr/bin") and os.geteuid() == 0),
        reason="needs root, buildah and debootstrap (install-tools --container)",
    ),
]


def test_the_resolver_image_builds_and_serves_as_non_root(tmp_path: Path) -> None:
    storage = ["--storage-driver", "vfs", "--root", str(tmp_path / "storage"), "--runroot", str(tmp_path / "run")]
    buildah = ["buildah", *storage]
    base = os.environ.get("TEKTON_DAG_IMAGE_BASE_DIR") or tmp_path / "base"  # keeps the debootstrap between runs
    subprocess.run(
        [str(ROOT / "build-images" / "debian-base" / "build.sh"), str(base), *storage],
        check=True,
        capture_output=True,
        text=True,
    )
    staged = build_images("--stage-only", "--context", str(tmp_path / "probe"))  # the core wheel, for its deps
    assert staged.returncode == 0, staged.stderr
    wheels = wheelhouse(core_wheel(tmp_path / "probe"), tmp_path / "wheelhouse")

    built = build_images(
        "--only",
        "resolver",
        "--registry",
        "localhost/tekton-dag",
        "--tag",
        "test",
        "--context",
        str(tmp_path / "context"),
        "--wheelhouse",
        str(wheels),
        "--tool",
        " ".join([*buildah, "bud", "--isolation", "chroot"]),
        "--build-arg",
        "BASE=localhost/tekton-dag-debian-base",
        "--build-arg",
        "PIP_NO_INDEX=1",
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr
    image = "localhost/tekton-dag/resolver:test"
    [inspected] = (
        json.loads(
            subprocess.run(
                [*buildah, "inspect", "--type", "image", image], check=True, capture_output=True, text=True
            ).stdout
        )["OCIv1"]["config"],
    )
    assert inspected["User"] == "65532:65532"
    assert inspected["Entrypoint"] == ["/opt/tekton-dag/bin/tekton-dag", "serve"]
    assert "TEKTON_DAG_FUNCTION=resolver" in inspected["Env"]

    container = subprocess.run([*buildah, "from", image], check=True, capture_output=True, text=True).stdout.strip()
    run = [*buildah, "run", "--isolation", "chroot"]
    who = subprocess.run([*run, container, "--", "id", "-u"], check=True, capture_output=True, text=True)
    assert who.stdout.strip() == "65532"
    tools = subprocess.run(
        [*run, container, "--", "sh", "-c", "for tool in pip pip3 gcc cc apt-get; do command -v $tool; done; true"],
        capture_output=True,
        text=True,
    )
    assert (
        tools.stdout.strip() == "/usr/bin/apt-get"
    )  # the Debian base keeps apt (a python image has it too); no pip, no compiler

    teams = write_teams(tmp_path / "teams")  # mounted at the same path, so environment() holds inside too
    port = free_port()
    env = {**environment(teams), "LISTEN_ADDRESS": f"127.0.0.1:{port}"}
    serving = subprocess.Popen(
        [
            *run,
            "-v",
            f"{tmp_path / 'teams'}:{tmp_path / 'teams'}:ro",
            *(f"--env={key}={value}" for key, value in env.items()),
            container,
            "--",
            *inspected["Entrypoint"],
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        status, deadline = None, time.monotonic() + 30
        while status != 200 and time.monotonic() < deadline and serving.poll() is None:
            time.sleep(0.5)
            with contextlib.suppress(httpx.TransportError):
                status = httpx.get(f"http://127.0.0.1:{port}/health/readiness", timeout=2).status_code
        assert status == 200, f"not ready (last status {status})"
    finally:
        serving.terminate()
        output = serving.communicate(timeout=15)[0]
        subprocess.run([*buildah, "rm", container], capture_output=True)
    assert "Running on http://127.0.0.1" in output
