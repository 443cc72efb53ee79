#!/bin/sh
# compile-<tool>: run the build of every planned app that uses this tool, one after another.
#
# Trust model: the stack file (reviewed in the team's config repo) is the source of the commands.
# They are data executed as a command (sh -c "$BUILD_COMMAND"), never eval'ed into this script;
# they run as a non-root user in the tool's image, in the app's checkout, with no git or registry
# credentials mounted, no ServiceAccount token (the PipelineRun's podTemplate), and with only the
# app's `build.env` added to the environment.
set -eu
TAB=$(printf '\t')
: "${PLAN_DIR:?}" "${WORKSPACE_PATH:?}" "${BUILD_TOOL:?}" "${DEFAULT_BUILD_COMMAND:?}"
export HOME=/tmp
# Tool caches live in the build-cache workspace when it is bound (shared by the team's runs; only
# where the cluster's coschedule mode allows a second PVC per TaskRun), else in the run's own volume,
# shared by the run's apps of this tool (docs/tekton.md "Workspaces and caches").
cache=${CACHE_PATH:-}
[ "${CACHE_BOUND:-false}" = true ] && [ -n "$cache" ] || cache="$WORKSPACE_PATH/.cache"
mkdir -p "$cache/$BUILD_TOOL"
case $BUILD_TOOL in
  npm) export npm_config_cache="$cache/npm" ;;
  maven) export MAVEN_OPTS="${MAVEN_OPTS:-} -Dmaven.repo.local=$cache/maven" ;;
  gradle) export GRADLE_USER_HOME="$cache/gradle" ;;
  pip) export PIP_CACHE_DIR="$cache/pip" ;;
  composer) export COMPOSER_CACHE_DIR="$cache/composer" COMPOSER_HOME=/tmp/composer ;;
esac

list="$PLAN_DIR/compile-$BUILD_TOOL.tsv"
[ -s "$list" ] || { echo "compile-$BUILD_TOOL: no app uses $BUILD_TOOL"; exit 0; }

run_step() { # app, step name, command: the command is data, run by a fresh sh
  echo "compile-$BUILD_TOOL: $1: $2: $3"
  sh -c "$3" || { echo "compile-$BUILD_TOOL: $1: $2 failed" >&2; return 1; }
}

while IFS="$TAB" read -r app dir; do
  [ -n "$app" ] || continue
  (
    cd "$WORKSPACE_PATH/$dir" || exit 1
    # build.env of the app: `export KEY='value'` lines written by resolve-stack (names checked,
    # values shell-quoted there), so sourcing only sets variables.
    # shellcheck source=/dev/null
    . "$PLAN_DIR/commands/$app.env"
    pre=$(cat "$PLAN_DIR/commands/$app.pre-command")
    cmd=$(cat "$PLAN_DIR/commands/$app.build-command")
    post=$(cat "$PLAN_DIR/commands/$app.post-command")
    # `set -e` does not apply inside a subshell tested with ||: each step exits explicitly.
    [ -z "$pre" ] || run_step "$app" pre-command "$pre" || exit 1
    run_step "$app" build-command "${cmd:-$DEFAULT_BUILD_COMMAND}" || exit 1
    [ -z "$post" ] || run_step "$app" post-command "$post" || exit 1
  ) || { echo "compile-$BUILD_TOOL: build of app '$app' failed" >&2; exit 1; }
done <"$list"
echo "compile-$BUILD_TOOL: done"
