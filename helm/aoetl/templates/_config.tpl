{{/*
The AOETL_* variables of one component (argument: component context). Secrets are never here:
they are files under /etc/aoetl/secrets, named by the *_FILE variables (packages/config reads
KEY_FILE for a secret KEY). Every variable here must be declared by the service's config schema
(services/<name>/src/config.ts): helm/test/run.sh checks that contract for every ci scenario.
*/}}
{{- define "aoetl.configData" -}}
{{- $root := .root -}}
{{- $v := $root.Values -}}
{{- $c := index $v .key -}}
{{- $data := dict
  "AOETL_LOG_LEVEL" $v.config.logLevel
  "AOETL_HTTP_HOST" "0.0.0.0"
  "AOETL_METRICS_PORT" (toString $c.containerPorts.metrics)
  "AOETL_REDIS_URL" (include "aoetl.redisUrl" $root)
  "AOETL_REDIS_USERNAME" $c.redis.username
  "AOETL_REDIS_PASSWORD_FILE" "/etc/aoetl/secrets/redis-password"
  "AOETL_TLS_CA_FILE" "/etc/aoetl/tls/ca.crt"
  "AOETL_TLS_CERT_FILE" "/etc/aoetl/tls/tls.crt"
  "AOETL_TLS_KEY_FILE" "/etc/aoetl/tls/tls.key"
-}}
{{- if $v.tracing.otlp.endpoint -}}
{{- $_ := set $data "OTEL_EXPORTER_OTLP_ENDPOINT" $v.tracing.otlp.endpoint -}}
{{- $_ := set $data "OTEL_EXPORTER_OTLP_PROTOCOL" $v.tracing.otlp.protocol -}}
{{- $_ := set $data "OTEL_SERVICE_NAME" (printf "aoetl-%s" .name) -}}
{{- end -}}
{{- if $c.containerPorts.http -}}
{{- $_ := set $data "AOETL_HTTP_PORT" (toString $c.containerPorts.http) -}}
{{- end -}}
{{- if include "aoetl.usesDatabase" . -}}
{{- $_ := set $data "AOETL_DATABASE_URL" (include "aoetl.databaseUrl" .) -}}
{{- $_ := set $data "AOETL_DATABASE_PASSWORD_FILE" "/etc/aoetl/secrets/database-password" -}}
{{- end -}}
{{- if include "aoetl.usesOidc" . -}}
{{- $_ := set $data "AOETL_OIDC_ISSUER" $v.oidc.issuer -}}
{{- $_ := set $data "AOETL_OIDC_AUDIENCE" $v.oidc.audience -}}
{{- if $v.oidc.ca.secretName -}}
{{- $_ := set $data "AOETL_OIDC_CA_FILE" "/etc/aoetl/ca/oidc/ca.crt" -}}
{{- end -}}
{{- end -}}
{{- if include "aoetl.hasDashboard" . -}}
{{- $d := $v.monitor.dashboard -}}
{{- $_ := set $data "AOETL_DASHBOARD_URL" (required "monitor.dashboard.url is required when monitor.dashboard.enabled" $d.url) -}}
{{- $_ := set $data "AOETL_DASHBOARD_CLIENT_ID" $d.clientId -}}
{{- if $d.resource -}}
{{- $_ := set $data "AOETL_DASHBOARD_RESOURCE" $d.resource -}}
{{- end -}}
{{- $_ := set $data "AOETL_SESSION_TTL_SECONDS" (toString $d.sessionTtlSeconds) -}}
{{- $_ := set $data "AOETL_SESSION_SECRET_FILE" "/etc/aoetl/secrets/session-secret" -}}
{{- end -}}
{{- if include "aoetl.usesVault" . -}}
{{- $_ := set $data "AOETL_VAULT_ADDR" $v.vault.address -}}
{{- $_ := set $data "AOETL_VAULT_CACERT" (ternary "/etc/aoetl/ca/vault/ca.crt" "/etc/aoetl/tls/ca.crt" (not (empty $v.vault.ca.secretName))) -}}
{{- $_ := set $data "AOETL_VAULT_AUTH" $v.vault.auth.method -}}
{{- if eq $v.vault.auth.method "kubernetes" -}}
{{- $_ := set $data "AOETL_VAULT_K8S_ROLE" (index $v.vault.auth.kubernetes.roles .key) -}}
{{- $_ := set $data "AOETL_VAULT_K8S_MOUNT" $v.vault.auth.kubernetes.mountPath -}}
{{- $_ := set $data "AOETL_VAULT_K8S_JWT_FILE" "/var/run/secrets/aoetl/vault/token" -}}
{{- else if eq $v.vault.auth.method "approle" -}}
{{- $_ := set $data "AOETL_VAULT_ROLE_ID" (index $v.vault.auth.approle.roleIds .key) -}}
{{- $_ := set $data "AOETL_VAULT_SECRET_ID_FILE" "/etc/aoetl/secrets/vault-secret-id" -}}
{{- else if eq $v.vault.auth.method "token" -}}
{{- $_ := set $data "AOETL_VAULT_TOKEN_FILE" "/etc/aoetl/secrets/vault-token" -}}
{{- end -}}
{{- end -}}
{{- if has .key (list "gateway" "etlAgent") -}}
{{- $_ := set $data "AOETL_TENANT_VAULT_ROLES" $v.tenancy.vaultRoles -}}
{{- $_ := set $data "AOETL_TENANT_DB_HOSTS" (include "aoetl.tenantDbHosts" $root) -}}
{{- end -}}
{{- if and (eq .key "etlAgent") $v.vault.tenantTokenRole -}}
{{- $_ := set $data "AOETL_VAULT_TENANT_TOKEN_ROLE" $v.vault.tenantTokenRole -}}
{{- end -}}
{{- if eq .key "etlAgent" -}}
{{- $_ := set $data "AOETL_DB_CA_FILE" (ternary "/etc/aoetl/ca/datasource/ca.crt" "/etc/aoetl/tls/ca.crt" (not (empty $c.dataSourceCa.secretName))) -}}
{{- $_ := set $data "AOETL_SANDBOX_DRIVER" $v.sandbox.driver -}}
{{- $_ := set $data "AOETL_SANDBOX_IMAGE" (include "aoetl.image" (dict "root" $root "image" $v.sandbox.image)) -}}
{{- if eq $v.sandbox.driver "kubernetes" -}}
{{- $_ := set $data "AOETL_SANDBOX_NAMESPACE" $v.sandbox.kubernetes.namespace -}}
{{- $_ := set $data "AOETL_SANDBOX_RUNTIME_CLASS" $v.sandbox.kubernetes.runtimeClassName -}}
{{- else -}}
{{- $_ := set $data "AOETL_SANDBOX_RUNTIME" $v.sandbox.docker.runtime -}}
{{- $_ := set $data "AOETL_DOCKER_HOST" $v.sandbox.docker.host -}}
{{- $_ := set $data "AOETL_DOCKER_CA_FILE" "/etc/aoetl/docker/ca.pem" -}}
{{- $_ := set $data "AOETL_DOCKER_CERT_FILE" "/etc/aoetl/docker/cert.pem" -}}
{{- $_ := set $data "AOETL_DOCKER_KEY_FILE" "/etc/aoetl/docker/key.pem" -}}
{{- end -}}
{{- end -}}
{{- range $k, $val := $c.config -}}
{{- $_ := set $data $k (toString $val) -}}
{{- end -}}
{{- toYaml $data -}}
{{- end -}}


{{/*
AOETL_TENANT_DB_HOSTS from tenancy.dbHosts (tenant=host|host;…, tenants in name order); `none` when no tenant is
listed: the allow-list is on and nobody may connect until the platform team lists its tenants.
*/}}
{{- define "aoetl.tenantDbHosts" -}}
{{- $entries := list -}}
{{- range $tenant, $hosts := .Values.tenancy.dbHosts -}}
{{- $entries = append $entries (printf "%s=%s" $tenant (join "|" $hosts)) -}}
{{- end -}}
{{- if $entries -}}{{ join ";" $entries }}{{- else -}}none{{- end -}}
{{- end -}}
