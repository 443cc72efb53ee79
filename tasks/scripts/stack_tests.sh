#!/bin/sh
# run-stack-tests (one step per runner): run the apps' declared tests of kind TEST_KIND
# (postman | playwright | artillery) against the deployed stack, in dependency order. In a PR run
# every request carries the PR header, so the tests exercise the PR build through the intercept.
# Appends one line per test to the workspace's test summary; any failed test fails the task.
set -eu
TAB=$(printf '\t')
: "${PLAN_DIR:?}" "${WORKSPACE_PATH:?}" "${TEST_KIND:?}"
HEADER_NAME=${HEADER_NAME:-}
HEADER_VALUE=${HEADER_VALUE:-}
export HOME=/tmp
summary="$PLAN_DIR/test-summary.tsv"
failed=""
ran=0
while IFS="$TAB" read -r app kind path base_url; do
  [ "$kind" = "$TEST_KIND" ] || continue
  export BASE_URL="$base_url"
  src="$WORKSPACE_PATH/apps/$app/$path"
  [ -e "$src" ] || { echo "run-stack-tests: $app: $kind tests not found at $path (was the app cloned?)"; printf '%s\t%s\tskipped\n' "$app" "$kind" >>"$summary"; continue; }
  ran=$((ran + 1))
  echo "run-stack-tests: $app: $kind $path against $BASE_URL"
  set +e
  case $kind in
    postman) newman run "$src" --env-var "baseUrl=$BASE_URL" --env-var "sessionHeader=$HEADER_NAME" --env-var "sessionValue=$HEADER_VALUE" ;;
    playwright) (cd "$WORKSPACE_PATH/apps/$app" && npx --no-install playwright test "$path") ;;
    artillery) artillery run --target "$BASE_URL" "$src" ;;
  esac
  rc=$?
  set -e
  if [ "$rc" -eq 0 ]; then printf '%s\t%s\tpassed\n' "$app" "$kind" >>"$summary"
  else printf '%s\t%s\tfailed\n' "$app" "$kind" >>"$summary"; failed="$failed $app"; fi
done <"$PLAN_DIR/tests.tsv"
echo "run-stack-tests: $TEST_KIND: $ran run"
[ -z "$failed" ] || { echo "run-stack-tests: $TEST_KIND tests failed for:$failed" >&2; exit 1; }
