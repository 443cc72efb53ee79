#!/bin/sh
# tag-release-images: copy each built image to its release tag v<version> (crane copy keeps the
# digest). Any failed copy fails the task; $PLAN_DIR/released-images.txt lists what was tagged.
set -eu
TAB=$(printf '\t')
: "${PLAN_DIR:?}"
RELEASED_LIST=$PLAN_DIR/released-images.txt
INSECURE_REGISTRY=${INSECURE_REGISTRY:-false}
insecure=""
[ "$INSECURE_REGISTRY" != true ] || insecure=--insecure
released=""
failed=""
while IFS="$TAB" read -r app source target; do
  [ -n "$app" ] || continue
  echo "tag-release: $app: $source -> $target"
  if crane copy $insecure "$source" "$target"; then
    released="$released$target
"
  else
    echo "tag-release: copy of app '$app' failed ($source -> $target)" >&2
    failed="$failed $app"
  fi
done <"$PLAN_DIR/release.tsv"
printf '%s' "$released" >"$RELEASED_LIST"
[ -z "$failed" ] || { echo "tag-release: failed:$failed" >&2; exit 1; }
