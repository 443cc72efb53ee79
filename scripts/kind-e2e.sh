#!/usr/bin/env bash
# End-to-end check of the Helm chart on a local kind cluster, for users who have Docker.
#
#   *** NOT run in this project's CI ***  The machines that build this project have no Docker
#   engine, so this script has never been executed there; CI checks the chart with the real helm
#   binary, schema validation and ArgoCD expansion instead (tests/helm, tests/argocd).
#
# What it does:
#   1. creates a kind cluster (name $CLUSTER) with a local registry on localhost:$REGISTRY_PORT;
#   2. installs Tekton Pipelines, Knative Serving (Kourier) and Knative Eventing (MT Broker);
#   3. builds the function images from this checkout and pushes them to the local registry;
#   4. installs the chart for the example team with teams/<team>/values.yaml, creates its Secrets
#      and points Tekton's CloudEvents sink at the team's Broker;
#   5. sends a signed pull_request webhook (tekton-dag send) to webhook-ingest and waits until the
#      chain has created the PipelineRun (the run itself clones real GitHub repositories; whether it
#      succeeds depends on your network and credentials and is not asserted).
#
# Needs: docker, kind, kubectl, and this repository set up (scripts/setup, scripts/install-tools).
# Usage: scripts/kind-e2e.sh            (KEEP=1 keeps the cluster afterwards)
set -euo pipefail
cd "$(dirname "$0")/.."

CLUSTER=${CLUSTER:-tekton-dag-e2e}
TEAM=${TEAM:-default}
REGISTRY_NAME=${REGISTRY_NAME:-kind-registry}
REGISTRY_PORT=${REGISTRY_PORT:-5001}
TEKTON_VERSION=${TEKTON_VERSION:-v0.62.3}
KNATIVE_VERSION=${KNATIVE_VERSION:-knative-v1.16.0}
TAG=${TAG:-e2e}
export PATH="$PWD/.venv/bin:$PWD/.tools/bin:$PATH"

say() { printf '\n==> %s\n' "$*"; }
need() { command -v "$1" >/dev/null 2>&1 || { echo "kind-e2e: $1 is required" >&2; exit 1; }; }
for tool in docker kind kubectl helm tekton-dag; do need "$tool"; done

cleanup() {
  [ -n "${PORT_FORWARD_PID:-}" ] && kill "$PORT_FORWARD_PID" 2>/dev/null || true
  if [ "${KEEP:-0}" != 1 ]; then kind delete cluster --name "$CLUSTER" >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT

NAMESPACE=$(python3 -c "import yaml,sys; print(yaml.safe_load(open(sys.argv[1]))['team']['namespace'])" \
  "teams/$TEAM/values.yaml")

say "1. kind cluster $CLUSTER with registry localhost:$REGISTRY_PORT"
if [ -z "$(docker ps -q -f "name=^${REGISTRY_NAME}$")" ]; then
  docker run -d --restart=always -p "127.0.0.1:${REGISTRY_PORT}:5000" --name "$REGISTRY_NAME" registry:2.8.3 >/dev/null
fi
cat <<EOF | kind create cluster --name "$CLUSTER" --config=-
kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
containerdConfigPatches:
  - |-
    [plugins."io.containerd.grpc.v1.cri".registry.mirrors."localhost:${REGISTRY_PORT}"]
      endpoint = ["http://${REGISTRY_NAME}:5000"]
EOF
docker network connect kind "$REGISTRY_NAME" 2>/dev/null || true

say "2. Tekton $TEKTON_VERSION, Knative $KNATIVE_VERSION (Serving + Kourier, Eventing + MT Broker)"
kubectl apply -f "https://storage.googleapis.com/tekton-releases/pipeline/previous/${TEKTON_VERSION}/release.yaml"
KN=https://github.com/knative
kubectl apply -f "$KN/serving/releases/download/$KNATIVE_VERSION/serving-crds.yaml"
kubectl apply -f "$KN/serving/releases/download/$KNATIVE_VERSION/serving-core.yaml"
kubectl apply -f "$KN/net-kourier/releases/download/$KNATIVE_VERSION/kourier.yaml"
kubectl patch configmap/config-network -n knative-serving --type merge \
  -p '{"data":{"ingress-class":"kourier.ingress.networking.knative.dev"}}'
kubectl apply -f "$KN/eventing/releases/download/$KNATIVE_VERSION/eventing-crds.yaml"
kubectl apply -f "$KN/eventing/releases/download/$KNATIVE_VERSION/eventing-core.yaml"
kubectl apply -f "$KN/eventing/releases/download/$KNATIVE_VERSION/in-memory-channel.yaml"
kubectl apply -f "$KN/eventing/releases/download/$KNATIVE_VERSION/mt-channel-broker.yaml"
for ns in tekton-pipelines knative-serving knative-eventing; do
  kubectl wait --for=condition=Available deployment --all -n "$ns" --timeout=300s
done

say "3. function images → localhost:$REGISTRY_PORT/tekton-dag/<function>:$TAG"
for function in webhook-ingest resolver run-creator bootstrap-batcher; do
  docker build -q -t "localhost:$REGISTRY_PORT/tekton-dag/$function:$TAG" -f - . <<EOF
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY functions/core functions/core
RUN pip install --no-cache-dir . && useradd --uid 65532 --create-home app
USER 65532
ENV LISTEN_ADDRESS=0.0.0.0:8080
CMD ["tekton-dag", "serve", "$function"]
EOF
  docker push -q "localhost:$REGISTRY_PORT/tekton-dag/$function:$TAG"
done

say "4. chart for team $TEAM in namespace $NAMESPACE"
python helm/team-values.py --check
kubectl create namespace "$NAMESPACE" --dry-run=client -o yaml | kubectl apply -f -
WEBHOOK_SECRET=$(openssl rand -hex 20)
WEBHOOK_SECRET_NAME=$(python3 -c "import yaml,sys; t=yaml.safe_load(open(sys.argv[1]))['team']; print(t['webhookSecret'] or 'tekton-dag-github-webhook')" "teams/$TEAM/values.yaml")
kubectl -n "$NAMESPACE" create secret generic "$WEBHOOK_SECRET_NAME" --from-literal=secret="$WEBHOOK_SECRET"
kubectl -n "$NAMESPACE" create secret generic tekton-dag-api-token --from-literal=token="$(openssl rand -hex 20)"
kubectl -n "$NAMESPACE" create secret generic tekton-dag-git-credentials --from-literal=.git-credentials=""
kubectl -n "$NAMESPACE" create secret generic tekton-dag-github-token --from-literal=token=unused
helm install "$TEAM" helm/tekton-dag -n "$NAMESPACE" -f "teams/$TEAM/values.yaml" \
  --set image.registry="localhost:$REGISTRY_PORT/tekton-dag" --set image.tag="$TAG" --wait --timeout 10m
kubectl -n tekton-pipelines patch configmap config-events --type merge -p \
  "{\"data\":{\"formats\":\"tektonv1\",\"sink\":\"http://broker-ingress.knative-eventing.svc.cluster.local/$NAMESPACE/tekton-dag\"}}"
kubectl -n "$NAMESPACE" wait --for=condition=Ready ksvc --all --timeout=300s
kubectl -n "$NAMESPACE" wait --for=condition=Ready broker/tekton-dag trigger --all --timeout=300s

say "5. signed pull_request webhook → PipelineRun"
POD=$(kubectl -n "$NAMESPACE" get pod -l serving.knative.dev/service=webhook-ingest -o jsonpath='{.items[0].metadata.name}')
kubectl -n "$NAMESPACE" port-forward "pod/$POD" 18080:8080 >/dev/null &
PORT_FORWARD_PID=$!
sleep 3
REPO=$(python3 -c "import yaml,sys; d=yaml.safe_load(open(sys.argv[1]))['teamConfig']['files']; s=[v for k,v in d.items() if k.startswith('stacks/')][0]; print(yaml.safe_load(s)['apps'][0]['repo'])" "teams/$TEAM/values.yaml")
tekton-dag send pull_request.opened "$REPO" --url http://127.0.0.1:18080/webhook/github --secret "$WEBHOOK_SECRET"
for _ in $(seq 60); do
  if kubectl -n "$NAMESPACE" get pipelineruns -l "tekton-dag.dev/team=$TEAM" -o name | grep -q .; then
    kubectl -n "$NAMESPACE" get pipelineruns -l "tekton-dag.dev/team=$TEAM" --show-labels
    say "PASS: the webhook became a PipelineRun"
    exit 0
  fi
  sleep 5
done
echo "kind-e2e: FAIL: no PipelineRun for team $TEAM after 5 minutes" >&2
kubectl -n "$NAMESPACE" get ksvc,broker,trigger
exit 1
