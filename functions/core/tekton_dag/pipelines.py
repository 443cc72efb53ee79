"""The contract between the PipelineRuns we create and the Tekton pipelines in ``pipeline/``.

One place for each name: pipeline names, their params, workspaces, labels and annotations.
The PipelineRun builder writes exactly these; tests check that ``pipeline/*.yaml`` declares them.
See ``docs/pipeline-contract.md``.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Final

from tekton_dag.syntax import tcp_port

PR_TEST: Final = "stack-pr-test"
MERGE_RELEASE: Final = "stack-merge-release"
BOOTSTRAP: Final = "stack-bootstrap"
PIPELINES: Final = (PR_TEST, MERGE_RELEASE, BOOTSTRAP)

# Admission priority: lower number is admitted first (merge-release > pr-test > bootstrap).
PRIORITY: Final = {MERGE_RELEASE: 0, PR_TEST: 1, BOOTSTRAP: 2}

# --- Params every pipeline declares -----------------------------------------------------
P_TEAM: Final = "team"
P_STACK: Final = "stack"
P_STACK_JSON: Final = "stack-json"  # the stack file as JSON: pipelines need no checkout of config
P_VERSIONS_JSON: Final = "versions-json"  # {app: {version, last-released}} of the team
P_CHANGED_APP: Final = "changed-app"  # "" for bootstrap
P_BUILD_APPS: Final = "build-apps"  # comma-separated; "" means every app of the stack
P_APP_REVISIONS: Final = "app-revisions"  # JSON {app: git revision}; apps absent use their default branch
P_IMAGE_REGISTRY: Final = "image-registry"
P_CACHE_REPO: Final = "cache-repo"  # "" disables the build cache
P_IMAGE_TAG: Final = "image-tag"
P_MAX_PARALLEL_BUILDS: Final = "max-parallel-builds"
P_INSECURE_REGISTRY: Final = "insecure-registry"  # "true": push and copy images over plain HTTP
COMMON_PARAMS: Final = (
    P_TEAM, P_STACK, P_STACK_JSON, P_VERSIONS_JSON, P_CHANGED_APP, P_BUILD_APPS,
    P_APP_REVISIONS, P_IMAGE_REGISTRY, P_CACHE_REPO, P_IMAGE_TAG, P_MAX_PARALLEL_BUILDS, P_INSECURE_REGISTRY,
)

# The containerize task pushes ``<image-registry>/<app>:<image-tag>``, so both values must be
# parts of an image reference (github.com/distribution/reference, regexp.go: a tag is
# ``[\w][\w.-]{0,127}``; a domain is dot-separated components of letters, digits and inner '-',
# or a bracketed IPv6 address, with an optional port; a path is lowercase components joined by
# '.', '_', '__' or '-'s, separated by '/'). Checked where a value enters: the team schema's
# "image-registry" format, run and bootstrap requests, the registry client.
IMAGE_TAG: Final = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_DOMAIN = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
                     r"|\[[0-9A-Fa-f:]+\])(?::(?P<port>[0-9]+))?")
_PATH = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*")


def image_tag_problem(tag: str) -> str | None:
    """Why ``tag`` cannot be an image tag, or None."""
    if IMAGE_TAG.fullmatch(tag):
        return None
    return f"{tag!r} is not a valid tag (letters, digits, '_', '.', '-', not starting with '.' or '-'; " \
           "at most 128)"


def registry_host_and_path(registry: str) -> tuple[str, str]:
    """``registry`` (``host[:port][/path]``, or a Docker Hub path; blanks and a last '/' ignored)
    as (host, path); the host is "" for a Docker Hub path. Its first component is a host when it
    has '.' or ':' or is ``localhost`` (Docker's rule)."""
    value = registry.strip().rstrip("/")
    first, _, path = value.partition("/")
    if "." in first or ":" in first or first == "localhost":
        return first, path
    return "", value


def plain_http_host(host: str) -> bool:
    """Whether registry ``host`` (``name[:port]``) is spoken to over plain HTTP: a localhost-style
    name (``localhost``, ``*.localhost``, ``*.local``), a loopback address, or a single-label name
    with a port (``kind-registry:5000``: a cluster or docker-network name, never a public
    registry). The registry client asks such hosts over http (oci.references, which also takes
    an operator's list); the pipelines tell Kaniko and crane so with ``insecure-registry``, since
    go-containerregistry (``pkg/name/registry.go`` ``Scheme``) falls back to http by itself only for
    ``localhost:*``, loopback and RFC 1918 addresses, and a push to ``kind-registry:5000`` failed."""
    name, port = split_host_port(host)
    if name == "localhost" or name.endswith(".localhost") or name.endswith(".local"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        pass
    return port is not None and "." not in name


# Registry hosts an operator says are spoken to over plain HTTP besides the localhost-style ones
# (comma-separated ``host[:port]``; the chart's ``registries.insecure``): one list for the registry
# client (oci.references) and for the pipelines' ``insecure-registry`` (pipelineruns.building).
INSECURE_REGISTRIES_ENV: Final = "TEKTON_DAG_INSECURE_REGISTRIES"


def listed_insecure_hosts(value: str) -> frozenset[str]:
    """The hosts of an ``INSECURE_REGISTRIES_ENV`` value (blanks around commas ignored)."""
    return frozenset(h.strip() for h in value.split(",") if h.strip())


def insecure_registry_host(host: str, listed: frozenset[str]) -> bool:
    """Whether registry ``host`` is spoken to over plain HTTP: localhost-style (``plain_http_host``),
    or named in ``listed`` with its port or without one (a bare name covers every port)."""
    return host in listed or split_host_port(host)[0] in listed or plain_http_host(host)


def split_host_port(host: str) -> tuple[str, str | None]:
    """``host[:port]`` (``[v6]:port`` too) as (name, port or None)."""
    if host.startswith("["):  # [::1]:5000
        name, _, rest = host[1:].partition("]")
        return name, rest[1:] or None if rest.startswith(":") else None
    if host.count(":") == 1:
        name, port = host.split(":")
        return name, port
    return host, None


def image_registry_problem(registry: str) -> str | None:
    """Why ``registry`` (``registry_host_and_path``) cannot prefix an image name, or None: every
    rule an image registry value is held to, an empty one included."""
    first, path = registry_host_and_path(registry)
    if not first and not path:
        return "is empty"
    if first:
        host = _DOMAIN.fullmatch(first)
        if host is None:
            return f"{first!r} is not a registry host[:port] (letters, digits, '.', inner '-'; a numeric port)"
        if host["port"] is not None and tcp_port(host["port"]) is None:
            return f"{first!r}: port {host['port']} is not between 1 and 65535"
    if path and not _PATH.fullmatch(path):
        return f"{path!r} is not a repository path (lowercase letters and digits, joined by '.', '_' or '-', " \
               "components separated by '/')"
    return None


# --- Params of the PR-test pipeline only ------------------------------------------------
P_PR_NUMBER: Final = "pr-number"
P_PR_REPO: Final = "pr-repo"  # owner/name of the repo the PR is on (for the result comment)
P_INTERCEPT_BACKEND: Final = "intercept-backend"
P_GITHUB_TOKEN_SECRET: Final = "github-token-secret"
# "true": the pipeline's last task comments the result on the PR; "false" when the team has GitHub
# checks (status-reporter already shows the result: one summary, not two).
P_POST_RESULT_COMMENT: Final = "post-result-comment"
PR_TEST_PARAMS: Final = (P_PR_NUMBER, P_PR_REPO, P_INTERCEPT_BACKEND, P_GITHUB_TOKEN_SECRET, P_POST_RESULT_COMMENT)
# The ServiceAccount deploy-intercepts' intercept pods run as, <prefix><team>, in the namespace the
# stack deploys into: the tekton-dag chart renders it, with the Role telepresence connect/intercept or
# mirrord exec needs, in the team namespace and each team.deployNamespaces (a pod can only name a
# ServiceAccount of its own namespace; per team, since several teams may deploy into one namespace).
INTERCEPT_SERVICE_ACCOUNT_PREFIX: Final = "tekton-dag-intercept-"

PARAMS: Final = {
    PR_TEST: COMMON_PARAMS + PR_TEST_PARAMS,
    MERGE_RELEASE: COMMON_PARAMS,
    BOOTSTRAP: COMMON_PARAMS,
}

# --- Workspaces --------------------------------------------------------------------------
W_SHARED: Final = "shared-workspace"  # volumeClaimTemplate, one per run
W_GIT_CREDENTIALS: Final = "git-credentials"  # Secret: ssh key and/or .git-credentials
W_BUILD_CACHE: Final = "build-cache"  # PVC shared by a team's runs (tool caches)
WORKSPACES: Final = (W_SHARED, W_GIT_CREDENTIALS, W_BUILD_CACHE)

# --- Labels and annotations on PipelineRuns ------------------------------------------------
L_TEAM: Final = "tekton-dag.dev/team"
L_STACK: Final = "tekton-dag.dev/stack"
L_APP: Final = "tekton-dag.dev/app"
L_PR: Final = "tekton-dag.dev/pr"
L_MERGE_GROUP: Final = "tekton-dag.dev/merge-group"  # a merge queue group's head ref (as a label value)
L_PIPELINE: Final = "tekton-dag.dev/pipeline"
L_PRIORITY: Final = "tekton-dag.dev/priority"
# On objects a run creates at run time (build pods, PR workloads, intercepts): cleanup selects by it.
L_RUN: Final = "tekton-dag.dev/run"
L_MANAGED_BY: Final = "app.kubernetes.io/managed-by"
MANAGED_BY: Final = "tekton-dag"
A_DELIVERY: Final = "tekton-dag.dev/delivery"
A_TRACEPARENT: Final = "tekton-dag.dev/traceparent"
A_HEAD_SHA: Final = "tekton-dag.dev/head-sha"
# Written by status-reporter: the GitHub check run of this PipelineRun and the last status it reported
# (queued, in_progress, completed), so updates stay monotonic without another store.
A_CHECK_RUN_ID: Final = "tekton-dag.dev/check-run-id"
A_CHECK_STATUS: Final = "tekton-dag.dev/check-status"
# The GitHub App installation that may act on the run's repository (absent: token auth).
A_GITHUB_INSTALLATION: Final = "tekton-dag.dev/github-installation"

# --- Pipeline tasks -------------------------------------------------------------------------
# Tekton fails a PipelineRun whose taskRunSpecs name a task its Pipeline lacks, so the builder
# writes taskRunSpecs only for these (tests check them against pipeline/*.yaml).
_BUILD_TASKS: Final = ("resolve-stack", "clone-app-repos", "compile-npm", "compile-maven", "compile-gradle",
                       "compile-pip", "compile-composer", "containerize")
PIPELINE_TASKS: Final = {
    PR_TEST: _BUILD_TASKS
    + ("deploy-intercepts", "validate-intercepts", "run-stack-tests", "cleanup-run", "post-result"),
    MERGE_RELEASE: _BUILD_TASKS + ("tag-release-images", "deploy-stack", "cleanup-run"),
    BOOTSTRAP: _BUILD_TASKS + ("deploy-stack", "run-stack-tests", "cleanup-run"),
}
# The only tasks whose pods get a ServiceAccount token: they call the Kubernetes API. Every other
# task (PR code in compile-* and run-stack-tests among them) runs with automountServiceAccountToken
# false. See docs/tekton.md "Trust model".
API_TASKS: Final = ("containerize", "deploy-stack", "deploy-intercepts", "validate-intercepts", "cleanup-run")


# --- Step resources ---------------------------------------------------------------------------
def _resources(cpu: str, memory: str, memory_limit: str) -> dict[str, dict[str, str]]:
    """A step's computeResources: requests (a namespace with a ResourceQuota admits no BestEffort
    pod) and a memory limit."""
    return {"requests": {"cpu": cpu, "memory": memory}, "limits": {"memory": memory_limit}}


_LIGHT: Final = _resources("50m", "64Mi", "256Mi")  # kubectl/jq/curl/crane loops that wait on the cluster
_PYTHON: Final = _resources("100m", "128Mi", "512Mi")
# Every step of tekton-dag's Tasks, "<task>/<step>", and its computeResources: tasks/generate.py
# writes them into tasks/*.yaml, and a team's pipelineRuns.stepResources may override only these
# (config checks the keys, and each override merged over these as Tekton merges it).
STEP_RESOURCES: Final = {
    "resolve-stack/resolve": _PYTHON,
    "clone-app-repos/clone": _resources("250m", "256Mi", "1Gi"),
    **{f"{task}/compile": _resources("1", "2Gi", "4Gi") for task in _BUILD_TASKS if task.startswith("compile-")},
    "containerize/build": _LIGHT,
    "deploy-stack/deploy": _LIGHT,
    "deploy-intercepts/intercept": _PYTHON,
    "validate-intercepts/validate": _LIGHT,
    "run-stack-tests/postman": _resources("250m", "256Mi", "1Gi"),
    "run-stack-tests/playwright": _resources("1", "1Gi", "3Gi"),
    "run-stack-tests/artillery": _resources("500m", "512Mi", "1Gi"),
    "tag-release-images/tag": _LIGHT,
    "post-result/comment": _LIGHT,
    "cleanup-run/cleanup": _LIGHT,
}
