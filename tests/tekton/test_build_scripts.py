"""clone.sh (real git), compile.sh, tag_release.sh (fake crane) and post_result.sh (real curl to a local server)."""

from __future__ import annotations

import http.server
import json
import os
import shutil
import subprocess
import threading
from pathlib import Path
from typing import ClassVar

import pytest
import yaml

from support.helm import REPO
from tekton_dag.testing.task_scripts import SCRIPTS

SH = shutil.which("dash") or "sh"


def sh(script: str, env: dict[str, str], shell: str = SH) -> subprocess.CompletedProcess:
    base = {"PATH": os.environ["PATH"]}
    return subprocess.run(
        [shell, str(SCRIPTS / script)], env={**base, **env}, capture_output=True, text=True, timeout=60
    )


def make_repo(root: Path, name: str) -> str:
    repo = root / "remote" / "acme" / f"{name}.git"
    work = root / "work" / name
    work.mkdir(parents=True)
    git = ["git", "-C", str(work), "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run(["git", "init", "-q", "-b", "main", str(work)], check=True)
    (work / "README").write_text(f"{name} v1\n")
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "v1"], check=True)
    first = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    (work / "README").write_text(f"{name} v2\n")
    subprocess.run([*git, "commit", "-qam", "v2"], check=True)
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(repo)], check=True)
    subprocess.run(["git", "-C", str(repo), "config", "uploadpack.allowReachableSHA1InWant", "true"], check=True)
    return first


def clone_env(tmp: Path) -> dict[str, str]:
    # git's own URL rewriting points https://github.com/ at the local bare repos: the script is unchanged.
    return {"PLAN_DIR": str(tmp / "ws/.tekton-dag"), "WORKSPACE_PATH": str(tmp / "ws"), "HOME_DIR": str(tmp / "home"),
            "GIT_CONFIG_COUNT": "2", "GIT_CONFIG_KEY_0": f"url.file://{tmp}/remote/.insteadOf",
            "GIT_CONFIG_VALUE_0": "https://github.com/", "GIT_CONFIG_KEY_1": "protocol.file.allow",
            "GIT_CONFIG_VALUE_1": "always"}


def test_clone_checks_out_each_app_at_its_revision(tmp_path):
    first = make_repo(tmp_path, "web")
    make_repo(tmp_path, "api")
    (tmp_path / "ws/.tekton-dag").mkdir(parents=True)
    (tmp_path / "ws/.tekton-dag/clone.tsv").write_text(f"web\tacme/web\t{first}\napi\tacme/api\t\n")
    proc = sh("clone.sh", clone_env(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "ws/apps/web/README").read_text() == "web v1\n"
    assert (tmp_path / "ws/apps/api/README").read_text() == "api v2\n"
    assert "over https" in proc.stdout


def test_a_failed_clone_fails_the_task_naming_the_app(tmp_path):
    make_repo(tmp_path, "web")
    (tmp_path / "ws/.tekton-dag").mkdir(parents=True)
    (tmp_path / "ws/.tekton-dag/clone.tsv").write_text("web\tacme/web\t\nghost\tacme/ghost\t\n")
    proc = sh("clone.sh", clone_env(tmp_path))
    assert proc.returncode == 1
    assert "could not clone: ghost" in proc.stderr


def test_ssh_key_without_known_hosts_is_refused(tmp_path):
    (tmp_path / "ws/.tekton-dag").mkdir(parents=True)
    (tmp_path / "ws/.tekton-dag/clone.tsv").write_text("web\tacme/web\t\n")
    (tmp_path / "creds").mkdir()
    (tmp_path / "creds/ssh-privatekey").write_text("key")
    proc = sh(
        "clone.sh", {**clone_env(tmp_path), "CREDENTIALS_PATH": str(tmp_path / "creds"), "CREDENTIALS_BOUND": "true"}
    )
    assert proc.returncode == 1 and "known_hosts" in proc.stderr


def compile_plan(tmp: Path, commands: dict[str, tuple[str, str, str]], env_lines: str = "") -> dict[str, str]:
    plan = tmp / "ws/.tekton-dag"
    (plan / "commands").mkdir(parents=True)
    rows = ""
    for app, (pre, build, post) in commands.items():
        (tmp / "ws/apps" / app).mkdir(parents=True)
        rows += f"{app}\tapps/{app}\n"
        for step, text in (("pre-command", pre), ("build-command", build), ("post-command", post)):
            (plan / "commands" / f"{app}.{step}").write_text(text)
        (plan / "commands" / f"{app}.env").write_text(env_lines)
    (plan / "compile-npm.tsv").write_text(rows)
    return {"PLAN_DIR": str(plan), "WORKSPACE_PATH": str(tmp / "ws"), "BUILD_TOOL": "npm",
            "DEFAULT_BUILD_COMMAND": "echo default > built", "CACHE_BOUND": "true", "CACHE_PATH": str(tmp / "cache")}


def test_compile_runs_pre_build_post_in_the_checkout_with_build_env(tmp_path):
    env = compile_plan(tmp_path, {"web": ("echo pre > log", "echo \"build $GREETING\" >> log", "echo post >> log"),
                                  "api": ("", "", "")}, "export GREETING='hi; there'\n")
    proc = sh("compile.sh", env)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "ws/apps/web/log").read_text() == "pre\nbuild hi; there\npost\n"
    assert (tmp_path / "ws/apps/api/built").read_text() == "default\n"
    assert (tmp_path / "cache/npm").is_dir()


def test_compile_failure_names_the_app(tmp_path):
    env = compile_plan(tmp_path, {"web": ("", "exit 3", ""), "api": ("", "touch built", "")})
    proc = sh("compile.sh", env)
    assert proc.returncode == 1 and "build of app 'web' failed" in proc.stderr
    assert not (tmp_path / "ws/apps/api/built").exists()


def fake_tool(tmp: Path, name: str, body: str) -> str:
    bin_dir = tmp / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / name).write_text("#!/bin/sh\n" + body)
    (bin_dir / name).chmod(0o755)
    return f"{bin_dir}:{os.environ['PATH']}"


def test_tag_release_copies_every_image_and_fails_on_a_failed_copy(tmp_path):
    plan = tmp_path / ".tekton-dag"
    plan.mkdir()
    (plan / "release.tsv").write_text("web\treg/web:t1\treg/web:v1.0.0\napi\treg/api:t1\treg/api:v2.0.0\n")
    path = fake_tool(tmp_path, "crane", f'echo "$@" >> {tmp_path}/calls; [ "$2" != reg/api:t1 ]\n')
    proc = sh("tag_release.sh", {"PLAN_DIR": str(plan), "PATH": path})
    assert proc.returncode == 1 and "copy of app 'api' failed" in proc.stderr
    assert (tmp_path / "calls").read_text() == "copy reg/web:t1 reg/web:v1.0.0\ncopy reg/api:t1 reg/api:v2.0.0\n"
    assert (plan / "released-images.txt").read_text() == "reg/web:v1.0.0\n"


class Recorder(http.server.BaseHTTPRequestHandler):
    requests: ClassVar[list] = []
    status = 201
    pull: ClassVar[dict | None] = None  # GET /repos/{o}/{r}/pulls/{n}: this object, or 404 when None

    def do_GET(self) -> None:  # noqa: N802
        Recorder.requests.append((f"GET {self.path}", self.headers["Authorization"], None))
        body = json.dumps(Recorder.pull).encode() if Recorder.pull is not None else b'{"message": "Not Found"}'
        self.send_response(200 if Recorder.pull is not None else 404)
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Recorder.requests.append((self.path, self.headers["Authorization"], json.loads(body)))
        self.send_response(Recorder.status)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def github():
    Recorder.requests, Recorder.status, Recorder.pull = [], 201, None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    ("status", "headline"), [("Failed", "FAILED"), ("Succeeded", "passed"), ("None", "did not finish")]
)
def test_post_result_comments_the_real_status(tmp_path, github, status, headline):
    plan = tmp_path / ".tekton-dag"
    plan.mkdir()
    (plan / "test-summary.tsv").write_text("api\tpostman\tfailed\n")
    proc = sh("post_result.sh", {"PR_REPO": "acme/api", "PR_NUMBER": "7", "AGGREGATE_STATUS": status,
                                 "RUN_NAME": "stack-pr-7-x", "GITHUB_API": github, "GITHUB_TOKEN": "s3cret",
                                 "PLAN_DIR": str(plan), "TASK_STATUSES": "containerize=Failed"}, shell="bash")
    assert proc.returncode == 0, proc.stderr
    ((path, auth, body),) = Recorder.requests
    assert path == "/repos/acme/api/issues/7/comments" and auth == "Bearer s3cret"
    assert (
        headline in body["body"] and "api (postman): failed" in body["body"] and "containerize=Failed" in body["body"]
    )
    assert "s3cret" not in proc.stdout + proc.stderr


@pytest.mark.parametrize(("aggregate", "tests", "headline"), [
    ("Completed", "Succeeded", "passed"),  # the compile tasks of tools the stack lacks skipped by `when`
    ("Completed", "None", "did not finish"),  # the stack tests skipped: tasks timeout, graceful cancel
    ("Failed", "None", "FAILED"),
])
def test_post_result_passes_only_a_run_whose_stack_tests_passed(tmp_path, github, aggregate, tests, headline):
    """Tekton's ``$(tasks.status)`` is ``Completed`` when no task failed and any DAG task was
    skipped, for whatever reason (tektoncd/pipeline pkg/reconciler/pipelinerun/resources/
    pipelinerunstate.go ``GetPipelineTaskStatus``; docs/pipelines.md "Using Aggregate Execution
    Status of All Tasks"): the tasks timeout or a graceful cancel skipping the stack tests too."""
    proc = sh("post_result.sh", {"PR_REPO": "acme/api", "PR_NUMBER": "7", "AGGREGATE_STATUS": aggregate,
                                 "TESTS_STATUS": tests, "RUN_NAME": "stack-pr-7-x", "GITHUB_API": github,
                                 "GITHUB_TOKEN": "t", "TASK_STATUSES": f"run-stack-tests={tests}"}, shell="bash")
    assert proc.returncode == 0, proc.stderr
    ((_, _, body),) = Recorder.requests
    assert f"stack test {headline}" in body["body"], body["body"]
    assert (headline == "passed") == ("passed" in body["body"])


STOPPED = "resolve-stack=Succeeded containerize=TaskRunCancelled run-stack-tests="
HEAD = "a" * 40


@pytest.mark.parametrize(("pull", "comments"), [
    ({"state": "open", "head": {"sha": HEAD}}, True),  # /cancel, or out of time: the developer waits for word
    ({"state": "open", "head": {"sha": "b" * 40}}, False),  # superseded: the newer head's run reports
    ({"state": "closed", "head": {"sha": HEAD}}, False),  # closed: nobody waits
    (None, True),  # GitHub did not say (404): comment, as before
])
def test_post_result_says_a_stopped_run_was_stopped_and_nothing_once_its_pull_request_moved_on(
        tmp_path, github, pull, comments):
    """run-creator stops a started run with CancelledRunFinally, so post-result (a finally task)
    runs; Tekton gives the cancelled task the reason TaskRunCancelled and counts it Failed
    (tektoncd/pipeline pkg/reconciler/taskrun/taskrun.go ``failTaskRun``; docs/variables.md
    ``tasks.<pipelineTaskName>.reason``). It is no failure of the change: no "FAILED" headline,
    and no comment at all on a pull request that moved on."""
    Recorder.pull = pull
    proc = sh("post_result.sh", {"PR_REPO": "acme/api", "PR_NUMBER": "7", "AGGREGATE_STATUS": "Failed",
                                 "TESTS_STATUS": "None", "RUN_NAME": "stack-pr-7-x", "GITHUB_API": github,
                                 "GITHUB_TOKEN": "t", "TASK_STATUSES": "containerize=Failed", "TASK_REASONS": STOPPED,
                                 "APP_REVISIONS": json.dumps({"api": HEAD}), "CHANGED_APP": "api"}, shell="bash")
    assert proc.returncode == 0, proc.stderr
    assert Recorder.requests[0][:2] == ("GET /repos/acme/api/pulls/7", "Bearer t")
    posted = [body for path, _, body in Recorder.requests if not path.startswith("GET ")]
    if comments:
        ((body,),) = [posted]
        assert "stack test was stopped before it finished" in body["body"] and "FAILED" not in body["body"]
    else:
        assert posted == [] and "no comment" in proc.stdout


def test_post_result_asks_github_nothing_about_a_run_that_finished(tmp_path, github):
    Recorder.pull = {"state": "closed", "head": {"sha": "b" * 40}}
    proc = sh("post_result.sh", {"PR_REPO": "acme/api", "PR_NUMBER": "7", "AGGREGATE_STATUS": "Failed",
                                 "TESTS_STATUS": "Failed", "RUN_NAME": "r", "GITHUB_API": github, "GITHUB_TOKEN": "t",
                                 "TASK_REASONS": "run-stack-tests=Failed", "APP_REVISIONS": json.dumps({"api": HEAD}),
                                 "CHANGED_APP": "api"}, shell="bash")
    assert proc.returncode == 0, proc.stderr
    ((path, _, body),) = Recorder.requests
    assert path == "/repos/acme/api/issues/7/comments" and "stack test FAILED" in body["body"]


def test_the_pr_pipeline_gives_post_result_every_tasks_reason_and_the_head():
    pipeline = yaml.safe_load((REPO / "pipeline" / "stack-pr-test.yaml").read_text())
    post = next(t for t in pipeline["spec"]["finally"] if t["name"] == "post-result")
    given = {p["name"]: p["value"] for p in post["params"]}
    tasks = [t["name"] for t in pipeline["spec"]["tasks"]]
    assert given["task-reasons"].split() == [f"{t}=$(tasks.{t}.reason)" for t in tasks]
    assert (given["app-revisions"], given["changed-app"]) == ("$(params.app-revisions)", "$(params.changed-app)")


def test_post_result_fails_when_github_refuses(tmp_path, github):
    Recorder.status = 403
    proc = sh("post_result.sh", {"PR_REPO": "acme/api", "PR_NUMBER": "7", "AGGREGATE_STATUS": "Succeeded",
                                 "RUN_NAME": "r", "GITHUB_API": github, "GITHUB_TOKEN": "t"}, shell="bash")
    assert proc.returncode == 1 and "GitHub answered 403" in proc.stderr


def test_stack_tests_run_each_declared_test_with_the_pr_header_and_fail_on_a_failure(tmp_path):
    plan = tmp_path / "ws/.tekton-dag"
    plan.mkdir(parents=True)
    for app in ("api", "db"):
        (tmp_path / f"ws/apps/{app}/tests").mkdir(parents=True)
        (tmp_path / f"ws/apps/{app}/tests/c.json").write_text("{}")
    (plan / "tests.tsv").write_text("db\tpostman\ttests/c.json\thttp://db.shop.svc:80\n"
                                    "api\tpostman\ttests/c.json\thttp://api.shop.svc:80\n"
                                    "web\tplaywright\ttests/e2e\thttp://web.shop.svc:80\n"
                                    "gone\tpostman\ttests/none.json\thttp://gone.shop.svc:80\n")
    path = fake_tool(tmp_path, "newman", f'echo "$@" >> {tmp_path}/calls\ncase "$*" in *api.shop*) exit 1 ;; esac\n')
    proc = sh("stack_tests.sh", {"PLAN_DIR": str(plan), "WORKSPACE_PATH": str(tmp_path / "ws"), "TEST_KIND": "postman",
                                 "HEADER_NAME": "x-dev-session", "HEADER_VALUE": "pr-7", "PATH": path})
    assert proc.returncode == 1 and "postman tests failed for: api" in proc.stderr
    calls = (tmp_path / "calls").read_text().splitlines()
    assert len(calls) == 2 and "baseUrl=http://db.shop.svc:80" in calls[0] and "sessionValue=pr-7" in calls[0]
    assert (
        plan / "test-summary.tsv"
    ).read_text() == "db\tpostman\tpassed\napi\tpostman\tfailed\ngone\tpostman\tskipped\n"
