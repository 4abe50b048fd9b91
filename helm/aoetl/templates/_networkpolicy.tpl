{{/*
NetworkPolicy building blocks.

An endpoint spec is {podSelector, namespaceSelector, cidrs}: a non-empty podSelector and/or
namespaceSelector give one pod peer (namespaceSelector empty = the release namespace); each CIDR
gives an ipBlock peer. An endpoint with no peer renders NOTHING: a rule without peers would mean
"everyone", so a flow that is not configured stays denied.
*/}}
{{- define "aoetl.netpol.peers" -}}
{{- $peers := list -}}
{{- if or .podSelector .namespaceSelector -}}
{{- $p := dict -}}
{{- if .podSelector -}}{{- $_ := set $p "podSelector" .podSelector -}}{{- end -}}
{{- if .namespaceSelector -}}{{- $_ := set $p "namespaceSelector" .namespaceSelector -}}{{- end -}}
{{- $peers = append $peers $p -}}
{{- end -}}
{{- range (default list .cidrs) -}}
{{- $peers = append $peers (dict "ipBlock" (dict "cidr" .)) -}}
{{- end -}}
{{- if $peers -}}{{- toYaml $peers -}}{{- end -}}
{{- end -}}

{{/* TCP ports list from a list of numbers. */}}
{{- define "aoetl.netpol.tcpPorts" -}}
{{- $ports := list -}}
{{- range . -}}{{- $ports = append $ports (dict "protocol" "TCP" "port" (int .)) -}}{{- end -}}
{{- toYaml $ports -}}
{{- end -}}

{{/*
podSelector for the pods of some components of this release, never a quarantined pod.
Argument: dict root, names (component names; empty list = every pod of the release).
*/}}
{{- define "aoetl.netpol.podSelector" -}}
matchLabels:
  {{- include "aoetl.releaseSelectorLabels" .root | nindent 2 }}
matchExpressions:
  {{- if .names }}
  - key: app.kubernetes.io/component
    operator: In
    values:
      {{- toYaml .names | nindent 6 }}
  {{- end }}
  - key: {{ .root.Values.networkPolicy.quarantine.label }}
    operator: NotIn
    values:
      - "true"
{{- end -}}

{{/* Metadata of a release NetworkPolicy. Argument: dict root, name (suffix), component (optional). */}}
{{- define "aoetl.netpol.metadata" -}}
metadata:
  name: {{ printf "%s-%s" (include "aoetl.fullname" .root) .name | trunc 63 | trimSuffix "-" }}
  namespace: {{ default (include "aoetl.namespace" .root) .namespace }}
  labels:
    {{- if .component }}
    {{- include "aoetl.componentLabels" (dict "root" .root "name" .component) | nindent 4 }}
    {{- else }}
    {{- include "aoetl.labels" .root | nindent 4 }}
    {{- end }}
  {{- $ann := merge (dict) (default dict .annotations) (default dict .root.Values.commonAnnotations) }}
  {{- with $ann }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}

{{/*
An egress-only policy from some components to one endpoint, or nothing when the endpoint has no
peer. Argument: dict root, name, names (components), endpoint, ports (numbers).
*/}}
{{- define "aoetl.netpol.egressTo" -}}
{{- $peers := include "aoetl.netpol.peers" .endpoint -}}
{{- if $peers }}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
{{ include "aoetl.netpol.metadata" (dict "root" .root "name" .name "component" (ternary (first .names) "" (eq (len .names) 1))) }}
spec:
  podSelector:
    {{- include "aoetl.netpol.podSelector" (dict "root" .root "names" .names) | nindent 4 }}
  policyTypes:
    - Egress
  egress:
    - to:
        {{- $peers | nindent 8 }}
      ports:
        {{- include "aoetl.netpol.tcpPorts" .ports | nindent 8 }}
{{- end }}
{{- end -}}
