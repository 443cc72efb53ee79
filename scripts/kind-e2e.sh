#!/usr/bin/env bash
# End-to-end check of the Helm chart on a local kind cluster, for users who have Docker.
#
#   *** NOT run in this project's CI ***  The machines that build this project have no Docker
#   engine, so this script has never been executed there. CI runs shellcheck on it, checks its
#   --dry-run plan against the repository (every file, chart and tekton-dag command it names exists),
#   and runs its PipelineRun wait against the fake API server (tests/kindscripts); the chart itself
#   is checked with the real helm binary, schema validation and ArgoCD expansion (tests/helm, tests/argocd).
#
# What it does (the steps live in scripts/lib/e2e.sh, shared with scripts/run-e2e-with-intercepts.sh):
#   1. creates a kind cluster (name $CLUSTER) with a local registry (localhost:$REGISTRY_PORT);
#   2. installs Tekton Pipelines, Knative Serving (Kourier) and Knative Eventing (MT Broker);
#   3. builds the function images from this checkout (scripts/build-images) and pushes them;
#   4. creates the team's namespaces and Secrets, installs the chart for the team with
#      teams/<team>/values.yaml and points Tekton's CloudEvents sink at the team's Broker;
#   5. sends a signed pull_request webhook (tekton-dag send) for pull request $E2E_PR of the team's
#      first app repository to webhook-ingest, and waits until the PipelineRun the chain creates has
#      SUCCEEDED (condition Succeeded=True); Succeeded=False fails at once with Tekton's reason and
#      message, and so does no success within $E2E_RUN_TIMEOUT seconds.
#
# Needs: docker, kind, kubectl, helm, git, openssl, this repository set up (scripts/setup,
# scripts/install-tools), network access to GitHub and the Tekton/Knative release files, and
# GITHUB_TOKEN (a token that may comment on that pull request: the pipeline's post-result does).
# Usage: scripts/kind-e2e.sh [--dry-run]   (KEEP=1 keeps the cluster; other settings: scripts/lib/e2e.sh)
#   --dry-run   print every command it would run, one per line ("+ ..."), and run none of them
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PWD/.tools/bin:$PATH"
E2E_NAME=kind-e2e
for arg in "$@"; do
  case $arg in
    --dry-run) E2E_DRY_RUN=1 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "kind-e2e: unknown argument '$arg' (see --help)" >&2; exit 2 ;;
  esac
done
# shellcheck source=scripts/lib/e2e.sh
source scripts/lib/e2e.sh

need docker kind kubectl helm git openssl tekton-dag
[ "$E2E_DRY_RUN" = 1 ] || [ -n "${GITHUB_TOKEN:-}" ] || die "set GITHUB_TOKEN (see the header of this script)"
e2e_settings
e2e_cluster
e2e_platform
e2e_images
say "4. Secrets and chart for team $TEAM in namespace $NAMESPACE"
e2e_secrets
e2e_values
e2e_install

say "5. signed pull_request webhook -> PipelineRun -> Succeeded"
e2e_forward_webhook
e2e_pull_request "${E2E_PR:-1}"
e2e_done "the webhook became a PipelineRun that succeeded ($E2E_RUN)"
