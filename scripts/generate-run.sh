#!/usr/bin/env bash
# Print (or create) a PipelineRun by hand, as the old generate-run.sh did -- now through the one
# builder run-creator uses (`tekton-dag render`), so hand-made runs match webhook-made ones.
#
#   scripts/generate-run.sh --mode pr --app demo-fe --pr 42 --sha <head sha> [--team default] [--apply]
#   scripts/generate-run.sh --mode merge --app demo-fe --sha <merge sha> --apply
#   scripts/generate-run.sh --mode bootstrap --team default --stack stack-one
#
# Every option except --apply goes to `tekton-dag render` (see `tekton-dag render --help`).
# --apply pipes the YAML to `kubectl create -f -` (create, not apply: run names are unique);
# extra kubectl flags come from $KUBECTL_CREATE_FLAGS (e.g. "--context prod" or "--validate=false").
set -euo pipefail
cd "$(dirname "$0")/.."

apply=false
args=()
for arg in "$@"; do
  case "$arg" in
    --apply) apply=true ;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) args+=("$arg") ;;
  esac
done

if [ -x .venv/bin/tekton-dag ]; then
  render=(.venv/bin/tekton-dag render)
else
  render=(tekton-dag render)
fi

if "$apply"; then
  manifest=$("${render[@]}" "${args[@]}")  # render fully first: nothing half-applied on error
  # shellcheck disable=SC2086  # flags are meant to split
  printf '%s\n' "$manifest" | kubectl create ${KUBECTL_CREATE_FLAGS:-} -f -
else
  exec "${render[@]}" "${args[@]}"
fi
