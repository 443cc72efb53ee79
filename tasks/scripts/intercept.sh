#!/usr/bin/env bash
# deploy-intercepts: run each PR build beside the stable stack and route to it only the requests
# carrying "<HEADER_NAME>: <HEADER_VALUE>" (pr-<N>), with the team's backend.
#
# 1. The PR Deployment <app>-pr-<N> runs the PR image with its own entrypoint (it really serves),
#    labelled variant=pr-<N>, so the stable Service never selects it.
# 2. An intercept pod <app>-pr-<N>-intercept holds the intercept open: telepresence
#    (`intercept --http-header`, traffic-manager installed once per cluster by the platform) or
#    mirrord (`exec --steal` with an HTTP header filter). Matching requests reach a small
#    forwarder in that pod, which logs them and passes them to the PR Service.
# Everything created carries tekton-dag.dev/run=<run> so cleanup removes exactly this run's objects.
set -eu
set -o pipefail
: "${PLAN_DIR:?}" "${RUN_NAME:?}" "${PR_NUMBER:?}" "${HEADER_NAME:?}" "${HEADER_VALUE:?}" "${FORWARDER_SOURCE:?}"
: "${FORWARDER_IMAGE:?}" "${OWNER_POD_NAME:?}" "${OWNER_POD_UID:?}" "${INTERCEPT_SERVICE_ACCOUNT:?}"
BACKEND=${INTERCEPT_BACKEND:-telepresence}
ROLLOUT_TIMEOUT=${ROLLOUT_TIMEOUT:-300s}
TRAFFIC_MANAGER_NAMESPACE=${TRAFFIC_MANAGER_NAMESPACE:-ambassador}
case $BACKEND in
  telepresence) : "${TELEPRESENCE_IMAGE:?}" ; AGENT_IMAGE=$TELEPRESENCE_IMAGE ;;
  mirrord) : "${MIRRORD_IMAGE:?}" ; AGENT_IMAGE=$MIRRORD_IMAGE ;;
  *) echo "deploy-intercepts: intercept-backend must be telepresence or mirrord, got '$BACKEND'" >&2; exit 1 ;;
esac

agent_pod() { # app namespace target-url service-port
  jq -n --arg app "$1" --arg ns "$2" --arg target "$3" --arg port "$4" --arg pr "$PR_NUMBER" \
    --arg run "$RUN_NAME" --arg backend "$BACKEND" --arg image "$AGENT_IMAGE" --arg fwd_image "$FORWARDER_IMAGE" \
    --arg fwd "$FORWARDER_SOURCE" --arg header "$HEADER_NAME" --arg value "$HEADER_VALUE" \
    --arg manager "$TRAFFIC_MANAGER_NAMESPACE" --arg owner "$OWNER_POD_NAME" --arg owner_uid "$OWNER_POD_UID" \
    --arg owner_ns "${OWNER_POD_NAMESPACE:-}" --arg sa "$INTERCEPT_SERVICE_ACCOUNT" '
  def forwarder_env: [{name: "LISTEN_PORT", value: "18080"}, {name: "TARGET_URL", value: $target},
                      {name: "FORWARDER_SOURCE", value: $fwd}];
  def forwarder_cmd: ["python3", "-c", "import os; exec(os.environ[\"FORWARDER_SOURCE\"])"];
  def readiness: {exec: {command: ["test", "-f", "/tmp/ready"]}, periodSeconds: 2};
  {apiVersion: "v1", kind: "Pod",
   metadata: ({name: "\($app)-pr-\($pr)-intercept", namespace: $ns,
     labels: {"tekton-dag.dev/run": $run, "tekton-dag.dev/pr": $pr, "tekton-dag.dev/component": "intercept",
              "tekton-dag.dev/app": $app,
              "app.kubernetes.io/name": $app, "app.kubernetes.io/managed-by": "tekton-dag"}}
     # Owned by the TaskRun pod when in its namespace (owners cannot cross namespaces): pruning the
     # PipelineRun then removes the intercept even if cleanup-run never ran.
     + (if $owner_ns == $ns then {ownerReferences: [{apiVersion: "v1", kind: "Pod", name: $owner, uid: $owner_uid,
          controller: false, blockOwnerDeletion: false}]} else {} end)),
   # Both clients call the Kubernetes API from this pod (telepresence connect: the traffic-manager;
   # mirrord exec: the target and its agent Job), as this ServiceAccount, which the chart binds to a
   # Role with exactly that (helm/tekton-dag/templates/rbac-intercept.yaml); never the namespace default.
   spec: {serviceAccountName: $sa, restartPolicy: "Never", activeDeadlineSeconds: 7200,
     containers: (if $backend == "telepresence" then
       [{name: "forwarder", image: $fwd_image, command: forwarder_cmd, env: forwarder_env,
         securityContext: {runAsNonRoot: true, runAsUser: 65532}},
        # Telepresence OSS >= 2.25.0: `intercept --http-header "Name=value"` (also "Name: value"; repeated
        # flags AND together) and any --http-* filter switches the mechanism to http by itself
        # (pkg/client/cli/intercept/command.go, AddInterceptFlags/Validate; telepresenceio/telepresence#3967).
        # Older OSS clients have no such flag (telepresenceio/telepresence#3631).
        {name: "intercept", image: $image, readinessProbe: readiness,
         securityContext: {capabilities: {add: ["NET_ADMIN"]}},
         env: [{name: "NAMESPACE", value: $ns}, {name: "WORKLOAD", value: $app}, {name: "SERVICE_PORT", value: $port},
               {name: "HEADER", value: "\($header)=\($value)"}, {name: "MANAGER_NAMESPACE", value: $manager}],
         command: ["sh", "-c", "set -eu; telepresence connect --namespace \"$NAMESPACE\" --manager-namespace \"$MANAGER_NAMESPACE\"; telepresence intercept \"$WORKLOAD\" --port \"18080:$SERVICE_PORT\" --http-header \"$HEADER\"; touch /tmp/ready; exec sleep 2147483647"]}]
     else
       [{name: "intercept", image: $image, readinessProbe: readiness,
         # operator: false: no mirrord operator here, so the CLI starts its own agent Job and skips
         # the operator lookup (mirrord-config `operator`: "If not set, mirrord will first attempt to use the
         # operator"), whose `mirrordoperators` resource is cluster-scoped (mirrord.dev docs/teams/security).
         env: (forwarder_env + [{name: "MIRRORD_CONFIG", value: ({operator: false,
                 target: {path: "deployment/\($app)", namespace: $ns},
                 feature: {network: {incoming: {mode: "steal", port_mapping: [[18080, ($port | tonumber)]],
                   http_filter: {header_filter: "^\($header): \($value)$"}}, outgoing: false}}} | tojson)}]),
         command: ["sh", "-c", "set -eu; printf %s \"$MIRRORD_CONFIG\" >/tmp/mirrord.json; touch /tmp/ready; exec mirrord exec --config-file /tmp/mirrord.json -- python3 -c \"import os; exec(os.environ[\\\"FORWARDER_SOURCE\\\"])\""]}]
     end)}}'
}

for manifest in "$PLAN_DIR"/pr/*.json; do
  [ -e "$manifest" ] || { echo "deploy-intercepts: no PR workloads planned" >&2; exit 1; }
  app=${manifest##*/}
  app=${app%.json}
  namespace=$(jq -r '.items[0].metadata.namespace' "$manifest")
  port=$(jq -r '.items[1].spec.ports[0].port' "$manifest")
  pr_name="$app-pr-$PR_NUMBER"
  kubectl get "deployment/$app" -n "$namespace" >/dev/null ||
    { echo "deploy-intercepts: the stable '$app' is not deployed in $namespace: bootstrap the stack first" >&2; exit 1; }
  echo "deploy-intercepts: $pr_name (PR build) beside stable $app in $namespace"
  kubectl apply -f "$manifest"
  kubectl rollout status "deployment/$pr_name" -n "$namespace" --timeout="$ROLLOUT_TIMEOUT" ||
    { echo "deploy-intercepts: the PR build of '$app' did not become ready" >&2; exit 1; }
  kubectl delete pod "$pr_name-intercept" -n "$namespace" --ignore-not-found --wait=true
  agent_pod "$app" "$namespace" "http://$pr_name.$namespace.svc:$port" "$port" | kubectl create -f -
  kubectl wait --for=condition=Ready "pod/$pr_name-intercept" -n "$namespace" --timeout="$ROLLOUT_TIMEOUT" || {
    echo "deploy-intercepts: the $BACKEND intercept of '$app' did not start" >&2
    kubectl logs "$pr_name-intercept" -n "$namespace" --all-containers --tail=40 >&2 || true
    exit 1
  }
  echo "deploy-intercepts: requests with '$HEADER_NAME: $HEADER_VALUE' to $app now reach $pr_name"
done
