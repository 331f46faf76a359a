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
The Secret holding the API token and the SMTP and store passwords when the chart creates it.
*/}}
{{- define "firedrill.secretName" -}}
{{- include "firedrill.fullname" . }}
{{- end }}

{{/*
Whether the chart creates its Secret: for the API token unless an existing Secret is
given, and for the SMTP and store passwords when they are set in values.
*/}}
{{- define "firedrill.createSecret" -}}
{{- if or (not .Values.api.existingSecret) (and .Values.smtp.password (not .Values.smtp.existingSecret)) (include "firedrill.storePasswordInChartSecret" .) }}true{{ end }}
{{- end }}

{{/*
Whether the store's password goes in the chart's Secret (`store.postgres.password`, no
`existingSecret`).
*/}}
{{- define "firedrill.storePasswordInChartSecret" -}}
{{- if and (include "firedrill.postgres" .) .Values.store.postgres.password (not .Values.store.postgres.existingSecret) }}true{{ end }}
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
Whether the store is the PostgreSQL database of `store.postgres` ("true") or the SQLite
file under `config.storage.path` (""). SQLite is one writer on a local disk: several
replicas sharing it would need a network file system, which SQLite's locking does not
survive, so more than one replica requires the database. Refuses what cannot work or would
be silently ignored: several replicas without a database, a password in the URL, a
password without a URL, and `config.storage.postgres` written by hand (the chart renders
it from `store.postgres`).
*/}}
{{- define "firedrill.postgres" -}}
{{- $pg := .Values.store.postgres }}
{{- $replicas := int .Values.replicaCount }}
{{- if dig "storage" "postgres" "" (default (dict) .Values.config) }}
{{- fail "config.storage.postgres is set: the chart renders it from store.postgres (url, and the password from store.postgres.existingSecret or store.postgres.password), so set those instead" }}
{{- end }}
{{- if $pg.url }}
{{- if not (regexMatch "^postgres(ql)?://" $pg.url) }}
{{- fail (printf "store.postgres.url is %q: it must be a postgres:// URL, e.g. postgres://firedrill@db.example:5432/firedrill?sslmode=require" $pg.url) }}
{{- end }}
{{- $authority := regexReplaceAll "^postgres(ql)?://([^/?]*).*$" $pg.url "${2}" }}
{{- if and (contains "@" $authority) (contains ":" (regexReplaceAll "@[^@]*$" $authority "")) }}
{{- fail "store.postgres.url holds a password: remove it from the URL and give it in store.postgres.existingSecret (or store.postgres.password)" }}
{{- end }}
{{- true }}
{{- else if or $pg.password $pg.existingSecret }}
{{- fail "store.postgres.password or store.postgres.existingSecret is set without store.postgres.url: set the database's URL too, or remove them to keep the store in SQLite" }}
{{- else if gt $replicas 1 }}
{{- fail (printf "replicaCount is %d, but several replicas need a shared PostgreSQL store: set store.postgres.url and store.postgres.existingSecret (the password), or set replicaCount: 1 to keep the store in SQLite on a ReadWriteOnce claim" $replicas) }}
{{- end }}
{{- end }}

{{/*
Whether FIREDRILL_STORE_PASSWORD is set at all: a database whose password comes from a
Secret.
*/}}
{{- define "firedrill.storePasswordSet" -}}
{{- if and (include "firedrill.postgres" .) (or .Values.store.postgres.existingSecret .Values.store.postgres.password) }}true{{ end }}
{{- end }}
