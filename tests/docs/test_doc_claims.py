"""What the pages name exists: every `tekton-dag` option they show is one the subcommand takes,
every repository path they name in code spans is there, and the Trigger list of docs/local-dev.md
is the one knative/triggers.yaml holds. Each check runs on a snippet of the stale text it was
written for, so it is known to fail on it."""

from __future__ import annotations

import argparse
import itertools
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from support.helm import CHART, REPO
from tekton_dag.cli.main import build_parser

DOCS = REPO / "docs"
# docs/performance.md is a dated measurement log: it names the code of its day on purpose.
PAGES = [p for p in [*sorted(DOCS.glob("*.md")), REPO / "README.md", CHART / "README.md"] if p.name != "performance.md"]


# --- tekton-dag options ---------------------------------------------------------------------------

INVOCATION = re.compile(r"tekton-dag ([a-z][a-z-]*)((?: [a-z][a-z-]*)?)([^`|;&\n]*)")
OPTION = re.compile(r"(?<![\w-])(--?[a-zA-Z][\w-]*)")


def _options(parser: argparse.ArgumentParser) -> dict[tuple[str, ...], set[str]]:
    """Every (sub)command's path and the options it takes; a command with actions also takes its
    actions' options when written without one (``tekton-dag dead-letters --kubeconfig``)."""
    table: dict[tuple[str, ...], set[str]] = {}

    def walk(node: argparse.ArgumentParser, path: tuple[str, ...]) -> set[str]:
        own = {o for a in node._actions for o in a.option_strings}
        below: set[str] = set()
        for action in node._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    below |= walk(child, (*path, name))
        table[path] = own | below
        return own | below

    walk(parser, ())
    return table


def unknown_options(text: str, table: dict[tuple[str, ...], set[str]]) -> list[str]:
    """``tekton-dag SUB [ACTION] ... --option`` in ``text`` whose option SUB (ACTION) does not take."""
    found = []
    for line in text.splitlines():
        for match in INVOCATION.finditer(line):
            command, action, rest = match.group(1), match.group(2).strip(), match.group(3)
            if (command,) not in table:
                continue
            path = (command, action) if (command, action) in table else (command,)
            if path == (command,) and action:
                rest = f" {action}{rest}"
            found += [f"tekton-dag {' '.join(path)} {o}" for o in OPTION.findall(rest) if o not in table[path]]
    return found


@pytest.fixture(scope="module")
def options() -> dict[tuple[str, ...], set[str]]:
    return _options(build_parser())


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(REPO)))
def test_every_tekton_dag_option_a_page_shows_exists(page: Path, options: dict[tuple[str, ...], set[str]]) -> None:
    assert unknown_options(page.read_text(), options) == []


def test_the_option_check_finds_an_option_the_command_does_not_take(options: dict[tuple[str, ...], set[str]]) -> None:
    stale = "| `bootstrap.requested` | webhook-ingest's REST API, `tekton-dag bootstrap --publish` |"
    assert unknown_options(stale, options) == ["tekton-dag bootstrap --publish"]
    fine = ("`tekton-dag dead-letters list --local F --all`, `tekton-dag dev [--port 8080]`, "
            "`tekton-dag bootstrap --team T --dry-run -o json`, `tekton-dag dead-letters --kubeconfig`")
    assert unknown_options(fine, options) == []


# --- repository paths -----------------------------------------------------------------------------

TOP = ("functions/", "helm/", "knative/", "tasks/", "pipeline/", "teams/", "scripts/", "tests/", "bench/",
       "build-images/", "argocd/", "docs/", "function/", ".ci/")
# Named on purpose although absent here: upstream projects' files, the earlier layout the migration
# guide starts from, what the onboarding runbook creates, and the pages README.md says were moved.
ELSEWHERE = {
    "docs/additional-configs.md",  # tektoncd/pipeline's
    "pipeline/triggers.yaml", "scripts/bootstrap-namespace.sh",  # the script-driven layout (migration guide)
    "teams/payments/", "teams/payments/values.yaml",  # made by docs/onboarding.md's steps
    "docs/m10-multi-team-architecture.md", "docs/m10-team-onboarding.md", "docs/m10-migration-guide.md",
}


def missing_paths(text: str) -> list[str]:
    """Paths under a top-level folder of the repository, named in code spans of ``text``, that do not
    exist (placeholders such as ``<team>``, ``*`` or ``{a,b}`` and ``file.py::test`` ids are read up
    to where they start)."""
    missing = []
    for span in re.findall(r"`([^`\n]+)`", text):
        for word in re.split(r"[\s,;()=]+", span):
            word = re.split(r"::|[<*{$\[…]", word)[0].rstrip(".:")
            if word.startswith(TOP) and word not in ELSEWHERE and not (REPO / word).exists():
                missing.append(word)
    return missing


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(REPO)))
def test_every_repository_path_a_page_names_exists(page: Path) -> None:
    assert missing_paths(page.read_text()) == []


def test_the_path_check_finds_a_moved_file() -> None:
    stale = "caches\"). `tests/support/tekton_rules.py` checks the last two the way Tekton does."
    assert missing_paths(stale) == ["tests/support/tekton_rules.py"]
    fine = ("`functions/core/tekton_dag/testing/tekton_rules.py`, `teams/<team>/team.yaml`, "
            "`tests/runcreator/test_superseding.py::test_x`, `tasks/`, `pipeline/triggers.yaml`")
    assert missing_paths(fine) == []


# --- the Triggers local-dev.md lists --------------------------------------------------------------


def expand(pattern: str) -> list[str]:
    """``a-{b,c}-d`` → ``a-b-d``, ``a-c-d`` (shell brace expansion, any number of groups)."""
    parts = re.split(r"\{([^}]*)\}", pattern)
    choices = [[p] if i % 2 == 0 else p.split(",") for i, p in enumerate(parts)]
    return ["".join(c) for c in itertools.product(*choices)]


def listed_triggers(text: str) -> set[str]:
    [row] = [line for line in text.splitlines() if line.startswith("| `triggers.yaml` |")]
    return {name for span in re.findall(r"`([a-z{][a-z,{}-]*)`", row.split("|")[2]) for name in expand(span)}


def test_local_dev_lists_every_trigger_of_knative() -> None:
    triggers = {d["metadata"]["name"] for d in yaml.safe_load_all((REPO / "knative" / "triggers.yaml").read_text())
                if d and d.get("kind") == "Trigger"}
    assert listed_triggers((DOCS / "local-dev.md").read_text()) == triggers


def test_the_trigger_check_finds_a_list_without_status_reporter() -> None:
    stale = ("| `triggers.yaml` | one Trigger per (function, input type), `<function>-<input>`: "
             "`resolver-github-pull-request`, `run-creator-pipelinerun-{successful,failed}` |")
    assert listed_triggers(stale) == {"resolver-github-pull-request", "run-creator-pipelinerun-successful",
                                      "run-creator-pipelinerun-failed"}


# --- usage synopses -------------------------------------------------------------------------------

SYNOPSIS = re.compile(r"^(?:\$ )?tekton-dag ([a-z][a-z-]*) [^\n]*\[[^\n]*(?:\n {8,}[^\n]*)*", re.MULTILINE)


def synopsis_gaps(text: str, table: dict[tuple[str, ...], set[str]]) -> list[str]:
    """For each usage line in a code block (``tekton-dag SUB ... [--opt X] ...``, continued on lines
    indented past it), the options SUB takes that it leaves out (``-h``/``--help`` aside; either
    spelling of an option counts)."""
    gaps = []
    for block in FENCE.findall(text):
        for match in SYNOPSIS.finditer(block):
            command = match.group(1)
            if (command,) not in table or (command, "list") in table:
                continue
            shown = set(OPTION.findall(match.group(0)))
            parser = build_parser([command])
            subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
            sub = subparsers.choices[command]
            for action in sub._actions:
                names = set(action.option_strings)
                if names and "-h" not in names and not shown & names:
                    gaps.append(f"tekton-dag {command}: {action.option_strings[-1]}")
    return gaps


FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.DOTALL | re.MULTILINE)


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(REPO)))
def test_every_usage_synopsis_names_every_option(page: Path, options: dict[tuple[str, ...], set[str]]) -> None:
    assert synopsis_gaps(page.read_text(), options) == []


def test_the_synopsis_check_finds_options_left_out(options: dict[tuple[str, ...], set[str]]) -> None:
    stale = ("```\ntekton-dag bootstrap --team T [--stack S] [--apps a,b] [--force-rebuild] [--image-tag TAG]\n"
             "                     [--dry-run] [--sink URL] [--teams DIR] [-o table|json|yaml]\n```\n")
    assert synopsis_gaps(stale, options) == ["tekton-dag bootstrap: --concurrency", "tekton-dag bootstrap: --timeout"]


# --- the chart's templates in docs/helm.md ----------------------------------------------------------


def unmapped_templates(text: str) -> list[str]:
    """Templates of the chart that no row of docs/helm.md's "Where each part comes from" names (a row
    may name a glob, ``ksvc-*.yaml``)."""
    table = text.split("## Where each part comes from", 1)[1].split("\n#", 1)[0]
    named = [n for line in table.splitlines() if line.startswith("| `")
             for n in re.findall(r"`([^`]+)`", line.split("|")[1])]
    templates = CHART / "templates"
    files = [p.relative_to(templates).as_posix() for p in sorted(templates.rglob("*.yaml"))]
    return [f for f in files if not any(Path(f).match(n) for n in named)]


def test_the_helm_doc_says_where_every_template_comes_from() -> None:
    assert unmapped_templates((DOCS / "helm.md").read_text()) == []


def test_the_template_check_finds_a_template_left_out() -> None:
    stale = ("## Where each part comes from\n\n| Template | Objects |\n|---|---|\n"
             "| `ksvc-*.yaml` | the Knative Services |\n| `tests/*.yaml` | hooks |\n")
    assert "cronjob-redeliver.yaml" in unmapped_templates(stale)
    assert "ksvc-resolver.yaml" not in unmapped_templates(stale)


# --- lists of the functions -----------------------------------------------------------------------

FIRST_FOUR = ("webhook.ingest", "resolver", "run.creator", "bootstrap.batcher")
PASSAGE = re.compile(r"\n\s*\n|\n(?=\|)|\n(?=\s*- )|\n(?=\d+\. )")


def lists_without_status_reporter(text: str) -> list[str]:
    """Passages (paragraphs, table rows, list items) naming the first four functions but not the
    fifth, status-reporter: a list written before it came."""
    return [p.strip()[:120] for p in PASSAGE.split(text)
            if all(re.search(n, p) for n in FIRST_FOUR) and not re.search(r"status.reporter", p)]


# The root func.yaml's header says what the all-in-one holds: a page of its own.
@pytest.mark.parametrize("page", [*PAGES, REPO / "func.yaml"], ids=lambda page: str(page.relative_to(REPO)))
def test_every_list_of_the_functions_names_all_five(page: Path) -> None:
    assert lists_without_status_reporter(page.read_text()) == []


def test_the_function_list_check_finds_a_list_of_four() -> None:
    stale = ("Multi-team CI orchestration for Tekton. One release installs the Tekton Tasks and Pipelines,\n"
             "four Python Knative functions (webhook-ingest,\nresolver, run-creator, bootstrap-batcher) wired "
             "through a Knative Broker.\n\n| 4 | `functions` | the five handlers (`webhook_ingest`, `resolver`, "
             "`run_creator`, `bootstrap_batcher`, `status_reporter`) |\n")
    assert len(lists_without_status_reporter(stale)) == 1


# --- docs/pipeline-contract.md against pipeline/ ----------------------------------------------------


def contract_gaps(text: str) -> list[str]:
    """Where docs/pipeline-contract.md's tables differ from the Pipelines in pipeline/: each
    Pipeline's row names its params beyond the common ones, in order; the params table has a row
    for every param, with the Pipeline's default (``required`` for none)."""
    pipelines = {p.stem: yaml.safe_load(p.read_text())["spec"]["params"]
                 for p in sorted((REPO / "pipeline").glob("*.yaml"))}
    common = [p["name"] for p in pipelines["stack-bootstrap"]]
    rows = {m[1]: m[2] for m in re.finditer(r"^\| `(stack-[a-z-]+)` \| (.*) \|$", text, re.MULTILINE)}
    table = {m[1]: m[2].strip() for m in re.finditer(r"^\| `([a-z-]+)` \| ([^|]+) \|", text, re.MULTILINE)}
    gaps = []
    for name, params in pipelines.items():
        extra = [p["name"] for p in params][len(common):]
        if re.findall(r"`([a-z-]+)`", rows.get(name, "")) != extra:
            gaps.append(f"{name}: params {extra}")
        for param in params:
            default = param.get("default")
            want = "required" if default is None else f"`{default}`" if default else '`""`'
            if param["name"] not in table:
                gaps.append(f"{param['name']}: no row")
            elif not table[param["name"]].startswith(want):
                gaps.append(f"{param['name']}: default {want}, the page says {table[param['name']]}")
    return gaps


def test_the_pipeline_contract_lists_every_param_with_its_default() -> None:
    assert contract_gaps((DOCS / "pipeline-contract.md").read_text()) == []


def test_the_contract_check_finds_a_param_left_out() -> None:
    text = (DOCS / "pipeline-contract.md").read_text()
    stale = text.replace(", `post-result-comment` |", " |").replace("| `post-result-comment` |", "| gone |")
    assert contract_gaps(stale) == ["stack-pr-test: params ['pr-number', 'pr-repo', 'intercept-backend', "
                                    "'github-token-secret', 'post-result-comment']", "post-result-comment: no row"]


# --- producers in docs/events.md --------------------------------------------------------------------

# What the CLI publishes itself: `tekton-dag bootstrap` (cli/bootstrap.py, source /tekton-dag/cli).
CLI_PUBLISHES = {"dev.tektondag.bootstrap.requested.v1"}


def wrong_producers(text: str) -> list[str]:
    """Rows of docs/events.md's summary table whose producers are not the functions that
    ``routing.PRODUCES`` says publish the type (plus "CLI" for what the CLI publishes)."""
    from tekton_dag.bus import routing

    wrong = []
    for event_type, producers in re.findall(r"^\| \[`(dev\.tektondag\.[^`]+)`\][^|]*\| ([^|]*) \|", text, re.MULTILINE):
        named = {f for f in routing.PRODUCES if re.search(rf"\b{f}\b", producers)}
        if "CLI" in producers:
            named.add("CLI")
        want = {f for f, types in routing.PRODUCES.items() if event_type in types}
        want |= {"CLI"} if event_type in CLI_PUBLISHES else set()
        if named != want:
            wrong.append(f"{event_type}: {sorted(named)} != {sorted(want)}")
    return wrong


def test_the_event_catalog_names_each_types_producers() -> None:
    text = (DOCS / "events.md").read_text()
    assert len(re.findall(r"^\| \[`dev\.tektondag\.", text, re.MULTILINE)) > 10
    assert wrong_producers(text) == []


def test_the_producer_check_finds_a_producer_that_publishes_nothing_of_the_kind() -> None:
    stale = ("| [`dev.tektondag.run.requested.v1`](#x) | resolver, webhook-ingest `POST /api/run`, CLI, "
             "bootstrap-batcher, status-reporter | run-creator |\n")
    assert wrong_producers(stale) == ["dev.tektondag.run.requested.v1: ['CLI', 'bootstrap-batcher', 'resolver', "
                                      "'status-reporter', 'webhook-ingest'] != ['bootstrap-batcher', 'resolver', "
                                      "'status-reporter', 'webhook-ingest']"]


# --- what ran here --------------------------------------------------------------------------------

CLUSTER_COMMAND = re.compile(r"^\s*(?:\$ )?(?:kubectl |helm (?:install|upgrade|test) |argocd (?:app|cluster) )",
                             re.MULTILINE)
SAYS_WHAT_RAN = re.compile(r"not run here|none of it was run on a real cluster|nothing was run on a real cluster"
                           r"|tested without a cluster|not run \(no cluster\)", re.IGNORECASE)


def silent_about_what_ran(text: str) -> bool:
    """A page that tells the reader to run commands against a cluster, without saying anywhere that
    these machines ran none of them (no cluster here: README.md, "What ran here")."""
    commands = "\n".join(FENCE.findall(text))
    return bool(CLUSTER_COMMAND.search(commands)) and not SAYS_WHAT_RAN.search(text)


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(REPO)))
def test_every_page_with_cluster_commands_says_what_was_not_run_here(page: Path) -> None:
    assert not silent_about_what_ran(page.read_text())


def test_the_what_ran_check_finds_a_runbook_that_does_not_say() -> None:
    stale = "## 6. Merge\n\n```sh\nkubectl -n argocd get application tekton-dag-payments\n```\n"
    assert silent_about_what_ran(stale)
    assert not silent_about_what_ran(stale + "\nThe sync was not run here (no cluster).\n")


# --- docs/testing.md names the test glue and the doubles as they are --------------------------------


def glue_gaps(text: str) -> list[str]:
    """The modules docs/testing.md's "Test glue" paragraph names against ``tests/support/``: named but
    absent, and present but not named."""
    paragraph = text.split("Test glue that is not a double", 1)[1].split("\n\n", 1)[0]
    named = set(re.findall(r"`([a-z0-9_]+)`\s+\(", paragraph))
    present = {p.stem for p in (REPO / "tests" / "support").glob("*.py")} - {"__init__"}
    return [f"named, absent: {n}" for n in sorted(named - present)] + [
        f"not named: {n}" for n in sorted(present - named)]


def test_the_testing_doc_names_the_test_glue_as_it_is() -> None:
    assert glue_gaps((DOCS / "testing.md").read_text()) == []


def test_the_glue_check_finds_a_module_that_moved() -> None:
    stale = ("Test glue that is not a double stays in `tests/support/`: `broker` (the Broker), `e2e` (the chain), "
             "`serving` (`tekton-dag serve NAME` as a process), `helm` (helm), `clirun` (the CLI), `trees` (trees), "
             "`kube` (k), `githubapi` (g), `webhook_schemas` (w), `clocks` (c), `images` (i).\n\nNext.")
    assert glue_gaps(stale) == ["named, absent: serving"]


def test_the_testing_doc_names_every_module_of_the_doubles_package() -> None:
    text = (DOCS / "testing.md").read_text()
    package = REPO / "functions" / "core" / "tekton_dag" / "testing"
    modules = {p.stem for p in package.glob("*.py")} - {"__init__"}
    assert sorted(m for m in modules if not re.search(rf"`{m}`|testing[./]{m}\b", text)) == []


# --- environment variables and metrics ----------------------------------------------------------------

# Variables the pages name that belong to other programs (proxies, Debian, Python, the shell).
FOREIGN_VARIABLES = {"HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "XDG_CACHE_HOME", "XDG_STATE_HOME"}
SOURCES = ("functions", "helm", "knative", "tasks", "pipeline", "scripts", "build-images", "function", "tests", "bench",
           "func.yaml", ".ci")


@pytest.fixture(scope="module")
def source_text() -> str:
    files = subprocess.run(["git", "ls-files", *SOURCES], cwd=REPO, capture_output=True, text=True,
                           check=True).stdout.split()
    return "\n".join((REPO / f).read_text(errors="replace") for f in files  # the checks of the docs are no use
                     if (REPO / f).is_file() and not f.endswith(".md") and not f.startswith("tests/docs/"))


def unknown_variables(text: str, source: str) -> list[str]:
    """Environment variables (``UPPER_CASE`` in code spans) that no file of the repository reads or sets."""
    spans = re.findall(r"`([^`\n]+)`", text)
    names = {n for span in spans for n in re.findall(r"\b([A-Z][A-Z0-9]*_[A-Z0-9_]*[A-Z0-9])\b(?!_)", span)}
    return sorted(n for n in names - FOREIGN_VARIABLES if not re.search(rf"\b{n}\b", source))


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(REPO)))
def test_every_environment_variable_a_page_names_is_used(page: Path, source_text: str) -> None:
    assert unknown_variables(page.read_text(), source_text) == []


def test_the_variable_check_finds_a_variable_nothing_reads(source_text: str) -> None:
    assert unknown_variables("`TEKTON_DAG_TEAMS_DIR`, `TEKTON_DAG_NO_SUCH_SETTING=1`", source_text) == [
        "TEKTON_DAG_NO_SUCH_SETTING"]


def exported_names() -> set[str]:
    """Every sample name the metrics module exports (a counter's ``_total``, a histogram's ``_bucket``...)."""
    from prometheus_client import REGISTRY

    from tekton_dag.observability import metrics

    metrics.make()
    suffixes = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_sum", "_count", "_created")}
    return {family.name + suffix for family in REGISTRY.collect() if family.name.startswith("tektondag_")
            for suffix in ("", *suffixes.get(family.type, ()))}


def unknown_metrics(text: str, names: set[str]) -> list[str]:
    """``tektondag_*`` sample names in ``text`` that no metric exports (a name ending in ``_*`` is a prefix)."""
    named = set(re.findall(r"\btektondag_[a-z0-9_]+\b(?!\*)", text))
    return sorted(m for m in named if m not in names and not m.endswith("_"))


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(REPO)))
def test_every_metric_a_page_names_is_exported(page: Path) -> None:
    assert unknown_metrics(page.read_text(), exported_names()) == []


def test_operations_lists_every_metric() -> None:
    table = (DOCS / "operations.md").read_text().split("## The metrics", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^\| `(tektondag_[a-z0-9_]+)` \|", table, re.MULTILINE))
    exported = exported_names()
    families = {n for n in exported if not n.endswith(("_created", "_bucket", "_sum", "_count"))}
    assert sorted(f for f in families if f not in listed and f + "_total" not in listed) == []


def test_the_metric_check_finds_a_name_nothing_exports() -> None:
    assert unknown_metrics("`tektondag_runs_total`, `tektondag_broker_*`, `tektondag_run_total`", exported_names()) == [
        "tektondag_run_total"]


# --- the Secrets in docs/helm.md ----------------------------------------------------------------------


def secrets_left_out(text: str) -> list[str]:
    """Values that name a Secret (``secrets.<x>.name``, ``github.<x>Secret.name``, ``team.<x>Secret``)
    which docs/helm.md's Secrets table does not list."""
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    wanted = [f"secrets.{k}.name" for k in values["secrets"]]
    wanted += [f"github.{k}.name" for k in values["github"] if k.endswith("Secret")]
    wanted += [f"team.{k}" for k in values["team"] if k.endswith("Secret")]
    table = text.split("### Secrets", 1)[1].split("\n#", 1)[0]
    return [w for w in wanted if f"`{w}`" not in table]


def test_the_helm_doc_lists_every_secret_the_chart_refers_to() -> None:
    assert secrets_left_out((DOCS / "helm.md").read_text()) == []


def test_the_secret_check_finds_the_event_key_left_out() -> None:
    stale = ("### Secrets\n\n| `team.webhookSecret` | | |\n| `secrets.webhook.name` | | |\n| `secrets.api.name` | | |\n"
             "| `secrets.registry.name` | | |\n| `team.gitCredentialsSecret`, `team.githubTokenSecret` | | |\n")
    assert secrets_left_out(stale) == ["secrets.events.name", "github.appSecret.name", "github.tokenSecret.name"]


def secrets_the_runbook_does_not_create(text: str) -> list[str]:
    """The chart's shared Secrets (``secrets.<x>``, by their default names; the optional registry one
    and the shared webhook secret, which a team's own replaces, aside) that docs/onboarding.md's step 5
    does not create."""
    values = yaml.safe_load((CHART / "values.yaml").read_text())["secrets"]
    step = text.split("## 5.", 1)[1].split("\n## ", 1)[0]
    return [v["name"] for k, v in values.items() if k not in ("registry", "webhook") and f" {v['name']} " not in step]


def test_the_runbook_creates_every_secret_the_functions_need() -> None:
    assert secrets_the_runbook_does_not_create((DOCS / "onboarding.md").read_text()) == []


def test_the_runbook_check_finds_the_event_key_left_out() -> None:
    stale = ("## 5. Create the team's Secrets\n\n```sh\n"
             "kubectl -n payments-ci create secret generic tekton-dag-api-token --from-literal=token=x\n"
             "```\n\n## 6. Merge\n")
    assert secrets_the_runbook_does_not_create(stale) == ["tekton-dag-event-key"]


def test_what_the_docs_say_of_the_event_key_secret_notes_txt_says_too() -> None:
    """Without the event key the functions that seal are not ready (lifecycle.Handler.ready); the
    install notes and the pages that tell a team what to create first say so."""
    notes = (CHART / "templates" / "NOTES.txt").read_text()
    assert "event key ({{ .Values.secrets.events.name }}) the functions are not ready" in notes
    assert "sync waits at wave 5" in (DOCS / "argocd.md").read_text()
    assert "without it the functions are not ready" in (CHART / "README.md").read_text()
