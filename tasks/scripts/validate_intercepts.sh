#!/usr/bin/env bash
# validate-intercepts: prove that (1) a request entering the stack with the PR header travels down
# the call chain to the intercepted app and is served by the PR build (the intercept forwarder logs
# it), and (2) a request without the header is answered by the stable stack and never reaches the
# PR build. Writes a JSON summary to the workspace and to the result.
set -eu
set -o pipefail
: "${PLAN_DIR:?}" "${RUN_NAME:?}" "${HEADER_NAME:?}" "${HEADER_VALUE:?}"
BAGGAGE_KEY=${BAGGAGE_KEY:-dev-session}
RESULT_SUMMARY=${RESULT_SUMMARY:-/dev/null}
SETTLE_SECONDS=${SETTLE_SECONDS:-2}

forwarded() { # total "forwarded" lines of this run's intercept forwarders
  local total=0 ns pod n
  while IFS=$'\t' read -r _app ns; do
    for pod in $(kubectl get pods -n "$ns" -l "tekton-dag.dev/run=$RUN_NAME,tekton-dag.dev/component=intercept" -o name); do
      n=$(kubectl logs "$pod" -n "$ns" --all-containers | grep -c '^forwarded ' || true)
      total=$((total + n))
    done
  done < <(sort -u -k2,2 "$PLAN_DIR/deploy-order.tsv")
  echo "$total"
}

status_of() { # HTTP status, or 000 when nothing answered (curl prints 000 itself then, and fails)
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 20 "$@") || true
  printf '%s' "${code:-000}"
}

before=$(forwarded)
codes_with=""
while IFS=$'\t' read -r app ns port; do
  [ -n "$app" ] || continue
  codes_with="$codes_with $app=$(status_of -H "$HEADER_NAME: $HEADER_VALUE" -H "baggage: $BAGGAGE_KEY=$HEADER_VALUE" "http://$app.$ns.svc:$port/")"
done <"$PLAN_DIR/entries.tsv"
sleep "$SETTLE_SECONDS"
after_with=$(forwarded)
codes_without=""
while IFS=$'\t' read -r app ns port; do
  [ -n "$app" ] || continue
  codes_without="$codes_without $app=$(status_of "http://$app.$ns.svc:$port/")"
done <"$PLAN_DIR/entries.tsv"
sleep "$SETTLE_SECONDS"
after_without=$(forwarded)

propagated=false; [ "$after_with" -gt "$before" ] && propagated=true
isolated=false; [ "$after_without" -eq "$after_with" ] && isolated=true
stable_ok=true
for pair in $codes_without; do case ${pair#*=} in 000 | 5*) stable_ok=false ;; esac; done
summary=$(jq -cn --argjson p "$propagated" --argjson i "$isolated" --argjson s "$stable_ok" \
  --arg with "${codes_with# }" --arg without "${codes_without# }" \
  '{header_reached_pr_build: $p, ordinary_traffic_stayed_stable: $i, stable_answered: $s,
    with_header: $with, without_header: $without}')
echo "validate-intercepts: $summary"
# The result holds the three booleans only (bounded); per-app codes stay in the workspace.
printf '%s' "$summary" | jq -c '{header_reached_pr_build, ordinary_traffic_stayed_stable, stable_answered}' >"$RESULT_SUMMARY"
printf '%s\n' "$summary" >"$PLAN_DIR/intercept-summary.json"
[ "$propagated" = true ] || { echo "validate-intercepts: requests with '$HEADER_NAME: $HEADER_VALUE' never reached the PR build (header not propagated or intercept not routing)" >&2; exit 1; }
[ "$isolated" = true ] || { echo "validate-intercepts: requests WITHOUT the header reached the PR build" >&2; exit 1; }
[ "$stable_ok" = true ] || { echo "validate-intercepts: the stable stack did not answer ordinary requests:$codes_without" >&2; exit 1; }
