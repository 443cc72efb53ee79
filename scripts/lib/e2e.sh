# shellcheck shell=bash
# The steps the kind end-to-end scripts share (scripts/kind-e2e.sh, scripts/run-e2e-with-intercepts.sh):
# sourced by them, never run on its own.
#
#   *** NOT run in this project's CI ***  The machines that build this project have no Docker engine.
#   What CI runs (tests/kindscripts): shellcheck on these files, each script's --dry-run plan, and
#   wait_for_pipelinerun with the real kubectl against the fake API server and the Tekton double.
#
# Dry run (E2E_DRY_RUN=1, the scripts' --dry-run): every command that would touch docker, kind, the
# cluster, a registry or GitHub is printed as one line "+ <command>" (shell-quoted), in order, and
# none of them runs. A real run prints the same lines before it runs them, so its log is the plan it
# followed. Local work (reading the team's files, writing temporary files) happens in both modes.
#
# Settings (environment): CLUSTER, TEAM, REGISTRY_NAME, REGISTRY_PORT, TEKTON_VERSION, KNATIVE_VERSION,
# TAG, KEEP=1 (keep the cluster), E2E_POLL_SECONDS, E2E_RUN_TIMEOUT (seconds per PipelineRun).

E2E_DRY_RUN=${E2E_DRY_RUN:-0}
E2E_POLL_SECONDS=${E2E_POLL_SECONDS:-10}
E2E_RUN_TIMEOUT=${E2E_RUN_TIMEOUT:-3600}
E2E_NAME=${E2E_NAME:-e2e}
BACKGROUND_PIDS=()
exec 3>&1 # plan lines go to the script's stdout, also from inside $(...)

say() { printf '\n==> %s\n' "$*"; }
die() {
  printf '%s: %s\n' "$E2E_NAME" "$*" >&2
  exit 1
}

# quoted CMD...: the command as one line a shell (or Python's shlex) reads back to the same words.
quoted() {
  local word line=""
  for word in "$@"; do
    if [[ $word =~ ^[A-Za-z0-9_./:=@%+,-]+$ ]]; then
      line+=" $word"
    else
      line+=" '${word//\'/\'\\\'\'}'"
    fi
  done
  printf '%s' "${line# }"
}

# show CMD...: print the plan line of a command.
show() { printf '+ %s\n' "$(quoted "$@")" >&3; }

# run CMD...: show it, then run it (not in a dry run).
run() {
  show "$@"
  [ "$E2E_DRY_RUN" = 1 ] || "$@"
}

# query CMD...: show it, then print its output; a dry run prints the placeholder "dry-run-value".
query() {
  show "$@"
  if [ "$E2E_DRY_RUN" = 1 ]; then echo dry-run-value; else "$@"; fi
}

# probe CMD...: show it and answer yes (0) or no (1) by its exit status, output discarded; a dry run
# answers no, so the plan shows what a first run on a clean machine does.
probe() {
  show "$@"
  [ "$E2E_DRY_RUN" != 1 ] && "$@" >/dev/null 2>&1
}

# background CMD...: show it and start it in the background; cleanup stops it.
background() {
  printf '+ %s &\n' "$(quoted "$@")" >&3
  [ "$E2E_DRY_RUN" = 1 ] && return 0
  "$@" >/dev/null 2>&1 &
  BACKGROUND_PIDS+=("$!")
}

# stop_background: stop what background started (port-forwards to pods that may be replaced).
stop_background() {
  local pid
  for pid in "${BACKGROUND_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  BACKGROUND_PIDS=()
}

# wait_port PORT: wait (up to 30 s) until something listens on 127.0.0.1:PORT (a port-forward).
wait_port() {
  [ "$E2E_DRY_RUN" = 1 ] && return 0
  local _
  for _ in $(seq 30); do
    (exec 9<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 1
  done
  die "nothing listens on 127.0.0.1:$1 after 30 s (port-forward failed?)"
}

need() {
  [ "$E2E_DRY_RUN" = 1 ] && return 0
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is required (docs/testing.md, \"kind end-to-end scripts\")"
  done
}

# wait_for_pipelinerun NAMESPACE SELECTOR [TIMEOUT_SECONDS]
# Waits for the newest PipelineRun matching the label SELECTOR to finish, and sets E2E_RUN to its
# name. Tekton reports the outcome in the run's condition of type "Succeeded": status Unknown while
# it is pending or running, True when it succeeded (reason Succeeded, or Completed when tasks were
# skipped), False when it failed, was cancelled or timed out (reason Failed, Cancelled,
# PipelineRunTimeout..., with a message) -- tektoncd/pipeline docs/pipelineruns.md, "Monitoring
# execution status". `kubectl wait --for=condition=Succeeded` would only return on True and sit out
# its timeout on False; this fails at once on False, printing reason and message.
# Returns 0 on True; 1 on False; 1 when TIMEOUT_SECONDS (default E2E_RUN_TIMEOUT) pass first (no run
# yet, or still Unknown). Asked every E2E_POLL_SECONDS; a failing kubectl is asked again until then.
# shellcheck disable=SC2034 # E2E_RUN is read by the scripts that source this file
wait_for_pipelinerun() {
  local namespace=$1 selector=$2 timeout=${3:-$E2E_RUN_TIMEOUT}
  local deadline=$((SECONDS + timeout)) line name status reason message seen="" now
  local cond='.status.conditions[?(@.type=="Succeeded")]'
  local ask=(kubectl -n "$namespace" get pipelineruns -l "$selector" --sort-by=.metadata.creationTimestamp
    -o "jsonpath={range .items[*]}{.metadata.name}{\"\\t\"}{$cond.status}{\"\\t\"}{$cond.reason}{\"\\t\"}{$cond.message}{\"\\n\"}{end}")
  show "${ask[@]}"
  E2E_RUN=dry-run-value
  [ "$E2E_DRY_RUN" = 1 ] && return 0
  while :; do
    line=$("${ask[@]}" | tail -n 1) || line="" # the newest ([-1:] fails on an empty list)
    name="" status="" reason="" message=""
    IFS=$'\t' read -r name status reason message <<<"$line" || true
    case $status in
      True)
        E2E_RUN=$name
        printf 'PASS: pipelinerun/%s succeeded (%s)\n' "$name" "$reason"
        return 0
        ;;
      False)
        E2E_RUN=$name
        printf '%s: FAIL: pipelinerun/%s: Succeeded=False, reason %s: %s\n' "$E2E_NAME" "$name" "$reason" \
          "${message:-(no message)}" >&2
        printf '  details: kubectl -n %s describe pipelinerun %s\n' "$namespace" "$name" >&2
        return 1
        ;;
    esac
    now="${name:-no PipelineRun yet}${status:+: $status $reason}"
    if [ "$now" != "$seen" ]; then
      printf '    %s %s\n' "$now" "$message"
      seen=$now
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      printf '%s: FAIL: timed out after %ss waiting for a PipelineRun (-l %s) to succeed; last: %s\n' \
        "$E2E_NAME" "$timeout" "$selector" "$now" >&2
      return 1
    fi
    sleep "$E2E_POLL_SECONDS"
  done
}

# --- the steps both scripts take -------------------------------------------------------------

# e2e_settings: defaults, the team's namespace, a work directory, and cleanup on exit.
e2e_settings() {
  CLUSTER=${CLUSTER:-tekton-dag-e2e}
  TEAM=${TEAM:-default}
  REGISTRY_NAME=${REGISTRY_NAME:-kind-registry}
  REGISTRY_PORT=${REGISTRY_PORT:-5001}
  TEKTON_VERSION=${TEKTON_VERSION:-v0.62.3}
  KNATIVE_VERSION=${KNATIVE_VERSION:-knative-v1.16.0}
  TAG=${TAG:-e2e}
  CHART=helm/tekton-dag
  VALUES=teams/$TEAM/values.yaml
  [ -f "$VALUES" ] || die "no team '$TEAM': $VALUES does not exist"
  NAMESPACE=$(chart_value team.namespace)
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/tekton-dag-e2e.XXXXXX")
  trap e2e_cleanup EXIT
}

e2e_cleanup() {
  stop_background
  if [ "${KEEP:-0}" != 1 ]; then run kind delete cluster --name "$CLUSTER" >/dev/null 2>&1 || true; fi
  rm -rf "$WORK"
}

# chart_value PATH: a value as the chart sees it for this team (teams/<team>/values.yaml over the
# chart's defaults); lists print one item per line.
chart_value() {
  python3 - "$1" "$CHART/values.yaml" "$VALUES" <<'PY'
import sys, yaml
path, *files = sys.argv[1:]
found = None
for name in files:
    doc = yaml.safe_load(open(name))
    for key in path.split("."):
        doc = doc.get(key) if isinstance(doc, dict) else None
    if doc not in (None, "", []):
        found = doc
print("\n".join(map(str, found)) if isinstance(found, list) else ("" if found is None else found))
PY
}

# e2e_values [BACKEND]: write the team's values for this cluster to $WORK/values.yaml: images go to
# the kind registry under the name pods and nodes both resolve ($REGISTRY_NAME:5000), and team.yaml's
# interceptBackend becomes BACKEND when given.
e2e_values() {
  python3 - "$VALUES" "$REGISTRY_NAME:5000" "${1:-}" >"$WORK/values.yaml" <<'PY'
import sys, yaml
values_file, registry, backend = sys.argv[1:]
values = yaml.safe_load(open(values_file))
team = yaml.safe_load(values["teamConfig"]["files"]["team.yaml"])
team.update(imageRegistry=registry, cacheRepo=f"{registry}/kaniko-cache")
if backend:
    team["interceptBackend"] = backend
files = {"team.yaml": yaml.safe_dump(team, sort_keys=False)}
print(yaml.safe_dump({"team": {"imageRegistry": registry, "cacheRepo": f"{registry}/kaniko-cache"},
                      "teamConfig": {"files": files}}, sort_keys=False))
PY
}

# e2e_cluster: a kind cluster whose nodes pull from a local registry over plain HTTP, both as
# localhost:$REGISTRY_PORT (what this machine pushes to) and as $REGISTRY_NAME:5000 (what pods push
# to). Registry hosts through containerd's config_path and one hosts.toml per host, as kind's own
# local-registry example does (kubernetes-sigs/kind site/static/examples/kind-with-registry.sh;
# containerd docs/hosts.md: the older registry.mirrors settings are deprecated).
e2e_cluster() {
  say "1. kind cluster $CLUSTER with registry $REGISTRY_NAME (localhost:$REGISTRY_PORT here)"
  if ! probe docker start "$REGISTRY_NAME"; then
    run docker run -d --restart=always -p "127.0.0.1:$REGISTRY_PORT:5000" --network bridge \
      --name "$REGISTRY_NAME" registry:2.8.3
  fi
  run kind create cluster --name "$CLUSTER" --config=- <<'KIND'
kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
containerdConfigPatches:
  - |-
    [plugins."io.containerd.grpc.v1.cri".registry]
      config_path = "/etc/containerd/certs.d"
KIND
  local node host
  printf '[host."http://%s:5000"]\n' "$REGISTRY_NAME" >"$WORK/hosts.toml"
  for node in $(query kind get nodes --name "$CLUSTER"); do
    for host in "localhost:$REGISTRY_PORT" "$REGISTRY_NAME:5000"; do
      run docker exec "$node" mkdir -p "/etc/containerd/certs.d/$host"
      run docker exec -i "$node" cp /dev/stdin "/etc/containerd/certs.d/$host/hosts.toml" <"$WORK/hosts.toml"
    done
  done
  run docker network connect kind "$REGISTRY_NAME" 2>/dev/null || true # already connected: fine
}

# e2e_platform: Tekton Pipelines, Knative Serving (Kourier) and Knative Eventing (MT Broker).
e2e_platform() {
  say "2. Tekton $TEKTON_VERSION, Knative $KNATIVE_VERSION (Serving + Kourier, Eventing + MT Broker)"
  local kn=https://github.com/knative ns
  run kubectl apply -f "https://storage.googleapis.com/tekton-releases/pipeline/previous/$TEKTON_VERSION/release.yaml"
  run kubectl apply -f "$kn/serving/releases/download/$KNATIVE_VERSION/serving-crds.yaml"
  run kubectl apply -f "$kn/serving/releases/download/$KNATIVE_VERSION/serving-core.yaml"
  run kubectl apply -f "$kn/net-kourier/releases/download/$KNATIVE_VERSION/kourier.yaml"
  run kubectl patch configmap/config-network -n knative-serving --type merge \
    -p '{"data":{"ingress-class":"kourier.ingress.networking.knative.dev"}}'
  # Knative resolves image tags to digests from its controller pod, which cannot reach this
  # machine's localhost registry: skip resolution for it (https://knative.dev/docs/serving/tag-resolution/,
  # config-deployment registries-skipping-tag-resolving).
  run kubectl patch configmap/config-deployment -n knative-serving --type merge \
    -p "{\"data\":{\"registries-skipping-tag-resolving\":\"kind.local,ko.local,dev.local,localhost:$REGISTRY_PORT\"}}"
  run kubectl apply -f "$kn/eventing/releases/download/$KNATIVE_VERSION/eventing-crds.yaml"
  run kubectl apply -f "$kn/eventing/releases/download/$KNATIVE_VERSION/eventing-core.yaml"
  run kubectl apply -f "$kn/eventing/releases/download/$KNATIVE_VERSION/in-memory-channel.yaml"
  run kubectl apply -f "$kn/eventing/releases/download/$KNATIVE_VERSION/mt-channel-broker.yaml"
  for ns in tekton-pipelines knative-serving knative-eventing; do
    run kubectl wait --for=condition=Available deployment --all -n "$ns" --timeout=300s
  done
}

# e2e_images: build every function image the chart references (scripts/build-images, docs/images.md)
# and push them to the kind registry.
e2e_images() {
  say "3. function images -> localhost:$REGISTRY_PORT/tekton-dag/<function>:$TAG"
  local repository
  run scripts/build-images --registry "localhost:$REGISTRY_PORT/tekton-dag" --tag "$TAG" --tool "docker build"
  for repository in $(chart_repositories); do
    run docker push -q "localhost:$REGISTRY_PORT/tekton-dag/$repository:$TAG"
  done
}

# chart_repositories: the image repository of every function (functions.*.repository, allInOne.repository).
chart_repositories() {
  python3 - "$CHART/values.yaml" <<'PY'
import sys, yaml
values = yaml.safe_load(open(sys.argv[1]))
print(*[f["repository"] for f in values["functions"].values()], values["allInOne"]["repository"])
PY
}

# e2e_secrets: the team's namespaces and the Secrets the chart refers to (helm/tekton-dag NOTES.txt).
# Secret values come from files in $WORK, so no secret is ever on a command line or in the log.
# GITHUB_TOKEN must be able to comment on the pull requests the E2E uses (post-result does).
e2e_secrets() {
  local ns webhook
  webhook=$(chart_value team.webhookSecret)
  for name in webhook-secret api-token event-key; do openssl rand -hex 32 >"$WORK/$name"; done
  printf '%s' "${GITHUB_TOKEN:-}" >"$WORK/github-token"
  : >"$WORK/git-credentials" # public repositories over https (tasks/scripts/clone.sh)
  for ns in "$NAMESPACE" $(chart_value team.deployNamespaces); do
    run kubectl create namespace "$ns"
  done
  run kubectl -n "$NAMESPACE" create secret generic "${webhook:-$(chart_value secrets.webhook.name)}" \
    --from-file="$(chart_value secrets.webhook.key)=$WORK/webhook-secret"
  run kubectl -n "$NAMESPACE" create secret generic "$(chart_value secrets.api.name)" \
    --from-file="$(chart_value secrets.api.key)=$WORK/api-token"
  run kubectl -n "$NAMESPACE" create secret generic "$(chart_value secrets.events.name)" \
    --from-file="$(chart_value secrets.events.key)=$WORK/event-key"
  run kubectl -n "$NAMESPACE" create secret generic "$(chart_value team.gitCredentialsSecret)" \
    --from-file=.git-credentials="$WORK/git-credentials"
  run kubectl -n "$NAMESPACE" create secret generic "$(chart_value team.githubTokenSecret)" \
    --from-file=token="$WORK/github-token"
}

# e2e_install: install (or reinstall) the chart for the team with $WORK/values.yaml on top of its
# values, point Tekton's CloudEvents at the team's Broker (NOTES.txt step 4), wait until all is Ready.
e2e_install() {
  run helm upgrade --install "$TEAM" "$CHART" -n "$NAMESPACE" -f "$VALUES" -f "$WORK/values.yaml" \
    --set image.registry="localhost:$REGISTRY_PORT/tekton-dag" --set image.tag="$TAG" --wait --timeout 10m
  run kubectl -n tekton-pipelines patch configmap config-events --type merge -p \
    "{\"data\":{\"formats\":\"tektonv1\",\"sink\":\"http://broker-ingress.knative-eventing.svc.cluster.local/$NAMESPACE/tekton-dag\"}}"
  run kubectl -n "$NAMESPACE" wait --for=condition=Ready ksvc --all --timeout=300s
  run kubectl -n "$NAMESPACE" wait --for=condition=Ready broker/tekton-dag --timeout=300s
  run kubectl -n "$NAMESPACE" wait --for=condition=Ready trigger --all --timeout=300s
}

# e2e_forward_webhook: port-forward 127.0.0.1:18080 to webhook-ingest; sets WEBHOOK_URL.
e2e_forward_webhook() {
  local pod
  pod=$(query kubectl -n "$NAMESPACE" get pod -l serving.knative.dev/service=webhook-ingest \
    -o 'jsonpath={.items[0].metadata.name}')
  background kubectl -n "$NAMESPACE" port-forward "pod/$pod" 18080:8080
  wait_port 18080
  WEBHOOK_URL=http://127.0.0.1:18080/webhook/github
}

# e2e_done MESSAGE: the last line of a run (a dry run says that nothing ran).
e2e_done() {
  if [ "$E2E_DRY_RUN" = 1 ]; then say "dry run: nothing was run"; else say "PASS: $*"; fi
}

# e2e_pull_request NUMBER: send a signed pull_request.opened webhook for pull request NUMBER of
# E2E_REPO (default: the first app of the team's first stack) at its real head commit, as GitHub
# would (tekton-dag send), and wait for its PipelineRun to succeed.
e2e_pull_request() {
  local number=$1 repo sha
  repo=${E2E_REPO:-$(first_app_repo)}
  sha=${E2E_SHA:-$(query git ls-remote "https://github.com/$repo" "refs/pull/$number/head" | cut -f1)}
  [ -n "$sha" ] || die "pull request $repo#$number not found on GitHub (set E2E_REPO, E2E_PR or E2E_SHA)"
  run env GITHUB_WEBHOOK_SECRET_FILE="$WORK/webhook-secret" \
    tekton-dag send pull_request.opened "$repo" --number "$number" --sha "$sha" --url "$WEBHOOK_URL"
  wait_for_pipelinerun "$NAMESPACE" "tekton-dag.dev/team=$TEAM,tekton-dag.dev/pr=$number"
}

first_app_repo() {
  python3 - "$VALUES" <<'PY'
import sys, yaml
files = yaml.safe_load(open(sys.argv[1]))["teamConfig"]["files"]
stack = next(text for name, text in files.items() if name.startswith("stacks/"))
print(yaml.safe_load(stack)["apps"][0]["repo"])
PY
}
