{{/*
tekton-dag.test.metadata: name, namespace, labels and the `helm test` hook annotations of one test
object. Helm creates test hooks only on `helm test`, by weight; before-hook-creation removes the
previous run's objects first. ArgoCD never syncs them: gitops-engine maps only the helm hooks
pre-/post-install and pre-/post-upgrade to sync phases (pkg/sync/hook/helm/type.go), and a hook
with no phase is not applied (pkg/sync/sync_phase.go).
Call with (dict "root" $ "name" "tekton-dag-test-ping" "weight" "0").
*/}}
{{- define "tekton-dag.test.metadata" -}}
name: {{ .name }}
namespace: {{ .root.Release.Namespace }}
labels:
  {{- include "tekton-dag.component.labels" (dict "root" .root "component" .name) | nindent 2 }}
annotations:
  helm.sh/hook: test
  helm.sh/hook-weight: {{ .weight | quote }}
  helm.sh/hook-delete-policy: before-hook-creation
{{- end -}}

{{/*
tekton-dag.test.pod: a Pod running files/helm-test/check.py <check> with env (a list of EnvVars).
Call with (dict "root" $ "name" ... "check" "ping" "env" (list ...) "volumes" (list ...)).
*/}}
{{- define "tekton-dag.test.pod" -}}
{{- $root := .root -}}
apiVersion: v1
kind: Pod
metadata:
  {{- include "tekton-dag.test.metadata" (dict "root" $root "name" .name "weight" "0") | nindent 2 }}
spec:
  restartPolicy: Never
  automountServiceAccountToken: false
  {{- with $root.Values.image.pullSecrets }}
  imagePullSecrets:
    {{- range . }}
    - name: {{ . }}
    {{- end }}
  {{- end }}
  containers:
    - name: check
      image: {{ default (include "tekton-dag.image" (dict "root" $root "repository" (ternary $root.Values.functions.webhookIngest.repository $root.Values.allInOne.repository (eq $root.Values.mode "distributed")))) $root.Values.tests.image }}
      imagePullPolicy: {{ $root.Values.image.pullPolicy }}
      command: [python3, /etc/tekton-dag-test/check.py, {{ .check }}]
      env:
        - name: TIMEOUT_S
          value: {{ $root.Values.tests.timeoutSeconds | quote }}
        {{- with .env }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      volumeMounts:
        - name: check
          mountPath: /etc/tekton-dag-test
          readOnly: true
        {{- range .volumes }}
        - name: {{ .name }}
          mountPath: {{ .mountPath }}
          readOnly: true
        {{- end }}
      resources:
        requests: {cpu: 10m, memory: 32Mi}
        limits: {memory: 64Mi}
      securityContext:
        {{- toYaml $root.Values.securityContext | nindent 8 }}
  volumes:
    - name: check
      configMap:
        name: tekton-dag-test-check
    {{- range .volumes }}
    - name: {{ .name }}
      {{- toYaml .source | nindent 6 }}
    {{- end }}
{{- end -}}
