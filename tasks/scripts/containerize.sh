#!/usr/bin/env bash
# containerize: build every planned image in its own Kaniko pod, at most MAX_PARALLEL_BUILDS at once.
#
# Sliding window: a new build starts as soon as any running one finishes (one pod list per poll),
# never in static batches. The plan (resolve-stack) lists the builds longest-first when durations
# are known, which keeps the window close to the optimal makespan.
#
# Every value comes from the environment (see the Task's env): nothing from Tekton is substituted
# into this script. Each pod is owned by this TaskRun's pod (ownerReferences from the downward
# API), carries this run's label, has resource requests and an active deadline; its log is saved
# before the pod is deleted. A pod Pending longer than PENDING_TIMEOUT_SECONDS, or a failed build,
# fails the task naming the app and showing the tail of its log. On exit, whatever is left of this
# run's build pods (and only of this run) is deleted.
set -eu
set -o pipefail

: "${PLAN_DIR:?}" "${WORKSPACE_PATH:?}" "${RUN_NAME:?}" "${OWNER_POD_NAME:?}" "${OWNER_POD_UID:?}"
: "${KANIKO_IMAGE:?}" "${SOURCE_CLAIM:=}" "${NODE_NAME:=}" "${CACHE_REPO:=}" "${REGISTRY_SECRET:=}"
MAX_PARALLEL_BUILDS=${MAX_PARALLEL_BUILDS:-5}
POLL_SECONDS=${POLL_SECONDS:-5}
PENDING_TIMEOUT_SECONDS=${PENDING_TIMEOUT_SECONDS:-300}
BUILD_DEADLINE_SECONDS=${BUILD_DEADLINE_SECONDS:-1800}
BUILD_CPU_REQUEST=${BUILD_CPU_REQUEST:-500m}
BUILD_MEMORY_REQUEST=${BUILD_MEMORY_REQUEST:-1Gi}
BUILD_MEMORY_LIMIT=${BUILD_MEMORY_LIMIT:-4Gi}
LOG_TAIL_LINES=${LOG_TAIL_LINES:-40}
INSECURE_REGISTRY=${INSECURE_REGISTRY:-false}
LOG_DIR=${LOG_DIR:-$PLAN_DIR/logs}
BUILD_HISTORY=${BUILD_HISTORY:-}
[ "${CACHE_BOUND:-true}" = true ] || BUILD_HISTORY=""  # no build-cache workspace: keep no history
BUILT_LIST=$PLAN_DIR/built-images.txt  # the images pushed, one a line (no result: it grows with the apps)
RUN_LABEL=tekton-dag.dev/run
COMPONENT_LABEL=tekton-dag.dev/component
SELECTOR="$RUN_LABEL=$RUN_NAME,$COMPONENT_LABEL=image-build"

die() { echo "containerize: $*" >&2; exit 1; }

case $MAX_PARALLEL_BUILDS in '' | *[!0-9]* | 0) die "max-parallel-builds must be a positive integer, got '$MAX_PARALLEL_BUILDS'" ;; esac
[ -f "$PLAN_DIR/builds.tsv" ] || die "no build plan at $PLAN_DIR/builds.tsv (did resolve-stack run?)"
[ -n "$SOURCE_CLAIM" ] || die "the source workspace must be a PersistentVolumeClaim (volumeClaimTemplate): build pods mount it"
mkdir -p "$LOG_DIR"

apps=() contexts=() dockerfiles=() images=()
while IFS=$'\t' read -r app context dockerfile image _weight; do
  [ -n "$app" ] || continue
  apps+=("$app") contexts+=("$context") dockerfiles+=("$dockerfile") images+=("$image")
done <"$PLAN_DIR/builds.tsv"
total=${#apps[@]}
if [ "$total" -eq 0 ]; then
  echo "containerize: nothing to build"
  : >"$BUILT_LIST"
  exit 0
fi

missing=""
for i in "${!apps[@]}"; do
  [ -f "$WORKSPACE_PATH/${contexts[i]}/${dockerfiles[i]}" ] || missing="$missing ${apps[i]}(${contexts[i]}/${dockerfiles[i]})"
done
[ -z "$missing" ] || die "no Dockerfile for:$missing"

run_hash=$(printf '%s' "$RUN_NAME" | sha1sum | cut -c1-8)
pod_name() { printf '%s-build-%s' "$1" "$run_hash"; }

cleanup() {
  kubectl delete pods -l "$SELECTOR" --ignore-not-found --wait=false >/dev/null 2>&1 || true
}
trap cleanup EXIT

# The pod manifest is built by jq from --arg values: no string from the stack is parsed as JSON or shell.
pod_manifest() {
  local i=$1
  jq -n \
    --arg name "$(pod_name "${apps[i]}")" --arg app "${apps[i]}" --arg run "$RUN_NAME" \
    --arg owner "$OWNER_POD_NAME" --arg owner_uid "$OWNER_POD_UID" --arg node "$NODE_NAME" \
    --arg image "$KANIKO_IMAGE" --arg claim "$SOURCE_CLAIM" --arg secret "$REGISTRY_SECRET" \
    --arg context "${contexts[i]}" --arg dockerfile "${dockerfiles[i]}" --arg destination "${images[i]}" \
    --arg cache "$CACHE_REPO" --arg insecure "$INSECURE_REGISTRY" \
    --arg cpu "$BUILD_CPU_REQUEST" --arg mem "$BUILD_MEMORY_REQUEST" --arg memlimit "$BUILD_MEMORY_LIMIT" \
    --argjson deadline "$BUILD_DEADLINE_SECONDS" --arg runlabel "$RUN_LABEL" --arg complabel "$COMPONENT_LABEL" '
    {apiVersion: "v1", kind: "Pod",
     metadata: {name: $name,
       labels: {($runlabel): $run, ($complabel): "image-build", "tekton-dag.dev/app": $app,
                "app.kubernetes.io/managed-by": "tekton-dag"},
       ownerReferences: [{apiVersion: "v1", kind: "Pod", name: $owner, uid: $owner_uid,
                          controller: false, blockOwnerDeletion: false}]},
     # The build runs the Dockerfile (PR code): no ServiceAccount token, no service links; the only
     # Secret it mounts is the registry one.
     spec: ({restartPolicy: "Never", activeDeadlineSeconds: $deadline,
       automountServiceAccountToken: false, enableServiceLinks: false,
       containers: [{name: "build", image: $image,
         args: (["--context=dir:///workspace/source/\($context)",
                 "--dockerfile=/workspace/source/\($context)/\($dockerfile)",
                 "--destination=\($destination)",
                 "--digest-file=/dev/termination-log"]
                + (if $cache != "" then ["--cache=true", "--cache-repo=\($cache)"] else [] end)
                + (if $insecure == "true" then ["--insecure", "--insecure-pull"] else [] end)),
         resources: {requests: {cpu: $cpu, memory: $mem}, limits: {memory: $memlimit}},
         volumeMounts: ([{name: "source", mountPath: "/workspace/source", readOnly: true}]
                        + (if $secret != "" then [{name: "registry-auth", mountPath: "/kaniko/.docker", readOnly: true}] else [] end))}],
       volumes: ([{name: "source", persistentVolumeClaim: {claimName: $claim, readOnly: true}}]
                 + (if $secret != "" then [{name: "registry-auth", secret: {secretName: $secret,
                      items: [{key: ".dockerconfigjson", path: "config.json"}]}}] else [] end))}
       # A ReadWriteOnce claim can be mounted by several pods only on one node: build where this TaskRun runs.
       + (if $node != "" then {nodeName: $node} else {} end))}'
}

declare -A running=() started=()
built=() failed=""
next=0
list_failures=0
MAX_LIST_FAILURES=${MAX_LIST_FAILURES:-5}

start_build() {
  local i=$1 name
  name=$(pod_name "${apps[i]}")
  if ! pod_manifest "$i" | kubectl create -f - >/dev/null; then
    # A pod of the same name can only be left over from an earlier attempt of this same run.
    kubectl delete pod "$name" --ignore-not-found --wait=true >/dev/null 2>&1 || true
    pod_manifest "$i" | kubectl create -f - >/dev/null || die "could not create the build pod for ${apps[i]}"
  fi
  running[$name]=$i
  started[$name]=$(date +%s)
  echo "containerize: started ${apps[i]} -> ${images[i]} (pod $name; $(( ${#running[@]} )) of $MAX_PARALLEL_BUILDS slots)"
}

# Save the whole log, then delete the pod: logs are never lost to an early delete.
finish() {
  local name=$1 log
  log="$LOG_DIR/${apps[${running[$name]}]}.log"
  kubectl logs "$name" -c build >"$log" 2>&1 || echo "(could not read the log of pod $name)" >>"$log"
  kubectl delete pod "$name" --ignore-not-found --wait=false >/dev/null 2>&1 || true
  unset "running[$name]"
}

report_failure() {
  local name=$1 why=$2 i=${running[$1]}
  echo "containerize: build of app '${apps[i]}' failed: $why" >&2
  kubectl get events --field-selector "involvedObject.name=$name" 2>/dev/null | tail -n 5 >&2 || true
  finish "$name"
  echo "---- last $LOG_TAIL_LINES log lines of ${apps[i]} (full log: $LOG_DIR/${apps[i]}.log) ----" >&2
  tail -n "$LOG_TAIL_LINES" "$LOG_DIR/${apps[i]}.log" >&2 || true
  echo "---- end of ${apps[i]} ----" >&2
  failed="$failed ${apps[i]}"
}

record_duration() {
  local app=$1 seconds=$2
  [ -n "$BUILD_HISTORY" ] || return 0
  mkdir -p "$(dirname "$BUILD_HISTORY")" 2>/dev/null || return 0
  { grep -v "^$app"$'\t' "$BUILD_HISTORY" 2>/dev/null || true; printf '%s\t%s\n' "$app" "$seconds"; } >"$BUILD_HISTORY.tmp" \
    && mv "$BUILD_HISTORY.tmp" "$BUILD_HISTORY" || true
}

while :; do
  while [ -z "$failed" ] && [ "${#running[@]}" -lt "$MAX_PARALLEL_BUILDS" ] && [ "$next" -lt "$total" ]; do
    start_build "$next"
    next=$((next + 1))
  done
  [ "${#running[@]}" -gt 0 ] || break
  sleep "$POLL_SECONDS"
  now=$(date +%s)
  # A failed list (API hiccup) is retried on the next poll; only a persistent failure ends the task.
  if ! listing=$(kubectl get pods -l "$SELECTOR" -o json); then
    list_failures=$((list_failures + 1))
    [ "$list_failures" -lt "$MAX_LIST_FAILURES" ] || die "could not list the build pods $list_failures times in a row"
    echo "containerize: listing the build pods failed; retrying" >&2
    continue
  fi
  list_failures=0
  declare -A phase=() reason=()
  while IFS=$'\t' read -r name ph why; do
    [ -n "$name" ] || continue
    phase[$name]=$ph reason[$name]=$why
  done < <(printf '%s' "$listing" |
    jq -r '.items[] | [.metadata.name, (.status.phase // "Pending"),
      ((.status.reason // "") + " " + ([.status.containerStatuses[]?.state | (.waiting.reason? // .terminated.reason? // empty)] | join(",")))] | @tsv')
  for name in "${!running[@]}"; do
    i=${running[$name]}
    case ${phase[$name]:-Gone} in
      Succeeded)
        echo "containerize: built ${apps[i]} in $((now - started[$name]))s"
        record_duration "${apps[i]}" "$((now - started[$name]))"
        built+=("${images[i]}")
        finish "$name" ;;
      Failed) report_failure "$name" "pod $name ended Failed (${reason[$name]# })" ;;
      Gone) report_failure "$name" "pod $name disappeared before finishing" ;;
      Pending)
        if [ $((now - started[$name])) -ge "$PENDING_TIMEOUT_SECONDS" ]; then
          report_failure "$name" "pod $name still Pending after ${PENDING_TIMEOUT_SECONDS}s (${reason[$name]# })"
        fi ;;
    esac
  done
  if [ -n "$failed" ]; then
    for name in "${!running[@]}"; do
      echo "containerize: stopping ${apps[${running[$name]}]} (another build failed)" >&2
      finish "$name"
    done
    break
  fi
done

{ [ "${#built[@]}" -eq 0 ] || printf '%s\n' "${built[@]}"; } >"$BUILT_LIST"
[ -z "$failed" ] || die "failed builds:$failed ($(( ${#built[@]} )) of $total built)"
echo "containerize: all $total images built"
