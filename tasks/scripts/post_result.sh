#!/usr/bin/env bash
# post-result: comment the run's real outcome on the pull request. AGGREGATE_STATUS is the pipeline's
# aggregate tasks status (Succeeded / Completed / Failed / None), TESTS_STATUS that of run-stack-tests
# (the verdict; empty: not given), TASK_STATUSES the per-task states and TASK_REASONS their reasons,
# APP_REVISIONS / CHANGED_APP give the head the run tested,
# all available to finally tasks; details come from the workspace when earlier tasks wrote them.
set -eu
set -o pipefail
: "${PR_REPO:?}" "${PR_NUMBER:?}" "${AGGREGATE_STATUS:?}" "${RUN_NAME:?}"
GITHUB_API=${GITHUB_API:-https://api.github.com}
PLAN_DIR=${PLAN_DIR:-}
case $PR_REPO in */*) ;; *) echo "post-result: pr-repo must be owner/name, got '$PR_REPO'" >&2; exit 1 ;; esac
case $PR_NUMBER in '' | *[!0-9]*) echo "post-result: pr-number must be a number, got '$PR_NUMBER'" >&2; exit 1 ;; esac
[ -n "${GITHUB_TOKEN:-}" ] || { echo "post-result: no GitHub token (secret github-token-secret, key token)" >&2; exit 1; }

# A stopped run: run-creator cancels a started run with CancelledRunFinally (a newer push, the pull
# request closed, /cancel), and Tekton cancels the running tasks when the tasks timeout passes; either
# way the cancelled task's reason is TaskRunCancelled (tektoncd/pipeline pkg/reconciler/taskrun/
# taskrun.go, failTaskRun), which Tekton's aggregate counts as Failed.
stopped=""
case " ${TASK_REASONS:-} " in *=TaskRunCancelled\ *) stopped=yes ;; esac
# Tekton's aggregate is Completed when no task failed and any task was skipped, whatever skipped
# it: a `when` (compile tasks of tools the stack lacks), but also the tasks timeout or a graceful
# cancel skipping the rest (tektoncd/pipeline pkg/reconciler/pipelinerun/resources/
# pipelinerunstate.go GetPipelineTaskStatus). So a pass needs the stack tests' own status too.
TESTS_STATUS=${TESTS_STATUS:-}
finished=yes
case ${stopped:+stopped}$AGGREGATE_STATUS in
  stopped*) headline="was stopped before it finished (cancelled, or its tasks ran out of time)"; finished="" ;;
  Succeeded | Completed)
    if [ -z "$TESTS_STATUS" ] || [ "$TESTS_STATUS" = Succeeded ]; then
      headline="passed"
    else
      headline="did not finish ($AGGREGATE_STATUS; stack tests: $TESTS_STATUS)"; finished=""
    fi ;;
  Failed) headline="FAILED" ;;
  *) headline="did not finish ($AGGREGATE_STATUS)"; finished="" ;;
esac

# A run that did not finish, on a pull request now closed or at another head: nobody waits for its
# word (the newer head's run reports), so it says nothing. Unknown (no head given, GitHub did not
# answer): it comments.
if [ -z "$finished" ] && [ -n "${CHANGED_APP:-}" ]; then
  head_sha=$(printf '%s' "${APP_REVISIONS:-}" | jq -r --arg app "$CHANGED_APP" '.[$app] // empty' 2>/dev/null) || head_sha=""
  if [ -n "$head_sha" ]; then
    pr=$(curl -sS -f -H "Authorization: Bearer $GITHUB_TOKEN" -H "Accept: application/vnd.github+json" \
      "$GITHUB_API/repos/$PR_REPO/pulls/$PR_NUMBER" 2>/dev/null) || pr=""
    now=$(printf '%s' "$pr" | jq -r '"\(.state) \(.head.sha)"' 2>/dev/null) || now=""
    case $now in
      "open $head_sha" | "" | "null null") ;;
      *) echo "post-result: run $RUN_NAME did not finish and $PR_REPO#$PR_NUMBER is ${now%% *} at ${now#* }: no comment"
         exit 0 ;;
    esac
  fi
fi
details=""
if [ -n "$PLAN_DIR" ] && [ -f "$PLAN_DIR/test-summary.tsv" ]; then
  details=$(awk -F'\t' '{ printf "- %s (%s): %s\n", $1, $2, $3 }' "$PLAN_DIR/test-summary.tsv")
fi
if [ -n "$PLAN_DIR" ] && [ -f "$PLAN_DIR/intercept-summary.json" ]; then
  details="$details
- intercepts: $(cat "$PLAN_DIR/intercept-summary.json")"
fi
body=$(jq -n --arg h "$headline" --arg run "$RUN_NAME" --arg tasks "${TASK_STATUSES:-}" --arg d "$details" \
  '{body: "**tekton-dag** stack test \($h): `\($run)`\n\n\($tasks)\n\($d)"}')
code=$(curl -sS -o /tmp/post-result.out -w '%{http_code}' -X POST \
  -H "Authorization: Bearer $GITHUB_TOKEN" -H "Accept: application/vnd.github+json" \
  --data "$body" "$GITHUB_API/repos/$PR_REPO/issues/$PR_NUMBER/comments") || code=000
case $code in
  2*) echo "post-result: commented on $PR_REPO#$PR_NUMBER: $headline" ;;
  *) echo "post-result: GitHub answered $code" >&2; head -c 500 /tmp/post-result.out >&2 || true; exit 1 ;;
esac
