#!/usr/bin/env bash
# cleanup-run: delete what THIS run created (PR Deployments/Services, intercept and build pods),
# selected by the run label tekton-dag.dev/run=<run>: never other runs' objects, never the stable stack.
set -eu
set -o pipefail
: "${RUN_NAME:?}" "${DEFAULT_NAMESPACE:?}"
PLAN_DIR=${PLAN_DIR:-}
namespaces() {
  echo "$DEFAULT_NAMESPACE"
  if [ -n "$PLAN_DIR" ] && [ -f "$PLAN_DIR/deploy-order.tsv" ]; then cut -f2 "$PLAN_DIR/deploy-order.tsv"; fi
}
status=0
while read -r ns; do
  [ -n "$ns" ] || continue
  echo "cleanup: namespace $ns, label tekton-dag.dev/run=$RUN_NAME"
  kubectl delete deployments,services,pods -n "$ns" -l "tekton-dag.dev/run=$RUN_NAME" --ignore-not-found --wait=false || status=1
done < <(namespaces | sort -u)
exit "$status"
