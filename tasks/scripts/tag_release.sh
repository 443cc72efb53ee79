#!/bin/sh
# tag-release-images: copy each built image to its release tag v<version> (crane copy keeps the
# digest). Any failed copy fails the task; released-images lists what was tagged.
set -eu
TAB=$(printf '\t')
: "${PLAN_DIR:?}"
RESULT_RELEASED_IMAGES=${RESULT_RELEASED_IMAGES:-/dev/null}
INSECURE_REGISTRY=${INSECURE_REGISTRY:-false}
insecure=""
[ "$INSECURE_REGISTRY" != true ] || insecure=--insecure
released=""
failed=""
while IFS="$TAB" read -r app source target; do
  [ -n "$app" ] || continue
  echo "tag-release: $app: $source -> $target"
  if crane copy $insecure "$source" "$target"; then
    released="${released:+$released,}$target"
  else
    echo "tag-release: copy of app '$app' failed ($source -> $target)" >&2
    failed="$failed $app"
  fi
done <"$PLAN_DIR/release.tsv"
printf '%s' "$released" >"$RESULT_RELEASED_IMAGES"
[ -z "$failed" ] || { echo "tag-release: failed:$failed" >&2; exit 1; }
