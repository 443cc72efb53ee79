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

{{/*
tekton-dag.eventing.brokerIngress: the address events for this namespace's Broker are POSTed to
(the Broker's status.address), eventing.broker.address when set. MTChannelBasedBroker:
http://broker-ingress.knative-eventing.svc.cluster.local/<namespace>/<broker> (Knative docs,
eventing getting started); the Kafka Broker has its own ingress Service, kafka-broker-ingress.
*/}}
{{- define "tekton-dag.eventing.brokerIngress" -}}
{{- $host := ternary "kafka-broker-ingress" "broker-ingress" (eq .Values.eventing.broker.class "Kafka") -}}
{{- default (printf "http://%s.knative-eventing.svc.cluster.local/%s/tekton-dag" $host .Release.Namespace) .Values.eventing.broker.address -}}
{{- end -}}
