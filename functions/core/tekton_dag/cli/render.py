"""`tekton-dag render`: print the PipelineRun a request would create (what generate-run.sh did).

It uses the same builder as run-creator (``tekton_dag.pipelineruns.build_pipelinerun``), so
what you see is exactly what the function creates. ``kubectl create -f -`` accepts the output.
"""

from __future__ import annotations

import argparse
import json
import uuid

import yaml

from tekton_dag import pipelines
from tekton_dag.cli.common import add_teams_option, fail, usage_error, warn_if_fallback, whole_number
from tekton_dag.config.errors import ConfigInvalid
from tekton_dag.config.loading import load_config_or_raise
from tekton_dag.config.models import Stack, Team
from tekton_dag.events.errors import RequestError
from tekton_dag.events.requests import MAX_PR_NUMBER, PullRequestRef, RunRequest
from tekton_dag.pipelineruns import BuildError, build_pipelinerun

MODES = {"pr": pipelines.PR_TEST, "merge": pipelines.MERGE_RELEASE, "bootstrap": pipelines.BOOTSTRAP}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "render", help="print the PipelineRun YAML for a PR, merge or bootstrap run",
        description="Print the PipelineRun that run-creator would create for this request.",
        epilog="example: tekton-dag render --mode pr --team default --app demo-fe --pr 42 --sha $(git rev-parse HEAD) "
               "| kubectl create -f -",
    )
    parser.add_argument("--mode", required=True, choices=sorted(MODES), help="which pipeline: pr, merge or bootstrap")
    parser.add_argument("--team", default="default", help="team name (default: default)")
    parser.add_argument("--stack", help="stack name (default: the stack holding --app, or the team's only stack)")
    parser.add_argument("--app", default="", help="the changed app (required for pr and merge)")
    parser.add_argument("--pr", type=whole_number(1, MAX_PR_NUMBER), help="pull request number (pr mode)")
    parser.add_argument("--sha", default="", help="head sha of the PR / revision of the changed app")
    parser.add_argument("--repo", default="", help="owner/name of the PR's repo (default: the app's repo)")
    parser.add_argument(
        "--build-apps", default="", help="comma-separated apps to build (default: the changed app, or all)"
    )
    parser.add_argument("--image-tag", default="", help="image tag (default: the run name)")
    parser.add_argument("--delivery", default="", help="request id; the run name derives from it (default: a new one)")
    parser.add_argument("--traceparent", default=None, help="W3C traceparent to record on the run")
    parser.add_argument(
        "-o", "--output", choices=("yaml", "json"), default="yaml", help="output format (default: yaml)"
    )
    add_teams_option(parser)
    parser.set_defaults(run=run, parser=parser)


def run(args: argparse.Namespace) -> int:
    if args.mode == "pr" and (args.pr is None or not args.sha):
        usage_error(args.parser, "--mode pr needs --pr NUMBER and --sha HEAD_SHA")
    warn_if_fallback(args.teams)
    try:
        config = load_config_or_raise(args.teams)
    except ConfigInvalid as exc:
        return fail(str(exc))
    team = config.team(args.team)
    if team is None:
        return fail(f"team {args.team!r} is not in {args.teams} (teams: {', '.join(t.name for t in config.teams)})")
    stack = _stack(team, args.stack, args.app)
    if isinstance(stack, str):
        return fail(stack)
    request = _request(args, team, stack)
    try:
        RunRequest.from_data(request.to_data())  # what run-creator takes of a run.requested event
        run_object = build_pipelinerun(request, team, stack, traceparent=args.traceparent)
    except (RequestError, BuildError) as exc:
        return fail(str(exc))
    if args.output == "json":
        print(json.dumps(run_object, indent=2))
    else:
        print(yaml.safe_dump(run_object, sort_keys=False), end="")
    return 0


def _stack(team: Team, name: str | None, app: str) -> Stack | str:
    """The stack asked for, or the one that holds ``app``, or the team's only one; else why not."""
    if name:
        return team.stack(name) or f"stack {name!r} is not in team {team.name!r}"
    candidates = [s for s in team.stacks if s.app(app)] if app else list(team.stacks)
    if len(candidates) == 1:
        return candidates[0]
    if app and not candidates:
        return f"app {app!r} is in no stack of team {team.name!r}"
    names = ", ".join(s.name for s in candidates) or "none"
    return f"--stack is needed: {'app ' + repr(app) if app else 'team ' + repr(team.name)} matches stacks: {names}"


def _request(args: argparse.Namespace, team: Team, stack: Stack) -> RunRequest:
    app = stack.app(args.app) if args.app else None
    pr = PullRequestRef(number=args.pr, head_sha=args.sha) if args.mode == "pr" else None
    return RunRequest(
        team=team.name, stack=stack.name, pipeline=MODES[args.mode], delivery=args.delivery or f"cli-{uuid.uuid4()}",
        app=args.app, repo=args.repo or (app.repo if app else ""), revision=args.sha, pr=pr,
        build_apps=tuple(a for a in args.build_apps.split(",") if a), image_tag=args.image_tag, requested_by="cli",
    )


__all__ = ["register"]
