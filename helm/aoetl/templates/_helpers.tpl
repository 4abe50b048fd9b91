{{/*
Names, labels and small shared pieces. Every component-scoped helper takes a context dict
  (dict "root" $ "key" "gateway" "name" "agent-gateway")
where key is the values key of the component and name its component name.
*/}}

{{- define "aoetl.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "aoetl.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "aoetl.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "aoetl.namespace" -}}
{{- default .Release.Namespace .Values.namespaceOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The values keys of the four services, in a fixed order, and their component names. */}}
{{- define "aoetl.componentKeys" -}}gateway orchestrator etlAgent monitor{{- end -}}

{{- define "aoetl.componentName" -}}
{{- $names := dict "gateway" "agent-gateway" "orchestrator" "orchestrator" "etlAgent" "etl-agent" "monitor" "monitor" -}}
{{- required (printf "unknown component key %s" .) (get $names .) -}}
{{- end -}}

{{/* Selector labels of the release (all its pods). */}}
{{- define "aoetl.releaseSelectorLabels" -}}
app.kubernetes.io/name: {{ include "aoetl.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "aoetl.labels" -}}
helm.sh/chart: {{ include "aoetl.chart" . }}
{{ include "aoetl.releaseSelectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: aoetl
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Component labels; argument: dict root, name. */}}
{{- define "aoetl.componentLabels" -}}
{{ include "aoetl.labels" .root }}
app.kubernetes.io/component: {{ .name }}
{{- end -}}

{{- define "aoetl.componentSelectorLabels" -}}
{{ include "aoetl.releaseSelectorLabels" .root }}
app.kubernetes.io/component: {{ .name }}
{{- end -}}

{{- define "aoetl.componentFullname" -}}
{{- printf "%s-%s" (include "aoetl.fullname" .root) .name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "aoetl.annotations" -}}
{{- with .Values.commonAnnotations }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* ServiceAccount name of a component. */}}
{{- define "aoetl.serviceAccountName" -}}
{{- $c := index .root.Values .key -}}
{{- if $c.serviceAccount.create -}}
{{- default (include "aoetl.componentFullname" .) $c.serviceAccount.name -}}
{{- else -}}
{{- default "default" $c.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/*
Whether a component's pods mount a token for the Kubernetes API: only the etl-agent with the
kubernetes sandbox driver uses the API.
*/}}
{{- define "aoetl.usesKubernetesApi" -}}
{{- if and (eq .key "etlAgent") (eq .root.Values.sandbox.driver "kubernetes") -}}true
{{- end -}}
{{- end -}}

{{/* Whether a component talks to Vault: only the etl-agent (dynamic database credentials). */}}
{{- define "aoetl.usesVault" -}}
{{- if eq .key "etlAgent" -}}true{{- end -}}
{{- end -}}

{{/* Whether a component talks to PostgreSQL (the control database). */}}
{{- define "aoetl.usesDatabase" -}}
{{- if or (has .key (list "gateway" "orchestrator")) (include "aoetl.hasDashboard" .) -}}true{{- end -}}
{{- end -}}

{{/* Whether the component is the monitor with its dashboard for people (OIDC login, control database read-only). */}}
{{- define "aoetl.hasDashboard" -}}
{{- if and (eq .key "monitor") .root.Values.monitor.dashboard.enabled -}}true{{- end -}}
{{- end -}}

{{/* Whether the component talks to the OIDC issuer (the gateway verifies tokens; the dashboard logs people in). */}}
{{- define "aoetl.usesOidc" -}}
{{- if or (eq .key "gateway") (include "aoetl.hasDashboard" .) -}}true{{- end -}}
{{- end -}}

{{/* Whether a component consumes a stream (so needs a unique consumer name). */}}
{{- define "aoetl.isConsumer" -}}
{{- if has .key (list "orchestrator" "etlAgent" "monitor") -}}true{{- end -}}
{{- end -}}

{{/* Image reference: argument dict root, image (registry/repository/tag/digest). */}}
{{- define "aoetl.image" -}}
{{- $registry := default .root.Values.global.imageRegistry .image.registry -}}
{{- $tag := default .root.Chart.AppVersion .image.tag -}}
{{- $ref := .image.repository -}}
{{- if $registry -}}{{- $ref = printf "%s/%s" $registry $ref -}}{{- end -}}
{{- if .image.digest -}}
{{- printf "%s@%s" $ref .image.digest -}}
{{- else -}}
{{- printf "%s:%s" $ref (toString $tag) -}}
{{- end -}}
{{- end -}}

{{- define "aoetl.imagePullSecrets" -}}
{{- $secrets := concat (default list .Values.global.imagePullSecrets) (default list .Values.image.pullSecrets) | uniq -}}
{{- if $secrets -}}
imagePullSecrets:
{{- range $secrets }}
  - name: {{ . }}
{{- end }}
{{- end -}}
{{- end -}}

{{/* Resources: explicit .resources wins, else the preset. Argument: dict preset, resources. */}}
{{- define "aoetl.resources" -}}
{{- if .resources -}}
{{ toYaml .resources }}
{{- else -}}
{{- $presets := dict
  "nano"   (dict "requests" (dict "cpu" "50m"  "memory" "64Mi"   "ephemeral-storage" "50Mi") "limits" (dict "cpu" "150m" "memory" "128Mi"  "ephemeral-storage" "256Mi"))
  "micro"  (dict "requests" (dict "cpu" "100m" "memory" "128Mi"  "ephemeral-storage" "50Mi") "limits" (dict "cpu" "250m" "memory" "256Mi"  "ephemeral-storage" "512Mi"))
  "small"  (dict "requests" (dict "cpu" "250m" "memory" "256Mi"  "ephemeral-storage" "50Mi") "limits" (dict "cpu" "500m" "memory" "512Mi"  "ephemeral-storage" "1Gi"))
  "medium" (dict "requests" (dict "cpu" "500m" "memory" "512Mi"  "ephemeral-storage" "50Mi") "limits" (dict "cpu" "1"    "memory" "1Gi"    "ephemeral-storage" "2Gi"))
  "large"  (dict "requests" (dict "cpu" "1"    "memory" "1Gi"    "ephemeral-storage" "50Mi") "limits" (dict "cpu" "2"    "memory" "2Gi"    "ephemeral-storage" "4Gi"))
-}}
{{- toYaml (required (printf "unknown resourcesPreset %q (nano, micro, small, medium, large)" .preset) (get $presets .preset)) -}}
{{- end -}}
{{- end -}}

{{/* Pod and container security contexts (restricted profile). Argument: root. */}}
{{- define "aoetl.podSecurityContext" -}}
{{ toYaml .Values.podSecurityContext }}
{{- end -}}
{{- define "aoetl.containerSecurityContext" -}}
{{ toYaml .Values.containerSecurityContext }}
{{- end -}}

{{/* Name of the Secret holding a component's mTLS client certificate (tls.crt, tls.key, ca.crt). */}}
{{- define "aoetl.tlsSecretName" -}}
{{- $c := index .root.Values .key -}}
{{- default (printf "%s-tls" (include "aoetl.componentFullname" .)) $c.tls.existingSecret -}}
{{- end -}}

{{/* Redis URL. */}}
{{- define "aoetl.redisUrl" -}}
{{- printf "rediss://%s:%v" (required "redis.host is required" .Values.redis.host) .Values.redis.port -}}
{{- end -}}

{{/*
PostgreSQL URL for a component (no password: it comes from AOETL_DATABASE_PASSWORD_FILE).
Argument: component context.
*/}}
{{- define "aoetl.databaseUrl" -}}
{{- $db := .root.Values.database -}}
{{- $c := index .root.Values .key -}}
{{- $ca := ternary "/etc/aoetl/ca/database/ca.crt" "/etc/aoetl/tls/ca.crt" (not (empty $db.ca.secretName)) -}}
{{- printf "postgres://%s@%s:%v/%s?sslmode=%s&sslrootcert=%s" $c.database.username (required "database.host is required" $db.host) $db.port $db.name $db.sslMode $ca -}}
{{- end -}}

{{/* Checksum of the component's ConfigMap, so a config change rolls the pods. */}}
{{- define "aoetl.configChecksum" -}}
{{- include "aoetl.configData" . | sha256sum -}}
{{- end -}}
