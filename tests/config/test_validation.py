"""Every class of configuration problem, each from a real malformed file, with its exact message.

Each case writes the valid BASE tree with some files changed, loads it, and compares the complete
list of problems: a case fails on a missing message and on any extra one.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from support.trees import BASE, write_tree
from tekton_dag.config.loading import load_config

SHOP = "teams/alpha/stacks/shop.yaml"
ALPHA = "teams/alpha/team.yaml"


def stack(apps: str, head: str = "name: shop\n") -> str:
    return head + "apps:\n" + apps


REPO_PATH = ("must be a relative path inside the app's repository (letters, digits, '_', '.', '-' and '/'; "
             "no leading '/', no '..')")
APP_A = "  - name: a\n    repo: o/a\n    role: middleware\n    build: {tool: npm}\n"

CASES: list[tuple[str, dict[str, str | None], list[str]]] = [
    (
        "an fsGroup no Pod may have (kube-apiserver: a GID from 0 to 2147483647)",
        {ALPHA: "name: alpha\nnamespace: alpha-ci\nstacks: [stacks/shop.yaml]\n"
                "pipelineRuns: {fsGroup: 2147483648}\n"},
        [f"{ALPHA}: pipelineRuns.fsGroup: 2147483648 is greater than the maximum of 2147483647"],
    ),
    (
        "an unknown field suggests the closest known one",
        {ALPHA: "name: alpha\nnamespace: alpha-ci\nstacks: [stacks/shop.yaml]\nimageRegistery: r\n"},
        [f'{ALPHA}: imageRegistery: unknown field (did you mean "imageRegistry"?)'],
    ),
    (
        "a registry or cache repository no image name can start with",
        {ALPHA: "name: alpha\nnamespace: alpha-ci\nstacks: [stacks/shop.yaml]\nimageRegistry: localhost:50x0\n"
                "cacheRepo: registry.example.com:99999/cache\n"},
        [f"{ALPHA}: imageRegistry: \"localhost:50x0\" is not usable in an image name: 'localhost:50x0' is not a "
         "registry host[:port] (letters, digits, '.', inner '-'; a numeric port)",
         f"{ALPHA}: cacheRepo: \"registry.example.com:99999/cache\" is not usable in an image name: "
         "'registry.example.com:99999': port 99999 is not between 1 and 65535"],
    ),
    (
        "an unknown field deep in an app",
        {SHOP: stack(APP_A.replace("{tool: npm}", "{tool: npm, cache: true}"))},
        [
            f"{SHOP}: apps[0].build.cache: unknown field; allowed: tool, build-command, pre-command, post-command, "
            "runtime, expected-minutes, env, legacy"
        ],
    ),
    (
        "missing required fields are each named",
        {ALPHA: "name: alpha\n", SHOP: stack("  - name: a\n    repo: o/a\n")},
        [f"{ALPHA}: namespace: required field is missing", f"{ALPHA}: stacks: required field is missing"],
    ),
    (
        "missing fields of an app",
        {SHOP: stack("  - name: a\n    repo: o/a\n")},
        [f"{SHOP}: apps[0].role: required field is missing", f"{SHOP}: apps[0].build: required field is missing"],
    ),
    (
        "wrong types say what was expected and what was found",
        {
            ALPHA: "name: alpha\nnamespace: alpha-ci\nstacks: stacks/shop.yaml\nmaxConcurrentRuns: '3'\n"
            "pullRequests: {skipDrafts: yes please}\n"
        },
        [
            f'{ALPHA}: stacks: expected a list, got a string "stacks/shop.yaml"',
            f'{ALPHA}: maxConcurrentRuns: expected an integer, got a string "3"',
            f'{ALPHA}: pullRequests.skipDrafts: expected true or false, got a string "yes please"',
        ],
    ),
    (
        "a value outside its enum lists the allowed ones",
        {SHOP: stack(APP_A.replace("npm", "ant").replace("middleware", "middleware-vendor"))},
        [
            f'{SHOP}: apps[0].role: "middleware-vendor" is not one of: frontend, middleware, persistence, standalone',
            f'{SHOP}: apps[0].build.tool: "ant" is not one of: npm, maven, gradle, pip, composer',
        ],
    ),
    (
        # A "|" block keeps its final line break: Python's "$" matched before it, so these passed.
        "a name and a repository ending in a line break",
        {
            ALPHA: "name: alpha\nnamespace: |\n  alpha-ci\nstacks: [stacks/shop.yaml]\n",
            SHOP: stack(APP_A.replace("repo: o/a", 'repo: "o/a\\n"')),
        },
        [
            f"{ALPHA}: namespace: \"alpha-ci\\n\" is not a DNS-1123 label (lowercase letters, digits and '-', "
            "starting and ending with a letter or digit, at most 63 characters)",
            f"{SHOP}: apps[0].repo: \"o/a\\n\" is not a GitHub repository as owner/name",
        ],
    ),
    (
        "names that are not DNS-1123 labels",
        {
            ALPHA: "name: alpha\nnamespace: Alpha_CI\nstacks: [stacks/shop.yaml]\n",
            SHOP: stack(APP_A.replace("name: a", "name: Cart.API"), head="name: my-shop-\n"),
        },
        [
            f"{ALPHA}: namespace: \"Alpha_CI\" is not a DNS-1123 label (lowercase letters, digits and '-', starting "
            "and ending with a letter or digit, at most 63 characters)",
            f"{SHOP}: name: \"my-shop-\" is not a DNS-1123 label (lowercase letters, digits and '-', starting and "
            "ending with a letter or digit, at most 63 characters)",
            f"{SHOP}: apps[0].name: \"Cart.API\" is not a DNS-1123 label (lowercase letters, digits and '-', starting "
            "and ending with a letter or digit, at most 63 characters)",
        ],
    ),
    (
        "a repo that is not owner/name",
        {SHOP: stack(APP_A.replace("repo: o/a", "repo: https://github.com/o/a"))},
        [f'{SHOP}: apps[0].repo: "https://github.com/o/a" is not a GitHub repository as owner/name'],
    ),
    (
        "an unknown downstream app names the app",
        {
            SHOP: stack(
                APP_A + "    downstream: [b, cart-api]\n" + APP_A.replace("name: a", "name: b").replace("o/a", "o/b")
            )
        },
        [f'{SHOP}: apps[0].downstream[1]: unknown app "cart-api"'],
    ),
    (
        "a dependency cycle is printed",
        {
            SHOP: stack(
                APP_A
                + "    downstream: [b]\n"
                + APP_A.replace("name: a", "name: b").replace("o/a", "o/b")
                + "    downstream: [c]\n"
                + APP_A.replace("name: a", "name: c").replace("o/a", "o/c")
                + "    downstream: [a]\n"
            )
        },
        [f"{SHOP}: apps[0].downstream: dependency cycle: a -> b -> c -> a"],
    ),
    (
        "an app calling itself is a cycle",
        {SHOP: stack(APP_A + "    downstream: [a]\n")},
        [f"{SHOP}: apps[0].downstream: dependency cycle: a -> a"],
    ),
    (
        "the same downstream app listed twice",
        {SHOP: stack(APP_A + "    downstream: [b, b]\n" + APP_A.replace("name: a", "name: b").replace("o/a", "o/b"))},
        [f'{SHOP}: apps[0].downstream: lists the same item twice: "b"'],
    ),
    (
        "duplicate app names",
        {SHOP: stack(APP_A + APP_A.replace("o/a", "o/a2"))},
        [f'{SHOP}: apps[1].name: duplicate app name "a" (also apps[0])'],
    ),
    (
        "one repo serving two apps of one stack is ambiguous (any case)",
        {SHOP: stack(APP_A + APP_A.replace("name: a", "name: b").replace("o/a", "O/A"))},
        [
            f'{SHOP}: apps[1].repo: repo "O/A" already serves app "a" (apps[0]) in this stack; '
            "a repo may serve only one app per stack"
        ],
    ),
    (
        "a stack file that does not exist",
        {ALPHA: "name: alpha\nnamespace: alpha-ci\nstacks: [stacks/shop.yaml, stacks/cart.yaml]\n"},
        [f'{ALPHA}: stacks[1]: stack file "stacks/cart.yaml" does not exist'],
    ),
    (
        "a stack path outside the team directory",
        {ALPHA: "name: alpha\nnamespace: alpha-ci\nstacks: [../beta/stacks/shop.yaml]\n"},
        [
            f'{ALPHA}: stacks[0]: "../beta/stacks/shop.yaml" must be a relative path inside its directory '
            "(no leading '/', no '..')"
        ],
    ),
    (
        # Deeper than the team's digest and the reloader look: its changes went unseen (review).
        "a stack file deeper than the reloader looks",
        {
            ALPHA: "name: alpha\nnamespace: alpha-ci\nstacks: [stacks/a/b/c/d/shop.yaml]\n",
            "teams/alpha/stacks/a/b/c/d/shop.yaml": stack(APP_A),
        },
        [f'{ALPHA}: stacks[0]: stack file "stacks/a/b/c/d/shop.yaml" is more than 4 directories deep '
         "(changes to it would not be noticed)"],
    ),
    (
        "two teams claiming one namespace",
        {ALPHA: "name: alpha\nnamespace: beta-ci\nstacks: [stacks/shop.yaml]\n"},
        [
            f'{ALPHA}: namespace: namespace "beta-ci" is also used by team(s) "beta"; set sharedNamespace: true '
            "in every team that shares it",
            'teams/beta/team.yaml: namespace: namespace "beta-ci" is also used by team(s) "alpha"; set '
            "sharedNamespace: true in every team that shares it",
        ],
    ),
    (
        "a shared namespace needs the consent of every team in it",
        {ALPHA: "name: alpha\nnamespace: beta-ci\nsharedNamespace: true\nstacks: [stacks/shop.yaml]\n"},
        [
            'teams/beta/team.yaml: namespace: namespace "beta-ci" is also used by team(s) "alpha"; set '
            "sharedNamespace: true in every team that shares it"
        ],
    ),
    (
        "a YAML syntax error gives line and column",
        {SHOP: "name: shop\napps:\n  - name: a\n    repo: o/a\n   role: frontend\n"},
        [
            f"{SHOP}: line 5, column 4: invalid YAML: did not find expected '-' indicator "
            "(while parsing a block collection)"
        ],
    ),
    (
        "a key given twice in one mapping",
        {ALPHA: "name: alpha\nnamespace: alpha-ci\nstacks: [stacks/shop.yaml]\nnamespace: other\n"},
        [f'{ALPHA}: line 4, column 1: invalid YAML: duplicate key "namespace" (first at line 2)'],
    ),
    (
        "a key that YAML reads as a boolean",
        {"teams/alpha/versions.yaml": "apps:\n  on:\n    version: 1.0.0\n"},
        ['teams/alpha/versions.yaml: line 2, column 3: invalid YAML: key "on" must be a string (quote it)'],
    ),
    (
        "an empty file",
        {SHOP: "# nothing yet\n"},
        [f"{SHOP}: (top): expected a mapping, got null null"],
    ),
    (
        "a team directory without team.yaml",
        {"teams/gamma/stacks/shop.yaml": BASE[SHOP]},
        ["teams/gamma/team.yaml: (top): missing: every team directory needs a team.yaml"],
    ),
    (
        "a team name that differs from its directory",
        {ALPHA: "name: alfa\nnamespace: alpha-ci\nstacks: [stacks/shop.yaml]\n"},
        [f'{ALPHA}: name: team name "alfa" differs from its directory "alpha"'],
    ),
    (
        "two stacks of one team with the same name",
        {
            ALPHA: "name: alpha\nnamespace: alpha-ci\nstacks: [stacks/shop.yaml, stacks/shop2.yaml]\n",
            "teams/alpha/stacks/shop2.yaml": stack(APP_A),
        },
        [
            'teams/alpha/stacks/shop2.yaml: name: team "alpha" already has a stack named "shop" '
            "(teams/alpha/stacks/shop.yaml)"
        ],
    ),
    (
        "one app name for two repos inside a team",
        {
            ALPHA: "name: alpha\nnamespace: alpha-ci\nstacks: [stacks/shop.yaml, stacks/ops.yaml]\n",
            "teams/alpha/stacks/ops.yaml": stack(APP_A.replace("name: a", "name: web"), head="name: ops\n"),
        },
        [
            'teams/alpha/stacks/ops.yaml: apps[0].repo: app "web" is "acme/web" in teams/alpha/stacks/shop.yaml; '
            'one app name must mean one repo within team "alpha"'
        ],
    ),
    (
        "a version for an app no stack defines",
        {"teams/alpha/versions.yaml": "apps:\n  web: {version: 1.0.0}\n  wbe: {version: 1.0.0}\n"},
        ['teams/alpha/versions.yaml: apps.wbe: unknown app "wbe" (no stack of team "alpha" defines it)'],
    ),
    (
        "a version that YAML reads as a number",
        {"teams/alpha/versions.yaml": "apps:\n  web: {version: 1.0, last-released: 0.9.0}\n"},
        ["teams/alpha/versions.yaml: apps.web.version: expected a string, got a number 1.0"],
    ),
    (
        "a bad duration and port",
        {
            ALPHA: (
                "name: alpha\nnamespace: alpha-ci\nstacks: [stacks/shop.yaml]\n"
                "pipelineRuns: {timeouts: {pipeline: 1 hour}}\n"
            ),
            SHOP: stack(APP_A + "    container-port: http\n"),
        },
        [
            f'{ALPHA}: pipelineRuns.timeouts.pipeline: "1 hour" does not match the pattern '
            r"^([0-9]+(\.[0-9]+)?(h|m|s|ms))+$",
            f'{SHOP}: apps[0].container-port: "http" is not valid: '
            "expected a TCP port (1 to 65535), as a number or a string of digits",
        ],
    ),
    (
        "build env names the compile step refuses mid-run",
        {SHOP: stack(APP_A.replace("{tool: npm}", "{tool: npm, env: {MY-VAR: x, 1X: y, OK_1: z}}"))},
        [f"{SHOP}: apps[0].build.env{key}: key {name} is not an environment variable name (letters, digits and "
         "'_', not starting with a digit; the compile step refuses others)"
         for key, name in ((".MY-VAR", '"MY-VAR"'), (".1X", '"1X"'))],
    ),
    (
        "paths outside the app's repository, which resolve-stack would refuse mid-run",
        {SHOP: stack(APP_A + "    context-dir: ../other\n    dockerfile: build/Docker file\n"
                             "    tests: {postman: /etc/collection.json}\n")},
        [f'{SHOP}: apps[0].context-dir: "../other" {REPO_PATH}',
         f'{SHOP}: apps[0].dockerfile: "build/Docker file" {REPO_PATH}',
         f'{SHOP}: apps[0].tests.postman: "/etc/collection.json" {REPO_PATH}'],
    ),
    (
        "ports and a namespace kube-apiserver refuses in the Services and Deployments a run applies",
        {SHOP: stack(APP_A + "    container-port: '0'\n    service-port: 65536\n",
                     head="name: shop\ndefaults: {namespace: Staging_NS, service-port: '99999', "
                          "container-port: '65535'}\n")},
        [
            f'{SHOP}: defaults.namespace: "Staging_NS" is not a DNS-1123 label (lowercase letters, digits and \'-\', '
            "starting and ending with a letter or digit, at most 63 characters)",
            f'{SHOP}: defaults.service-port: "99999" is not valid: '
            "expected a TCP port (1 to 65535), as a number or a string of digits",
            f'{SHOP}: apps[0].container-port: "0" is not valid: '
            "expected a TCP port (1 to 65535), as a number or a string of digits",
            f"{SHOP}: apps[0].service-port: 65536 is not valid: "
            "expected a TCP port (1 to 65535), as a number or a string of digits",
        ],
    ),
    (
        "a details URL GitHub refuses once filled in: no host",
        {ALPHA: "name: alpha\nnamespace: alpha-ci\nstacks: [stacks/shop.yaml]\n"
                "github: {checks: true, detailsUrl: 'https:///#/namespaces/{namespace}/pipelineruns/{name}'}\n"},
        [f'{ALPHA}: github.detailsUrl: "https:///#/namespaces/{{namespace}}/pipelineruns/{{name}}" has no host '
         "once {namespace} and {name} are filled in (GitHub refuses such a details_url)"],
    ),
    (
        "a details URL GitHub refuses once filled in: a port out of range",
        {ALPHA: "name: alpha\nnamespace: alpha-ci\nstacks: [stacks/shop.yaml]\n"
                "github: {detailsUrl: 'https://dash.example:99999/{name}'}\n"},
        [f'{ALPHA}: github.detailsUrl: "https://dash.example:99999/{{name}}" is not a URL (Port out of range '
         "0-65535) once {namespace} and {name} are filled in (GitHub refuses such a details_url)"],
    ),
    (
        "timeouts Tekton v1 refuses: the defaults of tasks and finally under a shorter pipeline",
        {ALPHA: "name: alpha\nnamespace: alpha-ci\nstacks: [stacks/shop.yaml]\n"
                "pipelineRuns: {timeouts: {pipeline: 30m}}\n"},
        [f"{ALPHA}: pipelineRuns.timeouts: tasks 50m0s (the default) must be more than 0 and at most pipeline 30m "
         "(Tekton refuses the PipelineRun otherwise)",
         f"{ALPHA}: pipelineRuns.timeouts: tasks 50m0s (the default) + finally 10m0s (the default) must be at most "
         "pipeline 30m (Tekton refuses the PipelineRun otherwise)"],
    ),
    (
        "timeouts Tekton v1 refuses: tasks and finally over the pipeline together",
        {ALPHA: "name: alpha\nnamespace: alpha-ci\nstacks: [stacks/shop.yaml]\n"
                "pipelineRuns: {timeouts: {pipeline: 1h, tasks: 55m}}\n"},
        [f"{ALPHA}: pipelineRuns.timeouts: tasks 55m + finally 10m0s (the default) must be at most pipeline 1h "
         "(Tekton refuses the PipelineRun otherwise)"],
    ),
    (
        "durations longer than Go's time.Duration holds (2**63 - 1 ns): Tekton refuses every run, time: invalid "
        "duration; retention.maxAge is held to the same rule",
        {ALPHA: "name: alpha\nnamespace: alpha-ci\nstacks: [stacks/shop.yaml]\n"
                "pipelineRuns: {timeouts: {pipeline: 2562047h47m16.854775808s, tasks: 2562048h}}\n"
                "retention: {maxAge: 9223372037s}\n"},
        [f'{ALPHA}: pipelineRuns.timeouts.pipeline: "2562047h47m16.854775808s" is longer than a Go duration can be '
         "(at most 2562047h47m16.854775807s): Tekton would refuse every PipelineRun (time: invalid duration)",
         f'{ALPHA}: pipelineRuns.timeouts.tasks: "2562048h" is longer than a Go duration can be '
         "(at most 2562047h47m16.854775807s): Tekton would refuse every PipelineRun (time: invalid duration)",
         f'{ALPHA}: retention.maxAge: "9223372037s" is longer than a Go duration can be '
         "(at most 2562047h47m16.854775807s): Tekton would refuse every PipelineRun (time: invalid duration)"],
    ),
    (
        "timeouts Tekton v1 refuses: no pipeline timeout under bounded tasks",
        {ALPHA: "name: alpha\nnamespace: alpha-ci\nstacks: [stacks/shop.yaml]\n"
                "pipelineRuns: {timeouts: {pipeline: 0s, finally: 0s}}\n"},
        [f"{ALPHA}: pipelineRuns.timeouts: with pipeline 0s (no timeout), tasks 50m0s (the default) must be 0 too "
         "(Tekton refuses the PipelineRun otherwise)"],
    ),
    (
        "step resources a cluster refuses: no such step, a request above its limit once merged over the Task's, "
        "a workspace of size 0",
        {ALPHA: "name: alpha\nnamespace: alpha-ci\nstacks: [stacks/shop.yaml]\n"
                "pipelineRuns:\n  workspaceSize: '0.0Gi'\n  stepResources:\n"
                "    compile-npm/build: {limits: {memory: 8Gi}}\n"
                "    deploy/deploy: {limits: {memory: 1Gi}}\n"
                "    compile-maven/compile: {requests: {cpu: '2', memory: 6Gi}, limits: {cpu: 1500m}}\n"
                "    run-stack-tests/postman: {limits: {memory: 100Mi}}\n"
                "    run-stack-tests/playwright: {requests: {memory: 3Gi}, limits: {cpu: '1'}}\n"},
        [f'{ALPHA}: pipelineRuns.workspaceSize: "0.0Gi" must be more than 0 (kube-apiserver refuses a '
         "PersistentVolumeClaim of size 0)",
         f'{ALPHA}: pipelineRuns.stepResources["compile-npm/build"]: "compile-npm/build" names no step of '
         "tekton-dag's Tasks (Tekton would fail the TaskRun); the steps: compile-npm/compile",
         f'{ALPHA}: pipelineRuns.stepResources["deploy/deploy"]: "deploy/deploy" names no step of tekton-dag\'s '
         "Tasks (Tekton would fail the TaskRun); the steps: cleanup-run/cleanup, clone-app-repos/clone, "
         "compile-composer/compile, compile-gradle/compile, compile-maven/compile, compile-npm/compile, "
         "compile-pip/compile, containerize/build, deploy-intercepts/intercept, deploy-stack/deploy, "
         "post-result/comment, resolve-stack/resolve, run-stack-tests/artillery, run-stack-tests/playwright, "
         "run-stack-tests/postman, tag-release-images/tag, validate-intercepts/validate",
         f'{ALPHA}: pipelineRuns.stepResources["compile-maven/compile"]: requests.memory 6Gi is more than '
         "limits.memory 4Gi (the Task's): kube-apiserver refuses the step's Pod and Tekton fails the TaskRun",
         f'{ALPHA}: pipelineRuns.stepResources["compile-maven/compile"]: requests.cpu 2 is more than '
         "limits.cpu 1500m: kube-apiserver refuses the step's Pod and Tekton fails the TaskRun",
         f'{ALPHA}: pipelineRuns.stepResources["run-stack-tests/postman"]: requests.memory 256Mi (the Task\'s) is '
         "more than limits.memory 100Mi: kube-apiserver refuses the step's Pod and Tekton fails the TaskRun"],
    ),
    (
        "Tekton settings: the coschedule mode, step resources, names and header a run can carry",
        {
            ALPHA: "name: alpha\nnamespace: alpha-ci\nstacks: [stacks/shop.yaml]\n"
            "pipelineRuns:\n  coschedule: nodes\n"
            "  stepResources:\n    compile-maven: {requests: {cpu: 2}}\n"
            "    compile-npm/compile: {limits: {gpu: '1'}}\n",
            SHOP: stack(
                APP_A.replace("name: a", "name: " + "a" * 41),
                head="name: shop\npropagation: {header-name: " + "h" * 129 + "}\n",
            ),
        },
        [
            f'{SHOP}: apps[0].name: "{"a" * 41}" is longer than 40 characters',
            f'{SHOP}: propagation.header-name: "{"h" * 56}... is longer than 128 characters',
            f'{ALPHA}: pipelineRuns.coschedule: "nodes" is not one of: '
            "workspaces, pipelineruns, isolate-pipelinerun, disabled",
            f"{ALPHA}: pipelineRuns.stepResources.compile-maven.requests.cpu: expected a string, got an integer 2",
            f'{ALPHA}: pipelineRuns.stepResources.compile-maven: key "compile-maven" is not <task>/<step> '
            "(e.g. compile-maven/compile)",
            f'{ALPHA}: pipelineRuns.stepResources["compile-npm/compile"].limits.gpu: '
            'unknown field (did you mean "cpu"?)',
        ],
    ),
]


@pytest.mark.parametrize(("changes", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_problem_is_reported_with_file_and_path(tmp_path: Path, changes: dict[str, str | None],
                                                     expected: list[str]) -> None:
    root = write_tree(tmp_path, {**BASE, **changes})
    result = load_config(root)
    assert result.config is None
    assert sorted(map(str, result.errors)) == sorted(expected)


def test_the_base_tree_is_valid(tmp_path: Path) -> None:
    result = load_config(write_tree(tmp_path, BASE))
    assert result.errors == ()
    assert result.config is not None


@pytest.mark.parametrize("downstream", [
    {"web": "[api]", "api": "[db]", "db": "[]"},  # callers before callees: sound at a glance
    {"web": "[db, api]", "api": "[db]", "db": "[]"},
    {"web": "[]", "api": "[web]", "db": "[api]"},  # callees first: the full checks decide
])
def test_a_sound_stack_in_any_order_is_valid(tmp_path: Path, downstream: dict[str, str]) -> None:
    # checks._valid_stack_is_sound accepts a stack in one pass or hands it to the checks above.
    apps = "".join(f"  - {{name: {name}, repo: acme/{name}, role: standalone, build: {{tool: npm}}, "
                   f"downstream: {calls}}}\n" for name, calls in downstream.items())
    result = load_config(write_tree(tmp_path, {**BASE, SHOP: f"name: shop\napps:\n{apps}"}))
    assert result.errors == ()


def test_every_problem_of_every_file_is_reported_at_once(tmp_path: Path) -> None:
    """One load lists the problems of several files and kinds together, grouped by file."""
    cases = {name: (changes, expected) for name, changes, expected in CASES}
    cycle_changes, cycle_errors = cases["a dependency cycle is printed"]
    type_changes, type_errors = cases["an unknown field suggests the closest known one"]
    enum_changes, enum_errors = cases["a value outside its enum lists the allowed ones"]
    beta = "teams/beta/stacks/shop.yaml"
    changes = {**cycle_changes, **type_changes, beta: enum_changes[SHOP]}
    expected = [*cycle_errors, *type_errors, *(e.replace(SHOP, beta) for e in enum_errors)]
    result = load_config(write_tree(tmp_path, {**BASE, **changes}))
    assert sorted(map(str, result.errors)) == sorted(expected)
    files = [e.file for e in result.errors]
    assert files == sorted(files), "problems are grouped by file"


def test_a_missing_root_without_fallback_is_one_clear_error(tmp_path: Path) -> None:
    result = load_config(tmp_path / "teams")
    assert [str(e) for e in result.errors] == [
        "teams: (top): no such directory (and no stacks/registry.yaml beside it)"
    ]


def test_an_empty_root_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "teams").mkdir()
    result = load_config(tmp_path / "teams")
    assert [str(e) for e in result.errors] == ["teams: (top): no team directories (expected <team>/team.yaml)"]


REGISTRY = "stacks/registry.yaml"
ONE = "stacks/one.yaml"


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        pytest.param(
            {REGISTRY: "repos:\n  a: {stack: missing.yaml}\n"},
            [f'{REGISTRY}: repos.a.stack: stack file "missing.yaml" does not exist'],
            id="missing stack file",
        ),
        pytest.param(
            {REGISTRY: "repos:\n  b: {stack: one.yaml}\n", ONE: stack(APP_A, head="name: one\n")},
            [f'{REGISTRY}: repos.b: app "b" is not defined in {ONE}'],
            id="app not in its stack",
        ),
        pytest.param(
            {REGISTRY: "repos:\n  a: {stack: one.yaml, role: frontend}\n", ONE: stack(APP_A, head="name: one\n")},
            [f'{REGISTRY}: repos.a.role: role "frontend" differs from "middleware" in {ONE}'],
            id="role differs",
        ),
        pytest.param(
            {REGISTRY: "repo:\n  a: {stack: one.yaml}\n"},
            [
                f'{REGISTRY}: repo: unknown field (did you mean "repos"?)',
                f"{REGISTRY}: repos: required field is missing",
            ],
            id="misspelt key",
        ),
    ],
)
def test_fallback_registry_problems(tmp_path: Path, files: dict[str, str], expected: list[str]) -> None:
    write_tree(tmp_path, files)
    result = load_config(tmp_path / "teams")
    assert sorted(map(str, result.errors)) == sorted(expected)


def test_an_unreadable_root_is_an_error_not_an_exception(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = write_tree(tmp_path, BASE)

    def refuse(self: Path) -> None:  # what a non-root user sees on a directory without read access
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "iterdir", refuse)
    result = load_config(root)
    assert [str(e) for e in result.errors] == ["teams: (top): cannot list: Permission denied"]
