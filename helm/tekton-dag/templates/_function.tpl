{{/*
tekton-dag.function.service: the Knative Service of one function.
Call with (dict "root" $ "name" "resolver" "at" "functions.resolver" "values" .Values.functions.resolver
"secretMounts" (list ...) "env" (dict ...)); at: where the values are (for messages); env: extra plain
variables (e.g. tekton-dag.function.githubEnv).
Every function gets: its own ServiceAccount, the team configuration (ConfigMap, reloaded on change)
at TEKTON_DAG_TEAMS_DIR, its metrics port (METRICS_PORT, metrics.port), its autoscaling annotations, func-python's health endpoints, and the
container security context. K_SINK comes from the function's SinkBinding, not from here.
secretMounts: list of dicts {volume, secret, key, dir, file, env, envValue, optional}: the Secret's
key is mounted read-only at <dir>/<file>, and the variable env is set to envValue (the path the code
reads). optional: the pod starts while the Secret does not exist yet (the function then refuses what
needs it, closed), so a release becomes Ready before its Secrets are created.
emptyDirs: list of dicts {name, path}: an emptyDir volume mounted read-write at path (kept across
container restarts in the pod; Knative Serving allows emptyDir by default,
kubernetes.podspec-volumes-emptydir in knative/serving pkg/apis/config/features.go).
*/}}
{{- define "tekton-dag.function.service" -}}
{{- $root := .root -}}
{{- $v := .values -}}
{{- include "tekton-dag.function.knativeLimits" . -}}
{{- /* A Knative Service's env is a list keyed by name (list-type map in its CRD): the API server
refuses a name twice (apiextensions-apiserver listtype/validation.go), so the function's own `env`
values may not name a variable the chart sets from its other values. */ -}}
{{- $chartEnv := list "TEKTON_DAG_TEAMS_DIR" -}}
{{- if $root.Values.metrics.port }}{{ $chartEnv = append $chartEnv "METRICS_PORT" }}{{ end -}}
{{- range $name, $_ := .env }}{{ $chartEnv = append $chartEnv $name }}{{ end -}}
{{- range .secretMounts }}{{ $chartEnv = append $chartEnv .env }}{{ end -}}
{{- $githubTiming := include "tekton-dag.function.githubTiming" $root | fromYaml -}}
{{- range $name, $_ := $v.env -}}
{{- if has $name $chartEnv -}}
{{- fail (printf "%s: env %s is set by the chart (from its other values); remove it from this function's env" $.name $name) -}}
{{- end -}}
{{- with get $githubTiming $name -}}
{{- fail (printf "%s: env %s is the chart's github.%s (one value for every GitHub caller, the redeliver CronJob too); set that instead" $.name $name .) -}}
{{- end -}}
{{- end -}}
{{- /* Knative refuses a container whose mounts share a path ("must be unique", knative/serving
pkg/apis/serving/k8s_validation.go validateVolumeMounts): say which value to change instead. */ -}}
{{- $mounts := dict $root.Values.teamConfig.mountPath "team-config" -}}
{{- range $mount := concat (.secretMounts | default list) (.emptyDirs | default list) -}}
{{- $path := $mount.dir | default $mount.path -}}
{{- $volume := $mount.volume | default $mount.name -}}
{{- with get $mounts $path -}}
{{- fail (printf "%s: two volumes mount at %q (%s and %s): choose another teamConfig.mountPath" $.name $path . $volume) -}}
{{- end -}}
{{- $_ := set $mounts $path $volume -}}
{{- end -}}
apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: {{ .name }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "tekton-dag.component.labels" (dict "root" $root "component" .name) | nindent 4 }}
    {{- if has .name (include "tekton-dag.internalFunctions" $root | fromYamlArray) }}
    {{- /* Only the Broker calls it: no public route (Knative Serving's cluster-local visibility). */}}
    networking.knative.dev/visibility: cluster-local
    {{- end }}
  {{- with include "tekton-dag.syncWave.annotation" (dict "root" $root "wave" "functions") }}
  annotations:
    {{- . | nindent 4 }}
  {{- end }}
spec:
  template:
    metadata:
      labels:
        {{- include "tekton-dag.selectorLabels" $root | nindent 8 }}
        app.kubernetes.io/component: {{ .name }}
      annotations:
        autoscaling.knative.dev/min-scale: {{ $v.minScale | quote }}
        autoscaling.knative.dev/max-scale: {{ $v.maxScale | quote }}
        {{- with $v.target }}
        autoscaling.knative.dev/target: {{ . | quote }}
        {{- end }}
    spec:
      serviceAccountName: {{ include "tekton-dag.function.serviceAccount" (.account | default .name) }}
      containerConcurrency: {{ $v.containerConcurrency | default 0 }}
      timeoutSeconds: {{ $v.timeoutSeconds }}
      containers:
        - name: function
          image: {{ include "tekton-dag.image" (dict "root" $root "repository" $v.repository) }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          env:
            - name: TEKTON_DAG_TEAMS_DIR
              value: {{ $root.Values.teamConfig.mountPath }}
            {{- if $root.Values.metrics.port }}
            - name: METRICS_PORT
              value: {{ $root.Values.metrics.port | quote }}
            {{- end }}
            {{- range $name, $value := $v.env }}
            - name: {{ $name }}
              value: {{ $value | toString | quote }}
            {{- end }}
            {{- range $name, $value := .env }}
            - name: {{ $name }}
              value: {{ $value | toString | quote }}
            {{- end }}
            {{- range .secretMounts }}
            - name: {{ .env }}
              value: {{ .envValue }}
            {{- end }}
          volumeMounts:
            - name: team-config
              mountPath: {{ $root.Values.teamConfig.mountPath }}
              readOnly: true
            {{- range .secretMounts }}
            - name: {{ .volume }}
              mountPath: {{ .dir }}
              readOnly: true
            {{- end }}
            {{- range .emptyDirs }}
            - name: {{ .name }}
              mountPath: {{ .path }}
            {{- end }}
          livenessProbe:
            httpGet:
              path: /health/liveness
          readinessProbe:
            httpGet:
              path: /health/readiness
          resources:
            {{- toYaml $v.resources | nindent 12 }}
          securityContext:
            {{- toYaml $root.Values.securityContext | nindent 12 }}
      volumes:
        - name: team-config
          configMap:
            name: {{ include "tekton-dag.teamConfig.name" $root }}
            {{- with $root.Values.teamConfig.files }}
            {{- $keys := include "tekton-dag.teamConfig.keys" $root | fromYaml }}
            items:
              {{- range $path, $_ := . }}
              - key: {{ get $keys $path }}
                path: {{ printf "%s/%s" $root.Values.team.name $path }}
              {{- end }}
            {{- end }}
        {{- range .secretMounts }}
        - name: {{ .volume }}
          secret:
            secretName: {{ .secret }}
            {{- if .optional }}
            optional: true
            {{- end }}
            items:
              - key: {{ .key }}
                path: {{ .file }}
        {{- end }}
        {{- range .emptyDirs }}
        - name: {{ .name }}
          emptyDir: {}
        {{- end }}
{{- end -}}

{{/*
tekton-dag.function.webhookSecretMounts: the Secrets of webhook-ingest (and all-in-one), where
tekton_dag.webhooks.secrets reads them: the team's own webhook Secret (team.webhookSecret) under
TEKTON_DAG_TEAM_SECRETS_DIR/<name>/secret, else the shared one as GITHUB_WEBHOOK_SECRET_FILE;
and the REST API token as TEKTON_DAG_API_TOKEN_FILE. Both optional: without the webhook Secret
every delivery gets 401, without the token the REST API answers 403 (tekton_dag.webhooks).
*/}}
{{- define "tekton-dag.function.webhookSecretMounts" -}}
{{- with .Values.team.webhookSecret }}
- volume: team-webhook-secret
  secret: {{ . }}
  key: secret
  dir: /var/run/secrets/tekton-dag/teams/{{ . }}
  file: secret
  env: TEKTON_DAG_TEAM_SECRETS_DIR
  envValue: /var/run/secrets/tekton-dag/teams
  optional: true
{{- else }}
- volume: webhook-secret
  secret: {{ .Values.secrets.webhook.name }}
  key: {{ .Values.secrets.webhook.key }}
  dir: /var/run/secrets/tekton-dag/webhook
  file: secret
  env: GITHUB_WEBHOOK_SECRET_FILE
  envValue: /var/run/secrets/tekton-dag/webhook/secret
  optional: true
{{- end }}
- volume: api-token
  secret: {{ .Values.secrets.api.name }}
  key: {{ .Values.secrets.api.key }}
  dir: /var/run/secrets/tekton-dag/api
  file: token
  env: TEKTON_DAG_API_TOKEN_FILE
  envValue: /var/run/secrets/tekton-dag/api/token
  optional: true
{{- end -}}

{{/*
tekton-dag.function.eventKeyMounts: the team's event key (tekton_dag.events.sealing), which seals and
checks the events that start or cancel runs, as TEKTON_DAG_EVENT_KEY_FILE. Every function gets it.
Optional: with no team configured nothing needs it; with a team and no key the functions are not
ready and say why.
*/}}
{{- define "tekton-dag.function.eventKeyMounts" -}}
- volume: event-key
  secret: {{ .Values.secrets.events.name }}
  key: {{ .Values.secrets.events.key }}
  dir: /var/run/secrets/tekton-dag/events
  file: key
  env: TEKTON_DAG_EVENT_KEY_FILE
  envValue: /var/run/secrets/tekton-dag/events/key
  optional: true
{{- end -}}

{{/*
tekton-dag.function.registrySecretMounts: bootstrap-batcher's registry credentials, if any:
the dockerconfigjson Secret as REGISTRY_AUTH_FILE (tekton_dag.oci.credentials reads it as is).
*/}}
{{- define "tekton-dag.function.registrySecretMounts" -}}
{{- with .Values.secrets.registry.name }}
- volume: registry-auth
  secret: {{ . }}
  key: .dockerconfigjson
  dir: /var/run/secrets/tekton-dag/registry
  file: config.json
  env: REGISTRY_AUTH_FILE
  envValue: /var/run/secrets/tekton-dag/registry/config.json
{{- end }}
{{- end -}}

{{/*
tekton-dag.function.githubSecretMounts: the GitHub credentials of status-reporter, the all-in-one and
the redeliver CronJob, all from the one `github` values entry: the App's private key
(GITHUB_APP_PRIVATE_KEY_FILE) when `github.appId` is set, and the plain token (GITHUB_TOKEN_FILE)
when `github.tokenSecret.name` is. Read by tekton_dag.github.settings. Optional: the pod starts
before the Secret exists and status-reporter is not ready, saying why, until it can read it.
*/}}
{{- define "tekton-dag.function.githubSecretMounts" -}}
{{- with .Values.github }}
{{- if .appId }}
{{- if not .appSecret.name }}
{{- fail "github.appId needs github.appSecret.name (the Secret with the App's private key)" }}
{{- end }}
- volume: github-app-key
  secret: {{ .appSecret.name }}
  key: {{ .appSecret.key }}
  dir: /var/run/secrets/tekton-dag/github-app
  file: private-key.pem
  env: GITHUB_APP_PRIVATE_KEY_FILE
  envValue: /var/run/secrets/tekton-dag/github-app/private-key.pem
  optional: true
{{- end }}
{{- if .tokenSecret.name }}
- volume: github-token
  secret: {{ .tokenSecret.name }}
  key: {{ .tokenSecret.key }}
  dir: /var/run/secrets/tekton-dag/github-token
  file: token
  env: GITHUB_TOKEN_FILE
  envValue: /var/run/secrets/tekton-dag/github-token/token
  optional: true
{{- end }}
{{- end }}
{{- end -}}

{{/*
tekton-dag.function.apiEnv: the REST API's plain settings as a YAML map of variables, for webhook-ingest
and the all-in-one: TEKTON_DAG_API_PUBLIC_READS=true when `api.publicReads` opens the reads (unset:
they need the token, tekton_dag.functions.webhook_ingest).
*/}}
{{- define "tekton-dag.function.apiEnv" -}}
{{- if .Values.api.publicReads }}
TEKTON_DAG_API_PUBLIC_READS: "true"
{{- end }}
{{- end -}}

{{/*
tekton-dag.function.registryEnv: the registries spoken to over plain HTTP as a YAML map of variables,
for the functions that reach a registry or build the runs that push to one (bootstrap-batcher,
run-creator, the all-in-one): TEKTON_DAG_INSECURE_REGISTRIES when `registries.insecure` names any
(tekton_dag.pipelines.INSECURE_REGISTRIES_ENV: one list for the registry client and the runs'
`insecure-registry` param).
*/}}
{{- define "tekton-dag.function.registryEnv" -}}
{{- with .Values.registries.insecure }}
TEKTON_DAG_INSECURE_REGISTRIES: {{ join "," . | quote }}
{{- end }}
{{- end -}}

{{/*
tekton-dag.function.githubEnv: the plain GitHub settings (not secret) as a YAML map of variables:
GITHUB_API_URL (`github.apiUrl`, empty: api.github.com), GITHUB_APP_ID (`github.appId`) and the
call deadline and pacing of tekton-dag.function.githubTiming, each when its value is set (empty: the
client's default, tekton_dag.github.settings). One entry for status-reporter, the all-in-one and the
redeliver CronJob: all three write for the same installations.
*/}}
{{- define "tekton-dag.function.githubEnv" -}}
{{- with .Values.github.apiUrl }}
GITHUB_API_URL: {{ . | quote }}
{{- end }}
{{- with .Values.github.appId }}
GITHUB_APP_ID: {{ . | toString | quote }}
{{- end }}
{{- range $name, $key := include "tekton-dag.function.githubTiming" . | fromYaml }}
{{- $value := index $.Values.github $key }}
{{- if and (not (kindIs "invalid" $value)) (ne (toString $value) "") }}{{/* 0 is a value: not `with` */}}
{{ $name }}: {{ $value | toString | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{/*
tekton-dag.function.githubTiming: variable -> key under `github` of the GitHub client's deadline and
pacing (tekton_dag.github.settings reads the variables). Set only there: a function's own `env` naming
one is refused (tekton-dag.function.service), or the redeliver CronJob would pace differently.
*/}}
{{- define "tekton-dag.function.githubTiming" -}}
GITHUB_API_DEADLINE_SECONDS: deadlineSeconds
GITHUB_WRITE_INTERVAL_SECONDS: writeIntervalSeconds
GITHUB_NOTIFICATION_INTERVAL_SECONDS: notificationIntervalSeconds
{{- end -}}

{{/*
tekton-dag.function.knativeLimits: fail when a function's values are beyond what the cluster's Knative
Serving admits, as knativeServing declares it (JSON schema cannot compare two values), naming both;
renders nothing. Each rule is the webhook's (knative/serving):
- min-scale <= max-scale unless max-scale is 0, which means unlimited
  (pkg/apis/autoscaling/annotation_validation.go validateMinMaxScale);
- with config-autoscaler max-scale-limit set, max-scale from 1 to it: 0 (unlimited) is refused then
  (same file, validateMaxScaleWithinLimit);
- timeoutSeconds <= config-defaults max-revision-timeout-seconds
  (pkg/apis/serving/v1/revision_validation.go validateTimeoutSeconds);
- containerConcurrency <= config-defaults container-concurrency-max-limit
  (pkg/apis/serving/metadata_validation.go ValidateContainerConcurrency).
Call with the dict of tekton-dag.function.service.
*/}}
{{- define "tekton-dag.function.knativeLimits" -}}
{{- $v := .values -}}
{{- $knative := .root.Values.knativeServing -}}
{{- $min := int64 $v.minScale -}}
{{- $max := int64 $v.maxScale -}}
{{- $limit := int64 $knative.maxScaleLimit -}}
{{- if and (gt $max 0) (gt $min $max) -}}
{{- fail (printf "%s: minScale (%d) is above maxScale (%d)" .at $min $max) -}}
{{- end -}}
{{- if and (gt $limit 0) (eq $max 0) -}}
{{- fail (printf "%s.maxScale is 0 (unlimited) but knativeServing.maxScaleLimit is %d (the cluster's config-autoscaler max-scale-limit), and Knative then refuses an unlimited max-scale: set a maxScale from 1 to %d" .at $limit $limit) -}}
{{- end -}}
{{- if and (gt $limit 0) (gt $max $limit) -}}
{{- fail (printf "%s.maxScale (%d) is above knativeServing.maxScaleLimit (%d), the cluster's config-autoscaler max-scale-limit: Knative Serving would refuse the Service" .at $max $limit) -}}
{{- end -}}
{{- $checks := list
      (list "timeoutSeconds" $v.timeoutSeconds "maxRevisionTimeoutSeconds" "config-defaults max-revision-timeout-seconds")
      (list "containerConcurrency" ($v.containerConcurrency | default 0) "containerConcurrencyMaxLimit" "config-defaults container-concurrency-max-limit") -}}
{{- range $checks -}}
{{- $value := int64 (index . 1) -}}
{{- $limitName := index . 2 -}}
{{- $most := int64 (get $knative $limitName) -}}
{{- if gt $value $most -}}
{{- fail (printf "%s.%s (%d) is above knativeServing.%s (%d), the cluster's %s: Knative Serving would refuse the Service (raise knativeServing.%s only if the cluster allows more)" $.at (index . 0) $value $limitName $most (index . 3) $limitName) -}}
{{- end -}}
{{- end -}}
{{- end -}}
