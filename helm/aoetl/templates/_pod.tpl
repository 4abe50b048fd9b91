{{/*
Whether a component's replica count is managed by an autoscaler (then the Deployment leaves
.spec.replicas alone). Argument: component context.
*/}}
{{- define "aoetl.autoscaled" -}}
{{- $c := index .root.Values .key -}}
{{- if hasKey $c "autoscaling" -}}
{{- if or $c.autoscaling.hpa.enabled (and (hasKey $c.autoscaling "keda") $c.autoscaling.keda.enabled) -}}true{{- end -}}
{{- end -}}
{{- end -}}

{{/* Port of the probes: every service serves /livez and /readyz on its ops (metrics) port. */}}
{{- define "aoetl.probePort" -}}metrics{{- end -}}

{{/* Affinity: explicit wins, else the anti-affinity preset. */}}
{{- define "aoetl.affinity" -}}
{{- $c := index .root.Values .key -}}
{{- if $c.affinity -}}
{{ toYaml $c.affinity }}
{{- else if eq $c.podAntiAffinityPreset "soft" -}}
podAntiAffinity:
  preferredDuringSchedulingIgnoredDuringExecution:
    - weight: 100
      podAffinityTerm:
        topologyKey: kubernetes.io/hostname
        labelSelector:
          matchLabels:
            {{- include "aoetl.componentSelectorLabels" . | nindent 12 }}
{{- else if eq $c.podAntiAffinityPreset "hard" -}}
podAntiAffinity:
  requiredDuringSchedulingIgnoredDuringExecution:
    - topologyKey: kubernetes.io/hostname
      labelSelector:
        matchLabels:
          {{- include "aoetl.componentSelectorLabels" . | nindent 10 }}
{{- end -}}
{{- end -}}

{{/* The files of the component's existing Secret it needs (projected volume sources). */}}
{{- define "aoetl.secretItems" -}}
{{- $v := .root.Values -}}
{{- $items := list (dict "key" $v.secretKeys.redisPassword "path" "redis-password") -}}
{{- if include "aoetl.usesDatabase" . -}}
{{- $items = append $items (dict "key" $v.secretKeys.databasePassword "path" "database-password") -}}
{{- end -}}
{{- if include "aoetl.hasDashboard" . -}}
{{- $items = append $items (dict "key" $v.secretKeys.sessionSecret "path" "session-secret") -}}
{{- end -}}
{{- if include "aoetl.usesVault" . -}}
{{- if eq $v.vault.auth.method "approle" -}}
{{- $items = append $items (dict "key" $v.secretKeys.vaultSecretId "path" "vault-secret-id") -}}
{{- else if eq $v.vault.auth.method "token" -}}
{{- $items = append $items (dict "key" $v.secretKeys.vaultToken "path" "vault-token") -}}
{{- end -}}
{{- end -}}
{{- toYaml $items -}}
{{- end -}}

{{/* CA files of the dependencies that have their own CA Secret: list of {name, secretName, key}. */}}
{{- define "aoetl.caSources" -}}
{{- $v := .root.Values -}}
{{- $cas := list -}}
{{- if and (include "aoetl.usesDatabase" .) $v.database.ca.secretName -}}
{{- $cas = append $cas (dict "name" "database" "secretName" $v.database.ca.secretName "key" $v.database.ca.key) -}}
{{- end -}}
{{- if and (include "aoetl.usesOidc" .) $v.oidc.ca.secretName -}}
{{- $cas = append $cas (dict "name" "oidc" "secretName" $v.oidc.ca.secretName "key" $v.oidc.ca.key) -}}
{{- end -}}
{{- if and (include "aoetl.usesVault" .) $v.vault.ca.secretName -}}
{{- $cas = append $cas (dict "name" "vault" "secretName" $v.vault.ca.secretName "key" $v.vault.ca.key) -}}
{{- end -}}
{{- if and (eq .key "etlAgent") $v.etlAgent.dataSourceCa.secretName -}}
{{- $cas = append $cas (dict "name" "datasource" "secretName" $v.etlAgent.dataSourceCa.secretName "key" $v.etlAgent.dataSourceCa.key) -}}
{{- end -}}
{{- toYaml $cas -}}
{{- end -}}

{{/* One probe. Argument: dict probe (values), path, port. */}}
{{- define "aoetl.probe" -}}
httpGet:
  path: {{ .path }}
  port: {{ .port }}
{{- with .probe.initialDelaySeconds }}
initialDelaySeconds: {{ . }}
{{- end }}
periodSeconds: {{ .probe.periodSeconds }}
timeoutSeconds: {{ default 3 .probe.timeoutSeconds }}
failureThreshold: {{ .probe.failureThreshold }}
successThreshold: 1
{{- end -}}
