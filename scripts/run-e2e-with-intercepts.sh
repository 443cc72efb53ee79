#!/usr/bin/env bash
# The milestone's E2E regression on a local kind cluster, for users who have Docker: a bootstrap run
# and then a pull-request run whose PR build is reached through an intercept, once with Telepresence
# and once with mirrord as the team's interceptBackend.
#
#   *** NOT run in this project's CI ***  The machines that build this project have no Docker
#   engine, so this script has never been executed there. CI runs shellcheck on it, checks its
#   --dry-run plan against the repository (every file, chart and tekton-dag command it names exists),
#   and runs its PipelineRun wait against the fake API server (tests/kindscripts).
#
# What it does (shared steps: scripts/lib/e2e.sh, also used by scripts/kind-e2e.sh):
#   1-3. kind cluster with a local registry; Tekton + Knative; the function images from this checkout;
#   4.   the team's namespaces and Secrets;
#   5.   Telepresence only: its traffic-manager, once per cluster (`telepresence helm install`, into
#        namespace "ambassador", deploy-intercepts' traffic-manager-namespace default);
#   then for each intercept tool:
#   6.   the chart for the team, reinstalled with team.yaml's interceptBackend set to the tool (a
#        fresh install, so the functions read it at start instead of at their next ConfigMap reload);
#        Tekton's admission webhook must accept the raw tasks/ and pipeline/ (kubectl apply
#        --dry-run=server: the files `kubectl apply -f tasks/ -f pipeline/` installs without the chart);
#   7.   bootstrap: `tekton-dag bootstrap --force-rebuild` publishes to the team's Broker; the
#        stack-bootstrap PipelineRun must succeed (builds every app, deploys the stable stack);
#   8.   pull request: a signed pull_request webhook (`tekton-dag send`) for pull request $E2E_PR of
#        the team's first app repository; the stack-pr-test PipelineRun must succeed, with
#        intercept-backend = the tool. Its deploy-intercepts task runs the PR build beside the stable
#        stack and holds the intercept in a pod; validate-intercepts proves that requests carrying
#        "<header>: pr-<N>" reach the PR build and others the stable stack.
#   Each wait ends at once when the run's condition Succeeded turns False (Tekton's reason and message
#   are printed), and fails after $E2E_RUN_TIMEOUT seconds.
#
# The intercepts themselves run inside the cluster (tasks/deploy-intercepts.yaml), with these CLIs:
#   telepresence connect --namespace <ns> --manager-namespace <ns>; telepresence intercept <workload>
#     --port <local>:<remote> --http-header <name>=<value>   (OSS 2.25.0 or later, client and
#     traffic-manager: telepresenceio/telepresence#3967; client reference: documentation.gravitee.io/telepresence/
#     technical-reference/client-reference; traffic-manager: .../install-telepresence/
#     install-uninstall-the-traffic-manager, `telepresence helm install`)
#   mirrord exec --target deployment/<app> -- <command>, or the target in --config-file with
#     feature.network.incoming mode "steal" and an http_filter header_filter
#     (metalbear-co/docs docs/installing-mirrord/cli.md, docs/setup/using-cli.md)
#
# Needs: docker, kind, kubectl, helm, git, openssl, telepresence (for --intercept telepresence|both;
# mirrord needs nothing on this machine: the intercept pod runs the mirrord CLI image), this
# repository set up (scripts/setup, scripts/install-tools), network access to GitHub and the release
# files, and GITHUB_TOKEN (a token that may comment on that pull request: post-result does).
# Usage: scripts/run-e2e-with-intercepts.sh [--intercept telepresence|mirrord|both] [--dry-run]
#   --intercept  which tool(s) to test (default: both)
#   --dry-run    print every command it would run, one per line ("+ ..."), and run none of them
# Settings (environment): E2E_PR (default 1), E2E_REPO, E2E_SHA, TEAM, KEEP=1, ... (scripts/lib/e2e.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PWD/.tools/bin:$PATH"
E2E_NAME=run-e2e-with-intercepts
usage() {
  echo "usage: $0 [--intercept telepresence|mirrord|both] [--dry-run]" >&2
  exit 2
}
intercept=both
while [ $# -gt 0 ]; do
  case $1 in
    --dry-run) E2E_DRY_RUN=1 ;;
    --intercept) [ $# -ge 2 ] || usage; intercept=$2; shift ;;
    --intercept=*) intercept=${1#*=} ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) usage ;;
  esac
  shift
done
case $intercept in
  telepresence | mirrord) tools=("$intercept") ;;
  both) tools=(telepresence mirrord) ;;
  *) echo "$E2E_NAME: --intercept must be telepresence, mirrord or both, got '$intercept'" >&2; exit 2 ;;
esac
# shellcheck source=scripts/lib/e2e.sh
source scripts/lib/e2e.sh

need docker kind kubectl helm git openssl tekton-dag
[ "$intercept" = mirrord ] || need telepresence
[ "$E2E_DRY_RUN" = 1 ] || [ -n "${GITHUB_TOKEN:-}" ] || die "set GITHUB_TOKEN (see the header of this script)"
e2e_settings
e2e_cluster
e2e_platform
e2e_images
say "4. namespaces and Secrets of team $TEAM"
e2e_secrets
if [ "$intercept" != mirrord ]; then
  say "5. Telepresence traffic-manager (once per cluster)"
  run telepresence helm install
  run kubectl -n ambassador rollout status deployment/traffic-manager --timeout=300s
fi

for tool in "${tools[@]}"; do
  say "6. $tool: chart for team $TEAM with interceptBackend: $tool"
  stop_background
  run kubectl -n "$NAMESPACE" delete pipelineruns -l "tekton-dag.dev/team=$TEAM" --ignore-not-found
  run helm uninstall "$TEAM" -n "$NAMESPACE" --ignore-not-found --wait
  e2e_values "$tool"
  e2e_install
  run kubectl -n "$NAMESPACE" apply --dry-run=server -f tasks/ -f pipeline/

  say "7. $tool: bootstrap -> stack-bootstrap Succeeded"
  background kubectl -n knative-eventing port-forward svc/broker-ingress 18081:80
  wait_port 18081
  run env TEKTON_DAG_EVENT_KEY_FILE="$WORK/event-key" tekton-dag bootstrap --team "$TEAM" --force-rebuild \
    --teams teams --sink "http://127.0.0.1:18081/$NAMESPACE/tekton-dag"
  wait_for_pipelinerun "$NAMESPACE" "tekton-dag.dev/team=$TEAM,tekton-dag.dev/pipeline=stack-bootstrap"

  say "8. $tool: pull request -> stack-pr-test Succeeded"
  e2e_forward_webhook
  e2e_pull_request "${E2E_PR:-1}"
  backend=$(query kubectl -n "$NAMESPACE" get pipelinerun "$E2E_RUN" \
    -o 'jsonpath={.spec.params[?(@.name=="intercept-backend")].value}')
  [ "$E2E_DRY_RUN" = 1 ] || [ "$backend" = "$tool" ] ||
    die "FAIL: pipelinerun/$E2E_RUN ran with intercept-backend '$backend', not $tool"
  summary=$(query kubectl -n "$NAMESPACE" get taskruns \
    -l "tekton.dev/pipelineRun=$E2E_RUN,tekton.dev/pipelineTask=validate-intercepts" \
    -o 'jsonpath={.items[0].status.results[?(@.name=="summary")].value}')
  echo "validate-intercepts ($tool): $summary"
done
e2e_done "bootstrap and pull-request runs succeeded with ${tools[*]}"
