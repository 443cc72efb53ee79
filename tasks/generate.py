#!/usr/bin/env python3
"""Generate tasks/*.yaml and pipeline/*.yaml (plain tekton.dev/v1) from this file and tasks/scripts/.

    python tasks/generate.py          # rewrite the YAML
    python tasks/generate.py --check  # exit 1 when the committed YAML differs (CI runs this via pytest)

Why a generator: scripts stay real files (linted with `bash -n` / shellcheck, tested under pytest)
and are inlined verbatim into `script:`; every value a script needs is passed through `env`, so no
Tekton substitution ever lands inside a script. Pipeline params come from tekton_dag/pipelines.py.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "tasks" / "scripts"
sys.path.insert(0, str(ROOT / "functions" / "core"))
from tekton_dag import pipelines as contract  # noqa: E402

# Images: pinned by version, never :latest.
PYTHON_IMAGE = "docker.io/library/python:3.12.8-slim-bookworm"
KUBECTL_IMAGE = "docker.io/alpine/k8s:1.33.1"  # kubectl + bash + jq + curl
GIT_IMAGE = "docker.io/alpine/git:v2.47.1"
KANIKO_IMAGE = "ghcr.io/osscontainertools/kaniko:v1.28.2"  # maintained fork of the archived Kaniko
CRANE_IMAGE = "gcr.io/go-containerregistry/crane/debug:v0.20.2"  # debug variant: has a shell
# Telepresence's OSS client image (build-aux/main.mk: CLIENT_IMAGE_FQN = ghcr.io/telepresenceio/telepresence:<semver>;
# docker.io/datawire/tel2 was the traffic-manager/agent image, and OSS images moved to ghcr.io/telepresenceio in
# 2.20, CHANGELOG.yml). 2.25.0 (2025-10-16) is the first OSS release with header-filtered intercepts
# (--http-header, telepresenceio/telepresence#3967; CHANGELOG.yml "HTTP Intercepts with HTTP header and path
# filtering"); 2.19/2.20 answer "unknown flag: --http-header" (telepresenceio/telepresence#3631).
TELEPRESENCE_IMAGE = "ghcr.io/telepresenceio/telepresence:2.25.0"
MIRRORD_IMAGE = "ghcr.io/metalbear-co/mirrord-cli:3.128.0"
TEST_IMAGES = {
    "postman": "docker.io/postman/newman:6.2.1-alpine",
    "playwright": "mcr.microsoft.com/playwright:v1.49.1-noble",
    "artillery": "docker.io/artilleryio/artillery:2.0.21",
}
COMPILE = {  # tool: (image, default build command)
    "npm": ("docker.io/library/node:22.12.0-bookworm-slim", "npm ci && npm run build --if-present"),
    "maven": ("docker.io/library/maven:3.9.9-eclipse-temurin-21", "mvn -B -ntp -DskipTests package"),
    "gradle": (
        "docker.io/library/gradle:8.11.1-jdk21",
        "if [ -x ./gradlew ]; then ./gradlew --no-daemon build -x test; else gradle --no-daemon build -x test; fi",
    ),
    "pip": (
        "docker.io/library/python:3.12.8-slim-bookworm",
        "pip install --no-cache-dir --target .deps -r requirements.txt",
    ),
    "composer": ("docker.io/library/composer:2.8.4", "composer install --no-dev --no-interaction --prefer-dist"),
}
NON_ROOT = {"runAsNonRoot": True, "runAsUser": 65532, "allowPrivilegeEscalation": False}


VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
LABELS = {"app.kubernetes.io/part-of": "tekton-dag", "app.kubernetes.io/version": VERSION}
PLAN = "$(workspaces.source.path)/.tekton-dag"


# --- building blocks ------------------------------------------------------------------------
def param(name: str, description: str, default: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"name": name, "type": "string", "description": description}
    if default is not None:
        spec["default"] = default
    return spec


def env(name: str, value: str) -> dict[str, str]:
    return {"name": name, "value": value}


def field_env(name: str, path: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}}


def script(name: str) -> str:
    return (SCRIPTS / name).read_text()


def result_env(results: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [env("RESULT_" + r["name"].upper().replace("-", "_"), f"$(results.{r['name']}.path)") for r in results]


def step(name: str, image: str, body: str, envs: list[dict[str, Any]], *, root: bool = False,
         **extra: Any) -> dict[str, Any]:
    # computeResources: task() fills them in from the contract's STEP_RESOURCES, which knows the task
    s: dict[str, Any] = {"name": name, "image": image, "computeResources": None, "env": envs}
    if not root:
        s["securityContext"] = NON_ROOT
    s.update(extra)
    s["script"] = body
    return s


# The Tekton catalog's annotations (https://github.com/tektoncd/catalog, README "Catalog Structure"):
# `tekton.dev/pipelines.minVersion` is the oldest Tekton Pipelines release the object is written
# for; the catalog puts it on Pipelines as on Tasks, and so do we.
CATALOG_ANNOTATIONS = {"tekton.dev/pipelines.minVersion": "0.56.0", "tekton.dev/tags": "tekton-dag"}


def task(name: str, description: str, params: list, steps: list, *, results: list | None = None,
         workspaces: list | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"description": description, "params": params}
    if workspaces:
        spec["workspaces"] = workspaces
    if results:
        spec["results"] = results
    for s in steps:  # KeyError: a step the contract gives no resources (teams may override only those)
        s["computeResources"] = contract.STEP_RESOURCES[f"{name}/{s['name']}"]
    spec["steps"] = steps
    return {"apiVersion": "tekton.dev/v1", "kind": "Task",
            "metadata": {"name": name, "labels": LABELS,
                         "annotations": dict(CATALOG_ANNOTATIONS)},
            "spec": spec}


SOURCE_WS = {
    "name": "source",
    "description": "The run's shared workspace: app checkouts in apps/<app>, the plan in .tekton-dag/.",
}
CACHE_WS = {"name": "build-cache", "optional": True,
            "description": "The team's build cache (tool caches, observed build durations); optional: unbound, tool "
                           "caches live in the source workspace (.cache/) for the run. Bound only where the cluster's "
                           "coschedule mode allows a second PVC per TaskRun."}
RUN_NAME = param(
    "run-name", "Name of the PipelineRun: labels every object this run creates, so cleanup removes only those."
)
PLAN_ENV = [env("WORKSPACE_PATH", "$(workspaces.source.path)"), env("PLAN_DIR", PLAN)]


# --- tasks ------------------------------------------------------------------------------------
def resolve_stack() -> dict[str, Any]:
    tools = list(COMPILE)
    # Results travel in a 4 KiB termination message: only small, bounded values the Pipeline needs
    # (the header, at most 128 characters, and one flag per tool). Lists of apps go to the plan.
    results = [
        {
            "name": "header-name",
            "type": "string",
            "description": "The stack's propagation header (default x-dev-session).",
        },
    ] + [
        {"name": f"run-compile-{t}", "type": "string", "description": f'"true" when an app to build uses {t}.'}
        for t in tools
    ]
    params = [
        param("stack-json", "The stack file as JSON (name, propagation, defaults, apps[])."),
        param(
            "stack", "Expected stack name: the task fails when stack-json is another stack; empty skips the check.", ""
        ),
        param("team", "Team of the run: labels the workloads it deploys.", ""),
        param("versions-json", "JSON {app: {version, last-released}} of the team.", "{}"),
        param("changed-app", "The app whose repo changed; built alone when build-apps is empty.", ""),
        param(
            "build-apps",
            "Comma-separated apps to build; empty means changed-app, or every app when that is empty too.",
            "",
        ),
        param("app-revisions", "JSON {app: git revision}; apps absent use their default branch.", "{}"),
        param("pr-number", "Pull request number for PR runs, else empty.", ""),
        param("image-registry", "Registry the images are pushed to: images are <image-registry>/<app>:<image-tag>."),
        param("image-tag", "Tag of the images this run builds."),
        param(
            "namespace",
            "Namespace to deploy to when the stack's defaults.namespace is empty (default: this TaskRun's).",
            "",
        ),
        RUN_NAME,
    ]
    envs = PLAN_ENV + [
        env("STACK_JSON", "$(params.stack-json)"), env("STACK_NAME", "$(params.stack)"), env("TEAM", "$(params.team)"),
        env("VERSIONS_JSON", "$(params.versions-json)"),
        env("CHANGED_APP", "$(params.changed-app)"), env("BUILD_APPS", "$(params.build-apps)"),
        env("APP_REVISIONS", "$(params.app-revisions)"), env("PR_NUMBER", "$(params.pr-number)"),
        env("IMAGE_REGISTRY", "$(params.image-registry)"), env("IMAGE_TAG", "$(params.image-tag)"),
        env("NAMESPACE_PARAM", "$(params.namespace)"), env("TASKRUN_NAMESPACE", "$(context.taskRun.namespace)"),
        env("RUN_NAME", "$(params.run-name)"),
        env("BUILD_HISTORY", "$(workspaces.build-cache.path)/.tekton-dag/build-seconds.tsv"),
        env("CACHE_BOUND", "$(workspaces.build-cache.bound)"),
    ] + result_env(results)
    return task(
        "resolve-stack",
        "Reads the stack (the stack-json param) and writes the run's plan to the workspace: apps to build "
        "(longest expected build first), dependency order, per-tool compile flags, versions, Deployment/Service "
        "manifests and PR workloads. Fails on a cycle, an unknown app or an invalid field.",
        params,
        [step("resolve", PYTHON_IMAGE, script("resolve_stack.py"), envs)],
        results=results,
        workspaces=[SOURCE_WS, CACHE_WS],
    )


def clone_app_repos() -> dict[str, Any]:
    params = [
        param("git-host", "Git host of the apps' owner/name repos.", "github.com"),
        param(
            "default-revision", "Revision for apps without an entry in app-revisions; empty = the default branch.", ""
        ),
    ]
    envs = PLAN_ENV + [
        env("GIT_HOST", "$(params.git-host)"), env("DEFAULT_REVISION", "$(params.default-revision)"),
        env("CREDENTIALS_PATH", "$(workspaces.git-credentials.path)"),
        env("CREDENTIALS_BOUND", "$(workspaces.git-credentials.bound)"),
    ]
    return task(
        "clone-app-repos",
        "Shallow-clones every app to build (from the plan) into apps/<app>: over ssh when the git-credentials "
        "workspace holds an ssh key (with known_hosts), else https (with .git-credentials when present). "
        "A failed clone fails the task.",
        params,
        [step("clone", GIT_IMAGE, script("clone.sh"), envs)],
        workspaces=[
            SOURCE_WS,
            {
                "name": "git-credentials",
                "optional": True,
                "readOnly": True,
                "description": "ssh-privatekey (or id_*) + known_hosts, and/or .git-credentials.",
            },
        ],
    )


def compile_task(tool: str) -> dict[str, Any]:
    image, command = COMPILE[tool]
    params = [
        param("image", f"Image with the {tool} toolchain.", image),
        param("default-build-command", "Build command for apps whose stack entry has no build-command.", command),
    ]
    envs = PLAN_ENV + [
        env("BUILD_TOOL", tool), env("DEFAULT_BUILD_COMMAND", "$(params.default-build-command)"),
        env("CACHE_PATH", "$(workspaces.build-cache.path)"), env("CACHE_BOUND", "$(workspaces.build-cache.bound)"),
    ]
    return task(
        f"compile-{tool}",
        f"Builds every planned app that uses {tool}, one after another, in its checkout: pre-command, "
        "build-command (from the stack, run as data by sh -c; see docs/tekton.md for the trust model), "
        "post-command. Runs as non-root without credentials or API token; tool caches in the build-cache workspace "
        "when bound, else in the source workspace.",
        params,
        [step("compile", "$(params.image)", script("compile.sh"), envs)],
        workspaces=[SOURCE_WS, CACHE_WS],
    )


def containerize() -> dict[str, Any]:
    params = [
        param("max-parallel-builds", "Most build pods at once (sliding window).", "5"),
        param("cache-repo", "Kaniko layer cache repository; empty disables the cache.", ""),
        param("kaniko-image", "Image of the builder (a maintained Kaniko fork).", KANIKO_IMAGE),
        param("registry-secret", "Secret (type dockerconfigjson) with push credentials; empty for none.", ""),
        param("insecure-registry", "\"true\" to push over plain HTTP (local kind registries only).", "false"),
        param("build-cpu-request", "CPU request of each build pod.", "500m"),
        param("build-memory-request", "Memory request of each build pod.", "1Gi"),
        param("build-memory-limit", "Memory limit of each build pod.", "4Gi"),
        param("build-deadline-seconds", "activeDeadlineSeconds of each build pod.", "1800"),
        param("pending-timeout-seconds", "Fail a build whose pod stays Pending this long.", "300"),
        param("poll-seconds", "How often the window checks its pods.", "5"),
        RUN_NAME,
    ]
    envs = PLAN_ENV + [
        env("RUN_NAME", "$(params.run-name)"),
        env("MAX_PARALLEL_BUILDS", "$(params.max-parallel-builds)"),
        env("CACHE_REPO", "$(params.cache-repo)"),
        env("KANIKO_IMAGE", "$(params.kaniko-image)"),
        env("REGISTRY_SECRET", "$(params.registry-secret)"),
        env("INSECURE_REGISTRY", "$(params.insecure-registry)"),
        env("BUILD_CPU_REQUEST", "$(params.build-cpu-request)"),
        env("BUILD_MEMORY_REQUEST", "$(params.build-memory-request)"),
        env("BUILD_MEMORY_LIMIT", "$(params.build-memory-limit)"),
        env("BUILD_DEADLINE_SECONDS", "$(params.build-deadline-seconds)"),
        env("PENDING_TIMEOUT_SECONDS", "$(params.pending-timeout-seconds)"),
        env("POLL_SECONDS", "$(params.poll-seconds)"),
        env("SOURCE_CLAIM", "$(workspaces.source.claim)"),
        env("CACHE_BOUND", "$(workspaces.build-cache.bound)"),
        env("BUILD_HISTORY", "$(workspaces.build-cache.path)/.tekton-dag/build-seconds.tsv"),
        field_env("OWNER_POD_NAME", "metadata.name"),
        field_env("OWNER_POD_UID", "metadata.uid"),
        field_env("NODE_NAME", "spec.nodeName"),
    ]
    return task(
        "containerize",
        "Builds and pushes <image-registry>/<app>:<image-tag> for every planned app, each in its own Kaniko pod "
        "(owned by this TaskRun's pod, labelled with the run, with requests and an active deadline), at most "
        "max-parallel-builds at once in a sliding window. Logs are saved before pods are deleted; a failed or "
        "stuck build fails the task naming the app and showing its log tail. The images pushed are listed in "
        ".tekton-dag/built-images.txt.",
        params,
        [step("build", KUBECTL_IMAGE, script("containerize.sh"), envs)],
        workspaces=[SOURCE_WS, CACHE_WS],
    )


def deploy_stack() -> dict[str, Any]:
    params = [param("deploy-apps", "Comma-separated apps to (re)deploy; empty deploys every app.", ""),
              param("only-built", "\"true\": deploy only the apps this run built (the plan's builds.tsv).", "false"),
              param("rollout-timeout", "How long each app's rollout may take.", "300s")]
    envs = PLAN_ENV + [env("DEPLOY_APPS", "$(params.deploy-apps)"), env("ONLY_BUILT", "$(params.only-built)"),
                       env("ROLLOUT_TIMEOUT", "$(params.rollout-timeout)")]
    return task(
        "deploy-stack",
        "Applies each app's Deployment and Service (stable variant, image <image-registry>/<app>:<image-tag>) in "
        "dependency order, callees first, waiting for each rollout. A failed rollout fails the task.",
        params,
        [step("deploy", KUBECTL_IMAGE, script("deploy.sh"), envs)],
        workspaces=[SOURCE_WS],
    )


def deploy_intercepts() -> dict[str, Any]:
    params = [
        param("pr-number", "The pull request number."),
        param("header-name", "Propagation header of the stack.", "x-dev-session"),
        param("header-value", "Header value that selects the PR build (pr-<N>)."),
        param("intercept-backend", "telepresence or mirrord (the team's interceptBackend).", "telepresence"),
        param("telepresence-image", "Telepresence client image.", TELEPRESENCE_IMAGE),
        param("mirrord-image", "Image with the mirrord CLI and python3.", MIRRORD_IMAGE),
        param("forwarder-image", "Image running the small intercept forwarder.", PYTHON_IMAGE),
        param(
            "traffic-manager-namespace",
            "Namespace of Telepresence's traffic-manager (installed once per cluster).",
            "ambassador",
        ),
        param("rollout-timeout", "How long the PR build and the intercept may take to become ready.", "300s"),
        param(
            "intercept-service-account",
            "ServiceAccount of the intercept pods, in the stack's namespace (the chart renders "
            "tekton-dag-intercept-<team> with what telepresence or mirrord needs there).",
        ),
        RUN_NAME,
    ]
    envs = PLAN_ENV + [
        env("RUN_NAME", "$(params.run-name)"),
        env("PR_NUMBER", "$(params.pr-number)"),
        env("HEADER_NAME", "$(params.header-name)"),
        env("HEADER_VALUE", "$(params.header-value)"),
        env("INTERCEPT_BACKEND", "$(params.intercept-backend)"),
        env("TELEPRESENCE_IMAGE", "$(params.telepresence-image)"),
        env("MIRRORD_IMAGE", "$(params.mirrord-image)"),
        env("FORWARDER_IMAGE", "$(params.forwarder-image)"),
        env("TRAFFIC_MANAGER_NAMESPACE", "$(params.traffic-manager-namespace)"),
        env("ROLLOUT_TIMEOUT", "$(params.rollout-timeout)"),
        env("INTERCEPT_SERVICE_ACCOUNT", "$(params.intercept-service-account)"),
        env("FORWARDER_SOURCE", script("intercept_forwarder.py")),
        field_env("OWNER_POD_NAME", "metadata.name"),
        field_env("OWNER_POD_UID", "metadata.uid"),
        field_env("OWNER_POD_NAMESPACE", "metadata.namespace"),
    ]
    return task(
        "deploy-intercepts",
        "Runs each PR build as <app>-pr-<N> beside the stable stack (its own entrypoint: it really serves) and "
        "routes only requests carrying <header-name>: pr-<N> to it through the team's backend "
        "(telepresence or mirrord). Everything created carries the run label.",
        params,
        [step("intercept", KUBECTL_IMAGE, script("intercept.sh"), envs)],
        workspaces=[SOURCE_WS],
    )


def validate_intercepts() -> dict[str, Any]:
    results = [{"name": "summary", "type": "string",
                "description": "JSON of three booleans: header reached the PR build, ordinary traffic stayed stable, "
                               "stable answered (per-app detail: .tekton-dag/intercept-summary.json)."}]
    params = [param("header-name", "Propagation header of the stack.", "x-dev-session"),
              param("header-value", "Header value that selects the PR build (pr-<N>)."),
              param("baggage-key", "W3C baggage key carrying the same value.", "dev-session"), RUN_NAME]
    envs = PLAN_ENV + [env("RUN_NAME", "$(params.run-name)"), env("HEADER_NAME", "$(params.header-name)"),
                       env("HEADER_VALUE", "$(params.header-value)"), env("BAGGAGE_KEY", "$(params.baggage-key)")]
    return task(
        "validate-intercepts",
        "Sends a request with the PR header into each entry app and checks it reached the PR build (header "
        "propagated through the call chain); sends one without the header and checks the stable stack answered "
        "and the PR build saw nothing.",
        params,
        [step("validate", KUBECTL_IMAGE, script("validate_intercepts.sh"), envs + result_env(results))],
        results=results,
        workspaces=[SOURCE_WS],
    )


def run_stack_tests() -> dict[str, Any]:
    params = [param("header-name", "Propagation header sent with test requests in PR runs.", ""),
              param("header-value", "Its value (pr-<N>); empty outside PR runs.", "")] + [
        param(f"{kind}-image", f"Image running the {kind} tests.", image) for kind, image in TEST_IMAGES.items()]
    steps = [step(kind, f"$(params.{kind}-image)", script("stack_tests.sh"),
                  PLAN_ENV + [env("TEST_KIND", kind), env("HEADER_NAME", "$(params.header-name)"),
                              env("HEADER_VALUE", "$(params.header-value)")])
             for kind in TEST_IMAGES]
    return task("run-stack-tests",
                "Runs the apps' declared tests (postman with newman, playwright, artillery) against the deployed stack "
                "and records one line per test in .tekton-dag/test-summary.tsv. A failed test fails the task.",
                params, steps, workspaces=[SOURCE_WS])


def tag_release_images() -> dict[str, Any]:
    params = [param("insecure-registry", "\"true\" for a plain-HTTP registry (local only).", "false")]
    envs = PLAN_ENV + [env("INSECURE_REGISTRY", "$(params.insecure-registry)")]
    return task(
        "tag-release-images",
        "Copies each built image <app>:<image-tag> to <app>:v<version> (version from versions-json) with crane. "
        "A failed copy fails the task. The tags written are listed in .tekton-dag/released-images.txt.",
        params,
        [step("tag", CRANE_IMAGE, script("tag_release.sh"), envs)],
        workspaces=[SOURCE_WS],
    )


def post_result() -> dict[str, Any]:
    params = [param("pr-repo", "owner/name of the repository the PR is on."),
              param("pr-number", "The pull request number."),
              param("aggregate-status", "The pipeline's aggregate tasks status: Succeeded, Completed, Failed or None."),
              param("task-statuses", "A readable line of per-task states.", ""),
              param("tests-status",
                    "$(tasks.run-stack-tests.status): a pass needs Succeeded, as Completed only says no task failed "
                    "(a timeout or a cancel may have skipped the tests); empty: not checked.", ""),
              param("task-reasons",
                    "name=$(tasks.<name>.reason) per task: a TaskRunCancelled marks a run stopped before it finished "
                    "(a cancel, or the tasks timeout); empty: not checked.", ""),
              param("app-revisions", "JSON {app: git revision}: the changed app's is the pull request head the run "
                    "tested. A stopped run whose pull request is closed or at another head says nothing (the newer "
                    "head's run reports).", "{}"),
              param("changed-app", "The app of the pull request.", ""),
              param("github-token-secret", "Secret holding the GitHub token (key: token).", "tekton-dag-github-token"),
              param("github-api", "GitHub API base URL.", "https://api.github.com"), RUN_NAME]
    envs = [
        env("PLAN_DIR", PLAN),
        env("PR_REPO", "$(params.pr-repo)"),
        env("PR_NUMBER", "$(params.pr-number)"),
        env("AGGREGATE_STATUS", "$(params.aggregate-status)"),
        env("TASK_STATUSES", "$(params.task-statuses)"),
        env("TESTS_STATUS", "$(params.tests-status)"),
        env("TASK_REASONS", "$(params.task-reasons)"),
        env("APP_REVISIONS", "$(params.app-revisions)"),
        env("CHANGED_APP", "$(params.changed-app)"),
        env("GITHUB_API", "$(params.github-api)"),
        env("RUN_NAME", "$(params.run-name)"),
        {
            "name": "GITHUB_TOKEN",
            "valueFrom": {"secretKeyRef": {"name": "$(params.github-token-secret)", "key": "token"}},
        },
    ]
    return task("post-result",
                "Comments the run's real outcome on the pull request (the aggregate and per-task states, plus test and "
                "intercept summaries when earlier tasks wrote them).",
                params, [step("comment", KUBECTL_IMAGE, script("post_result.sh"), envs)], workspaces=[SOURCE_WS])


def cleanup_run() -> dict[str, Any]:
    envs = [
        env("PLAN_DIR", PLAN),
        env("RUN_NAME", "$(params.run-name)"),
        env("DEFAULT_NAMESPACE", "$(context.taskRun.namespace)"),
    ]
    return task("cleanup-run",
                "Deletes the Deployments, Services and Pods labelled with this run (PR workloads, intercepts, leftover "
                "build pods), in the stack's namespaces: never another run's objects, never the stable stack.",
                [RUN_NAME], [step("cleanup", KUBECTL_IMAGE, script("cleanup.sh"), envs)], workspaces=[SOURCE_WS])


TASKS = [resolve_stack, clone_app_repos, *[lambda t=t: compile_task(t) for t in COMPILE], containerize,
         deploy_stack, deploy_intercepts, validate_intercepts, run_stack_tests, tag_release_images,
         post_result, cleanup_run]


# --- pipelines ----------------------------------------------------------------------------------
PIPELINE_PARAM_DOCS = {
    contract.P_TEAM: ("Team that owns the run.", None),
    contract.P_STACK: ("Stack name.", None),
    contract.P_STACK_JSON: ("The stack file as JSON.", None),
    contract.P_VERSIONS_JSON: ("JSON {app: {version, last-released}} of the team.", "{}"),
    contract.P_CHANGED_APP: ("App whose repo changed; empty for bootstrap.", ""),
    contract.P_BUILD_APPS: ("Comma-separated apps to build; empty = changed-app, or every app.", ""),
    contract.P_APP_REVISIONS: ("JSON {app: git revision}.", "{}"),
    contract.P_IMAGE_REGISTRY: ("Registry for <registry>/<app>:<image-tag>.", None),
    contract.P_CACHE_REPO: ("Kaniko cache repository; empty disables it.", ""),
    contract.P_IMAGE_TAG: ("Tag of the images built by this run.", None),
    contract.P_MAX_PARALLEL_BUILDS: ("Most image builds at once (team maxParallelBuilds).", "5"),
    contract.P_INSECURE_REGISTRY: ("\"true\": push and copy over plain HTTP (run-creator sets it for a localhost-style "
                                   "registry such as kind-registry:5000).", "false"),
    contract.P_PR_NUMBER: ("Pull request number.", None),
    contract.P_PR_REPO: ("owner/name of the PR's repository.", None),
    contract.P_INTERCEPT_BACKEND: ("telepresence or mirrord.", "telepresence"),
    contract.P_GITHUB_TOKEN_SECRET: ("Secret with the GitHub token (key token).", "tekton-dag-github-token"),
    contract.P_POST_RESULT_COMMENT: ("true: post-result comments the result on the PR; run-creator sets false when "
                                     "the team has GitHub checks (team.yaml github.checks).", "true"),
}
WS_DOCS = {
    contract.W_SHARED: "Per-run volume (volumeClaimTemplate): checkouts and the plan; build pods mount it.",
    contract.W_GIT_CREDENTIALS: "Secret with an ssh key + known_hosts and/or .git-credentials.",
    contract.W_BUILD_CACHE: "The team's build cache PVC (tool caches, build durations). Leave unbound under Tekton's "
    "default coschedule: workspaces (one PVC per TaskRun); caches then live in shared-workspace.",
}
RUN = "$(context.pipelineRun.name)"


def p(name: str) -> str:
    return f"$(params.{name})"


def ref(name: str, params: dict[str, str], workspaces: dict[str, str], *, after: list[str] | None = None,
        timeout: str | None = None, when: list | None = None, alias: str | None = None) -> dict[str, Any]:
    t: dict[str, Any] = {"name": alias or name, "taskRef": {"name": name}}
    if when:
        t["when"] = when
    if after:
        t["runAfter"] = after
    if timeout:
        t["timeout"] = timeout
    t["params"] = [{"name": k, "value": v} for k, v in params.items()]
    t["workspaces"] = [{"name": k, "workspace": v} for k, v in workspaces.items()]
    return t


SRC = {"source": contract.W_SHARED}
SRC_CACHE = {"source": contract.W_SHARED, "build-cache": contract.W_BUILD_CACHE}


def build_stage(*, pr: bool) -> list[dict[str, Any]]:
    """resolve -> clone -> compile (per tool, when used) -> containerize."""
    resolve = ref(
        "resolve-stack",
        {
            "stack-json": p(contract.P_STACK_JSON),
            "stack": p(contract.P_STACK),
            "team": p(contract.P_TEAM),
            "versions-json": p(contract.P_VERSIONS_JSON),
            "changed-app": p(contract.P_CHANGED_APP),
            "build-apps": p(contract.P_BUILD_APPS),
            "app-revisions": p(contract.P_APP_REVISIONS),
            "image-registry": p(contract.P_IMAGE_REGISTRY),
            "image-tag": p(contract.P_IMAGE_TAG),
            "run-name": RUN,
            **({"pr-number": p(contract.P_PR_NUMBER)} if pr else {}),
        },
        SRC_CACHE,
        timeout="5m",
    )
    clone = ref("clone-app-repos", {}, {"source": contract.W_SHARED, "git-credentials": contract.W_GIT_CREDENTIALS},
                after=["resolve-stack"], timeout="15m")
    compiles = [
        ref(
            f"compile-{tool}",
            {},
            SRC_CACHE,
            after=["clone-app-repos"],
            timeout="30m",
            when=[
                {"input": f"$(tasks.resolve-stack.results.run-compile-{tool})", "operator": "in", "values": ["true"]}
            ],
        )
        for tool in COMPILE
    ]
    build = ref("containerize", {"max-parallel-builds": p(contract.P_MAX_PARALLEL_BUILDS),
                                 "cache-repo": p(contract.P_CACHE_REPO), "run-name": RUN,
                                 "insecure-registry": p(contract.P_INSECURE_REGISTRY)},
                SRC_CACHE, after=[f"compile-{t}" for t in COMPILE], timeout="45m")
    return [resolve, clone, *compiles, build]


def pipeline(name: str, description: str, tasks: list, final: list) -> dict[str, Any]:
    params = []
    for pname in contract.PARAMS[name]:
        doc, default = PIPELINE_PARAM_DOCS[pname]
        params.append(param(pname, doc, default))
    workspaces = [{"name": w, "description": WS_DOCS[w], **({"optional": True} if w != contract.W_SHARED else {})}
                  for w in contract.WORKSPACES]
    return {"apiVersion": "tekton.dev/v1", "kind": "Pipeline",
            "metadata": {"name": name, "labels": LABELS, "annotations": dict(CATALOG_ANNOTATIONS)},
            "spec": {"description": description, "params": params, "workspaces": workspaces,
                     "tasks": tasks, "finally": final}}


def cleanup_final() -> dict[str, Any]:
    return ref("cleanup-run", {"run-name": RUN}, SRC, timeout="5m")


def pr_test() -> dict[str, Any]:
    header = "$(tasks.resolve-stack.results.header-name)"
    value = f"pr-{p(contract.P_PR_NUMBER)}"
    tasks = build_stage(pr=True) + [
        ref(
            "deploy-intercepts",
            {
                "pr-number": p(contract.P_PR_NUMBER),
                "header-name": header,
                "header-value": value,
                "intercept-backend": p(contract.P_INTERCEPT_BACKEND),
                "intercept-service-account": contract.INTERCEPT_SERVICE_ACCOUNT_PREFIX + p(contract.P_TEAM),
                "run-name": RUN,
            },
            SRC,
            after=["containerize"],
            timeout="15m",
        ),
        ref(
            "validate-intercepts",
            {"header-name": header, "header-value": value, "run-name": RUN},
            SRC,
            after=["deploy-intercepts"],
            timeout="5m",
        ),
        ref(
            "run-stack-tests",
            {"header-name": header, "header-value": value},
            SRC,
            after=["validate-intercepts"],
            timeout="30m",
        ),
    ]
    statuses = " ".join(f"{t['name']}=$(tasks.{t['name']}.status)" for t in tasks)
    # $(tasks.<name>.reason) (Tekton v0.62+, docs/variables.md): a stopped run's cancelled task says TaskRunCancelled.
    reasons = " ".join(f"{t['name']}=$(tasks.{t['name']}.reason)" for t in tasks)
    final = [cleanup_final(),
             ref("post-result", {"pr-repo": p(contract.P_PR_REPO), "pr-number": p(contract.P_PR_NUMBER),
                                 "aggregate-status": "$(tasks.status)", "task-statuses": statuses,
                                 "tests-status": "$(tasks.run-stack-tests.status)", "task-reasons": reasons,
                                 "app-revisions": p(contract.P_APP_REVISIONS),
                                 "changed-app": p(contract.P_CHANGED_APP),
                                 "github-token-secret": p(contract.P_GITHUB_TOKEN_SECRET), "run-name": RUN},
                 SRC, timeout="5m",
                 # Off with GitHub checks: status-reporter's check already carries the result.
                 when=[{"input": p(contract.P_POST_RESULT_COMMENT), "operator": "in", "values": ["true"]}])]
    return pipeline(
        contract.PR_TEST,
        "Builds the PR's app, runs it beside the stable stack behind a header intercept, validates routing, "
        "runs the stack tests and comments the real result on the PR.",
        tasks,
        final,
    )


def merge_release() -> dict[str, Any]:
    tasks = build_stage(pr=False) + [
        ref("tag-release-images", {"insecure-registry": p(contract.P_INSECURE_REGISTRY)}, SRC, after=["containerize"],
            timeout="10m"),
        ref("deploy-stack", {"only-built": "true"}, SRC,
            after=["tag-release-images"], timeout="20m"),
    ]
    return pipeline(contract.MERGE_RELEASE,
                    "Builds the merged app, tags its release image v<version> and rolls the stable stack forward.",
                    tasks, [cleanup_final()])


def bootstrap() -> dict[str, Any]:
    tasks = build_stage(pr=False) + [
        ref("deploy-stack", {"deploy-apps": ""}, SRC, after=["containerize"], timeout="30m"),
        ref("run-stack-tests", {}, SRC, after=["deploy-stack"], timeout="30m"),
    ]
    return pipeline(contract.BOOTSTRAP,
                    "Builds the selected apps (build-apps; every app when empty) in a sliding window of "
                    "max-parallel-builds, deploys the whole stack in dependency order and runs its tests.",
                    tasks, [cleanup_final()])


PIPELINES = {contract.PR_TEST: pr_test, contract.MERGE_RELEASE: merge_release, contract.BOOTSTRAP: bootstrap}


# --- output ---------------------------------------------------------------------------------------
class Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


Dumper.add_representer(str, _str)
HEADER = "# Generated by tasks/generate.py from tasks/scripts/ and tekton_dag/pipelines.py: edit those, then rerun.\n"


def render() -> dict[Path, str]:
    out: dict[Path, str] = {}
    for make in TASKS:
        doc = make()
        out[ROOT / "tasks" / f"{doc['metadata']['name']}.yaml"] = HEADER + yaml.dump(
            doc, Dumper=Dumper, sort_keys=False, width=120
        )
    for name, make in PIPELINES.items():
        doc = make()
        out[ROOT / "pipeline" / f"{name}.yaml"] = HEADER + yaml.dump(doc, Dumper=Dumper, sort_keys=False, width=120)
    return out


def main(argv: list[str]) -> int:
    files = render()
    if "--check" in argv:
        stale = [str(path.relative_to(ROOT)) for path, text in files.items()
                 if not path.exists() or path.read_text() != text]
        generated = {path.name for path in files}
        extra = [str(f.relative_to(ROOT)) for d in ("tasks", "pipeline") for f in (ROOT / d).glob("*.yaml")
                 if f.name not in generated]
        if stale or extra:
            print("stale generated files (run: python tasks/generate.py): " + ", ".join(stale + extra), file=sys.stderr)
            return 1
        return 0
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    print(f"wrote {len(files)} files")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
