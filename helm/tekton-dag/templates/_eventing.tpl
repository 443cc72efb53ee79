{{/* tekton-dag.eventing.deadLetterSink: the Destination dead letters go to. */}}
{{- define "tekton-dag.eventing.deadLetterSink" -}}
{{- if .Values.eventing.deadLetter.enabled -}}
ref:
  apiVersion: serving.knative.dev/v1
  kind: Service
  name: dead-letters
{{- else -}}
{{- toYaml .Values.eventing.deadLetter.sink -}}
{{- end -}}
{{- end -}}

{{/* tekton-dag.eventing.delivery: the DeliverySpec of the Broker. */}}
{{- define "tekton-dag.eventing.delivery" -}}
retry: {{ .Values.eventing.delivery.retry }}
backoffPolicy: {{ .Values.eventing.delivery.backoffPolicy }}
backoffDelay: {{ .Values.eventing.delivery.backoffDelay }}
{{- with .Values.eventing.delivery.timeout }}
timeout: {{ . }}
{{- end }}
{{- with include "tekton-dag.eventing.deadLetterSink" . }}
deadLetterSink:
  {{- . | nindent 2 }}
{{- end }}
{{- end -}}
