"""Build every image the Helm chart references, from this repository alone (``scripts/build-images``).

The images are one Dockerfile (build-images/orchestrator/Dockerfile) built once per function: the
same core wheel, with ``TEKTON_DAG_FUNCTION`` naming what ``tekton-dag serve`` runs (docs/images.md
says why). The names come from the chart's values (``image.registry``, ``functions.<f>.repository``,
``allInOne.repository``, ``eventing.deadLetter.repository``); the tag is the version of the core
wheel built from pyproject.toml, the one the chart's ``appVersion`` carries (scripts/generate
stamps it there).

Steps: stage the build context (the Dockerfile and wheels/: the core wheel, plus a wheelhouse's
third-party wheels with ``--wheelhouse``), then run the container tool once per image.
"""

from __future__ import annotations

import argparse
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from tekton_dag.functions.serving import SERVABLE

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "build-images" / "orchestrator" / "Dockerfile"
VALUES = ROOT / "helm" / "tekton-dag" / "values.yaml"
# The first tool found builds, with its ordinary build verb.
TOOLS = (("docker", "build"), ("podman", "build"), ("buildah", "bud"))


class BuildError(Exception):
    """Something this script cannot go on from; the message says what and where."""


@dataclass(frozen=True)
class Image:
    function: str  # what `tekton-dag serve` runs in it
    repository: str  # under the registry

    def ref(self, registry: str, tag: str) -> str:
        return f"{registry}/{self.repository}:{tag}"


def kebab(key: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", key).lower()


def chart_images(values_path: Path = VALUES) -> tuple[str, list[Image]]:
    """(image.registry, the images) as the chart's values name them."""
    values = yaml.safe_load(values_path.read_text(encoding="utf-8"))
    sections = {kebab(key): section for key, section in values["functions"].items()}
    sections["all-in-one"] = values["allInOne"]
    sections["dead-letters"] = values["eventing"]["deadLetter"]  # the Broker's dead-letter sink
    images = []
    for function, section in sections.items():
        if function not in SERVABLE:
            raise BuildError(f"{values_path.name}: {function!r} is no function `tekton-dag serve` knows")
        images.append(Image(function, section["repository"]))
    return values["image"]["registry"], images


def stage(context: Path, wheelhouse: Path | None = None) -> Path:
    """Write the build context into ``context`` (replaced); return the core wheel built into it."""
    if context.exists():
        shutil.rmtree(context)
    wheels = context / "wheels"
    wheels.mkdir(parents=True)
    shutil.copy2(DOCKERFILE, context / "Dockerfile")
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                            "--wheel-dir", str(wheels), str(ROOT)], capture_output=True, text=True)
    if built.returncode != 0:
        raise BuildError(f"building the core wheel failed:\n{built.stderr.strip()}")
    (core,) = wheels.glob("tekton_dag-*.whl")
    if wheelhouse is not None:
        if not wheelhouse.is_dir():
            raise BuildError(f"--wheelhouse {wheelhouse}: no such directory")
        for wheel in wheelhouse.glob("*.whl"):
            if not wheel.name.startswith("tekton_dag-"):  # the core comes from this repository only
                shutil.copy2(wheel, wheels / wheel.name)
    return core


def wheel_version(core: Path) -> str:
    return core.name.split("-")[1]  # tekton_dag-<version>-py3-none-any.whl (wheel file name spec)


def default_tool() -> list[str]:
    for tool, verb in TOOLS:
        if shutil.which(tool):
            return [tool, verb]
    raise BuildError(f"no container tool found (looked for {', '.join(t for t, _ in TOOLS)}); "
                     "name one with --tool, or stage the context only with --stage-only")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/build-images", description=__doc__.split("\n\n")[0])
    parser.add_argument("--context", type=Path, default=ROOT / "build" / "images",
                        help="where to stage the build context (replaced; default: build/images)")
    parser.add_argument("--wheelhouse", type=Path,
                        help="directory of third-party wheels to put in the context (offline builds)")
    parser.add_argument("--registry", help="registry and path prefix (default: the chart's image.registry)")
    parser.add_argument("--tag", help="image tag (default: the core's version, the chart's appVersion)")
    parser.add_argument("--only", action="append", metavar="FUNCTION", help="build only this image (repeatable)")
    parser.add_argument("--tool", help='build command, e.g. "buildah bud --isolation chroot" '
                                       "(default: docker build, podman build or buildah bud, first found)")
    parser.add_argument("--build-arg", action="append", default=[], metavar="K=V",
                        help="passed to the tool, e.g. BASE=<image> or PIP_NO_INDEX=1 (repeatable)")
    parser.add_argument(
        "--stage-only", action="store_true", help="stage the context and print the commands; build nothing"
    )
    args = parser.parse_args(argv)
    try:
        registry, images = chart_images()
        unknown = sorted(set(args.only or ()) - {image.function for image in images})
        if unknown:
            raise BuildError(
                f"--only {', '.join(unknown)}: not an image of the chart "
                f"({', '.join(image.function for image in images)})"
            )
        images = [image for image in images if not args.only or image.function in args.only]
        core = stage(args.context, args.wheelhouse)
        tag = args.tag or wheel_version(core)
        tool = shlex.split(args.tool) if args.tool else (["<tool>", "build"] if args.stage_only else default_tool())
        for image in images:
            command = [
                *tool,
                "--build-arg",
                f"FUNCTION={image.function}",
                *(f"--build-arg={pair}" for pair in args.build_arg),
                "-t",
                image.ref(args.registry or registry, tag),
                "-f",
                str(args.context / "Dockerfile"),
                str(args.context),
            ]
            print(shlex.join(command), flush=True)
            if not args.stage_only and subprocess.run(command).returncode != 0:
                raise BuildError(f"building {image.ref(args.registry or registry, tag)} failed (output above)")
    except BuildError as error:
        print(f"build-images: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
