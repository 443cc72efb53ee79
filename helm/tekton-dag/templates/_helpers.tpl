{{/*
Helpers of the tekton-dag chart, named tekton-dag.<component>.<thing>.
Object names that other parts of the system rely on (Broker `tekton-dag`, the four Knative
Services, the Triggers `<function>-<input>`) are fixed contracts, not derived from the release name:
one release serves one team in one namespace.
*/}}

{{/* tekton-dag.chart: "name-version" for the helm.sh/chart label. */}}
{{- define "tekton-dag.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* tekton-dag.selectorLabels: labels that select this release's objects; never the version. */}}
{{- define "tekton-dag.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* tekton-dag.labels: the standard app.kubernetes.io/* labels plus the team. */}}
{{- define "tekton-dag.labels" -}}
helm.sh/chart: {{ include "tekton-dag.chart" . }}
{{ include "tekton-dag.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: tekton-dag
tekton-dag.dev/team: {{ .Values.team.name }}
{{- end -}}

{{/*
tekton-dag.component.labels: standard labels plus app.kubernetes.io/component.
Call with (dict "root" $ "component" "run-creator").
*/}}
{{- define "tekton-dag.component.labels" -}}
{{ include "tekton-dag.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/*
tekton-dag.syncWave.annotation: the ArgoCD sync-wave annotation of a wave name, or nothing when
syncWaves is off. ArgoCD applies a wave only when every object of the waves before it is healthy
(or has no health check), so each object comes after what it needs; the last wave is never waited
on (gitops-engine pkg/sync/sync_context.go). tests/argocd/test_sync_waves.py syncs the chart
through a model of those rules.
  rbac 0       ServiceAccounts, Roles, ConfigMap, NetworkPolicy: everything runs as / reads these
  tasks 1      Tekton Tasks
  pipelines 2  Tekton Pipelines (reference the Tasks)
  deadletter 3 the dead-letter sink (the Broker is not Ready until it resolves)
  broker 4     Broker and SinkBindings (K_SINK must be injected when a function's pods start)
  functions 5  the Knative Services (webhook-ingest is ready only once it knows K_SINK)
  triggers 6   Triggers: ArgoCD's Trigger health check reports a Trigger whose subscriber does
               not exist yet as Degraded, so they come after the functions they call.
  claims 7     the build-cache PVC, alone and last: on a WaitForFirstConsumer StorageClass it stays
               Pending (ArgoCD: Progressing) until a PipelineRun mounts it, so no wave may come
               after it.
Call with (dict "root" $ "wave" "tasks").
*/}}
{{- define "tekton-dag.syncWave.annotation" -}}
{{- $waves := dict "rbac" "0" "tasks" "1" "pipelines" "2" "deadletter" "3" "broker" "4" "functions" "5" "triggers" "6" "claims" "7" -}}
{{- if not (hasKey $waves .wave) -}}
{{- fail (printf "tekton-dag.syncWave.annotation: unknown wave %q" .wave) -}}
{{- end -}}
{{- if .root.Values.syncWaves -}}
argocd.argoproj.io/sync-wave: {{ get $waves .wave | quote }}
{{- end -}}
{{- end -}}

{{/*
tekton-dag.namespace.check: fail when team.namespace is set and is not the release namespace
(an empty team.namespace means the release namespace).
*/}}
{{- define "tekton-dag.namespace.check" -}}
{{- if and .Values.team.namespace (ne .Values.team.namespace .Release.Namespace) -}}
{{- fail (printf "team.namespace is %q but the release namespace is %q: install with -n %s (the team's runs and RBAC live in its namespace)" .Values.team.namespace .Release.Namespace .Values.team.namespace) -}}
{{- end -}}
{{- end -}}

{{/* tekton-dag.image: the image of a repository under image.registry, tagged image.tag or appVersion. */}}
{{- define "tekton-dag.image" -}}
{{- $root := .root -}}
{{- printf "%s/%s:%s" $root.Values.image.registry .repository (default $root.Chart.AppVersion $root.Values.image.tag) -}}
{{- end -}}

{{/*
tekton-dag.functions: the functions of the distributed mode as YAML, one source for the Knative
Services, their ServiceAccounts and Triggers: value key, Knative Service name, and the CloudEvent
types it consumes (input name → type; each becomes the Trigger `<function>-<input>`).
The types are those of tekton_dag/events/catalog.py; tests/helm checks that they agree.
*/}}
{{- define "tekton-dag.functions" -}}
webhook-ingest:
  key: webhookIngest
  inputs: {}
resolver:
  key: resolver
  inputs:
    github-pull-request: dev.tektondag.github.pull_request.v1
    github-push: dev.tektondag.github.push.v1
run-creator:
  key: runCreator
  inputs:
    run-requested: dev.tektondag.run.requested.v1
    run-cancel-requested: dev.tektondag.run.cancel.requested.v1
    pipelinerun-successful: dev.tekton.event.pipelinerun.successful.v1
    pipelinerun-failed: dev.tekton.event.pipelinerun.failed.v1
    pipelinerun-cancelled: dev.tekton.event.pipelinerun.cancelled.v1
bootstrap-batcher:
  key: bootstrapBatcher
  inputs:
    bootstrap-requested: dev.tektondag.bootstrap.requested.v1
{{- end -}}

{{/* tekton-dag.function.serviceAccount: the ServiceAccount name of a function (or "all-in-one"). */}}
{{- define "tekton-dag.function.serviceAccount" -}}
{{- printf "tekton-dag-%s" . -}}
{{- end -}}

{{/* tekton-dag.webhook.secretName: the team's own webhook Secret, else secrets.webhook.name. */}}
{{- define "tekton-dag.webhook.secretName" -}}
{{- default .Values.secrets.webhook.name .Values.team.webhookSecret -}}
{{- end -}}

{{/* tekton-dag.teamConfig.name: the ConfigMap holding the team's configuration files. */}}
{{- define "tekton-dag.teamConfig.name" -}}
tekton-dag-teams
{{- end -}}

{{/*
tekton-dag.teamConfig.key: the ConfigMap key of a file path ("stacks/shop.yaml" → "stacks__shop.yaml"):
keys may not contain "/", the volume's items put each file back at its path.
*/}}
{{- define "tekton-dag.teamConfig.key" -}}
{{- replace "/" "__" . -}}
{{- end -}}

{{/*
tekton-dag.tekton.paramDefaults: param name → default for the Tekton objects, as YAML: the team's
facts, then tekton.paramDefaults (which wins). Every value is a string (Tekton string params).
*/}}
{{- define "tekton-dag.tekton.paramDefaults" -}}
{{- $facts := dict
      "image-registry" .Values.team.imageRegistry
      "cache-repo" .Values.team.cacheRepo
      "max-parallel-builds" (toString .Values.team.maxParallelBuilds) -}}
{{- $all := merge (deepCopy .Values.tekton.paramDefaults) $facts -}}
{{- range $name, $value := $all }}
{{ $name }}: {{ toString $value | quote }}
{{- end }}
{{- end -}}

{{/*
tekton-dag.tekton.objects: every object of a kind found in a folder of the repository (through the
files/ symlinks), as given, with the release's labels, namespace and sync wave added and string
param defaults replaced from tekton.objectParamDefaults.<object name>, then
tekton-dag.tekton.paramDefaults. Nothing else changes.
Call with (dict "root" $ "glob" "files/tasks/*.yaml" "kind" "Task" "wave" "tasks").
*/}}
{{- define "tekton-dag.tekton.objects" -}}
{{- $root := .root -}}
{{- $defaults := include "tekton-dag.tekton.paramDefaults" $root | fromYaml -}}
{{- $labels := include "tekton-dag.component.labels" (dict "root" $root "component" "tekton") | fromYaml -}}
{{- $wave := include "tekton-dag.syncWave.annotation" (dict "root" $root "wave" .wave) | fromYaml -}}
{{- range $path, $_ := $root.Files.Glob .glob }}
{{- range $text := regexSplit "(?m)^---[ \t]*$" ($root.Files.Get $path) -1 }}
{{- $doc := fromYaml $text }}
{{- if hasKey $doc "Error" }}
{{- fail (printf "%s: not valid YAML: %s" $path (get $doc "Error")) }}
{{- end }}
{{- if eq (get $doc "kind" | default "") $.kind }}
{{- $meta := $doc.metadata }}
{{- $own := merge (deepCopy (get $root.Values.tekton.objectParamDefaults $meta.name | default dict)) $defaults }}
{{- $_ := set $meta "namespace" $root.Release.Namespace }}
{{- $_ := set $meta "labels" (merge (deepCopy $labels) ($meta.labels | default dict)) }}
{{- if $wave }}
{{- $_ := set $meta "annotations" (merge ($meta.annotations | default dict) $wave) }}
{{- end }}
{{- range $param := ($doc.spec.params | default list) }}
{{- if and (hasKey $own $param.name) (eq ($param.type | default "string") "string") }}
{{- $_ := set $param "default" (toString (get $own $param.name)) }}
{{- end }}
{{- end }}
---
# Source: {{ $path }}
{{ toYaml $doc }}
{{- end }}
{{- end }}
{{- end }}
{{- end -}}

{{/*
tekton-dag.internalFunctions: the Knative Services only the Broker calls (component labels), as a
YAML list: cluster-local, and behind NetworkPolicy tekton-dag-internal-functions.
*/}}
{{- define "tekton-dag.internalFunctions" -}}
- resolver
- run-creator
- bootstrap-batcher
- dead-letter
{{- end -}}
