#!/usr/bin/env bash
# deploy-stack: apply each app's Deployment + Service in dependency order (callees first) and wait
# for its rollout before the next. DEPLOY_APPS limits the apps (comma list; empty = every app);
# ONLY_BUILT=true limits them to the apps this run built (first column of the plan's builds.tsv).
# A failed rollout fails the task and shows the app's pods and recent events.
set -eu
set -o pipefail
: "${PLAN_DIR:?}"
ROLLOUT_TIMEOUT=${ROLLOUT_TIMEOUT:-300s}
DEPLOY_APPS=${DEPLOY_APPS:-}
if [ "${ONLY_BUILT:-false}" = true ]; then
  DEPLOY_APPS=$(cut -f1 "$PLAN_DIR/builds.tsv" | paste -sd, -)
  [ -n "$DEPLOY_APPS" ] || { echo "deploy: this run built no app; nothing to deploy"; exit 0; }
fi

selected() { [ -z "$DEPLOY_APPS" ] || case ",$DEPLOY_APPS," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }

count=0
for manifest in "$PLAN_DIR"/deploy/*.json; do
  [ -e "$manifest" ] || continue
  file=${manifest##*/}
  app=${file#*-}
  app=${app%.json}
  selected "$app" || continue
  namespace=$(jq -r '.items[0].metadata.namespace' "$manifest")
  echo "deploy: $app -> namespace $namespace"
  kubectl apply -f "$manifest"
  if ! kubectl rollout status "deployment/$app" -n "$namespace" --timeout="$ROLLOUT_TIMEOUT"; then
    echo "deploy: rollout of app '$app' failed" >&2
    kubectl get pods -n "$namespace" -l "app.kubernetes.io/name=$app" -o wide >&2 || true
    kubectl get events -n "$namespace" --field-selector "involvedObject.kind=Pod" 2>/dev/null | tail -n 10 >&2 || true
    exit 1
  fi
  count=$((count + 1))
done
echo "deploy: $count apps rolled out"
