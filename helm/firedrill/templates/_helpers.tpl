{{/*
Expand the name of the chart.
*/}}
{{- define "firedrill.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Create a default fully qualified app name, truncated at 63 characters because some
Kubernetes name fields are limited to this (by the DNS naming spec). If the release name
contains the chart name it is used as the full name.
*/}}
{{- define "firedrill.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Create chart name and version as used by the chart label.
*/}}
{{- define "firedrill.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Common labels
*/}}
{{- define "firedrill.labels" -}}
helm.sh/chart: {{ include "firedrill.chart" . }}
{{ include "firedrill.selectorLabels" . }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: firedrill
{{- end }}

{{/*
Selector labels
*/}}
{{- define "firedrill.selectorLabels" -}}
app.kubernetes.io/name: {{ include "firedrill.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Create the name of the service account to use
*/}}
{{- define "firedrill.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "firedrill.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The image reference: the tag defaults to the chart's appVersion.
*/}}
{{- define "firedrill.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/*
The Secret holding the API token and the SMTP password when the chart creates it.
*/}}
{{- define "firedrill.secretName" -}}
{{- include "firedrill.fullname" . }}
{{- end }}

{{/*
Whether the chart creates its Secret: for the API token unless an existing Secret is
given, and for the SMTP password when one is set in values.
*/}}
{{- define "firedrill.createSecret" -}}
{{- if or (not .Values.api.existingSecret) (and .Values.smtp.password (not .Values.smtp.existingSecret)) }}true{{ end }}
{{- end }}

{{/*
Whether FIREDRILL_SMTP_PASSWORD is set at all.
*/}}
{{- define "firedrill.smtpPasswordSet" -}}
{{- if or .Values.smtp.existingSecret .Values.smtp.password }}true{{ end }}
{{- end }}

{{/*
The rules of the namespaced grants drills need in a target namespace (also used by the
ClusterRole when `rbac.namespaces` holds "*"). Exactly what the scenarios do: kill pods,
evict them (drain), restart and scale workloads (rollout restart is a patch), and run
commands in pods only when an exec scenario is enabled.
*/}}
{{- define "firedrill.workloadRules" -}}
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get", "list", "watch", "delete"]
- apiGroups: [""]
  resources: ["pods/eviction"]
  verbs: ["create"]
{{- if .Values.scenarios.exec }}
# A WebSocket exec is a GET: Kubernetes before 1.35 authorizes it as `get`, later
# versions (and POST/SPDY clients) as `create`.
- apiGroups: [""]
  resources: ["pods/exec"]
  verbs: ["get", "create"]
{{- end }}
- apiGroups: ["apps"]
  resources: ["deployments", "statefulsets"]
  verbs: ["get", "patch"]
# Availability probes `service_proxy` go through the API server's service proxy.
- apiGroups: [""]
  resources: ["services/proxy"]
  verbs: ["get"]
{{- end }}

{{/*
Whether every replica must run on one node: several replicas share the run store (a
standby takes over an interrupted run from the leader's journal), and the claim's access
modes let only one node mount it. ReadWriteOncePod with several replicas cannot work at
all and is refused.
*/}}
{{- define "firedrill.coLocated" -}}
{{- if and .Values.persistence.enabled (gt (int .Values.replicaCount) 1) (not (has "ReadWriteMany" .Values.persistence.accessModes)) }}
{{- if has "ReadWriteOncePod" .Values.persistence.accessModes }}
{{- fail (printf "persistence.accessModes is ReadWriteOncePod with replicaCount %d: only one pod can mount the run store, so a standby could never start; use ReadWriteMany, or replicaCount: 1" (int .Values.replicaCount)) }}
{{- end }}
{{- true }}
{{- end }}
{{- end }}

{{/*
The pods' affinity: `affinity` from the values, plus, when the replicas must share a node
("firedrill.coLocated"), a required podAffinity to the release's own pods on that node.
The first pod schedules anywhere (no pod matches yet); the others follow it.
*/}}
{{- define "firedrill.affinity" -}}
{{- $affinity := deepCopy (default (dict) .Values.affinity) }}
{{- if include "firedrill.coLocated" . }}
{{- $podAffinity := default (dict) (get $affinity "podAffinity") }}
{{- $required := default (list) (get $podAffinity "requiredDuringSchedulingIgnoredDuringExecution") }}
{{- $term := dict "labelSelector" (dict "matchLabels" (include "firedrill.selectorLabels" . | fromYaml)) "topologyKey" "kubernetes.io/hostname" }}
{{- $_ := set $podAffinity "requiredDuringSchedulingIgnoredDuringExecution" (append $required $term) }}
{{- $_ := set $affinity "podAffinity" $podAffinity }}
{{- end }}
{{- if $affinity }}
{{- toYaml $affinity }}
{{- end }}
{{- end }}
