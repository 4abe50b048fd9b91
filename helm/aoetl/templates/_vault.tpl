{{/* Vault policy of the etl-agent: dynamic credentials, and renew/revoke of its own leases. */}}
{{- define "aoetl.vault.policy.etlAgent" -}}
# aoetl etl-agent: short-lived database credentials; leases renewed and revoked by the agent.
{{- if .Values.vault.tenantTokenRole }}
# Credentials only through a child token per tenant (policy aoetl-tenant-<tenant>): no database role here.
path "auth/token/create/{{ .Values.vault.tenantTokenRole }}" {
  capabilities = ["update"]
}
{{- else }}
path "{{ .Values.vault.paths.sourceCredentials }}" {
  capabilities = ["read"]
}
path "{{ .Values.vault.paths.warehouseCredentials }}" {
  capabilities = ["read"]
}
{{- end }}
path "sys/leases/renew" {
  capabilities = ["update"]
}
path "sys/leases/revoke" {
  capabilities = ["update"]
}
{{- end -}}

{{/* The Vault policy of one tenant (argument: dict root, tenant): exactly the paths tenancy.vaultRoles names for it. */}}
{{- define "aoetl.vault.policy.tenant" -}}
# aoetl tenant {{ .tenant }}: the database roles its connections may use, nothing else.
{{- range (splitList "," .root.Values.tenancy.vaultRoles) }}
path "{{ replace "{tenant}" $.tenant (trim .) }}" {
  capabilities = ["read"]
}
{{- end }}
{{- end -}}

{{/* Shell commands for a Vault admin: one role per service, bound as tightly as the auth method allows. */}}
{{- define "aoetl.vault.setup" -}}
#!/bin/sh
# Run once per cluster by a Vault admin (VAULT_ADDR/VAULT_TOKEN set). Re-running is harmless.
set -eu
{{- $ns := include "aoetl.namespace" . }}
{{- $v := .Values.vault }}
{{- if eq $v.auth.method "approle" }}
# AppRole: after this, put each role id in vault.auth.approle.roleIds.<service> and a secret id
# (vault write -f auth/approle/role/<role>/secret-id) in the service's Secret under vault-secret-id.
{{- else }}
# The Kubernetes auth method must be enabled at auth/{{ $v.auth.kubernetes.mountPath }}:
#   vault auth enable -path={{ $v.auth.kubernetes.mountPath }} kubernetes
#   vault write auth/{{ $v.auth.kubernetes.mountPath }}/config kubernetes_host=https://<api-server>
{{- end }}
{{- if $v.tenantTokenRole }}
# Tenant scope: each tenant's policy, and the token role the etl-agent mints tenant tokens with (children of its
# own token, so revoking the agent revokes them). Create each tenant's database roles named in its policy.
{{- range $tenant, $_ := $.Values.tenancy.dbHosts }}
vault policy write aoetl-tenant-{{ $tenant }} tenant-policy-{{ $tenant }}.hcl
{{- end }}
vault write auth/token/roles/{{ $v.tenantTokenRole }} allowed_policies_glob="aoetl-tenant-*" disallowed_policies=root \
  orphan=false renewable=false token_explicit_max_ttl=8h
{{- end }}
{{- range $key := list "etlAgent" }}
{{- $ctx := dict "root" $ "key" $key "name" (include "aoetl.componentName" $key) }}
{{- $role := index $v.auth.kubernetes.roles $key }}
vault policy write {{ $role }} policy-{{ $ctx.name }}.hcl
{{- if eq $v.auth.method "approle" }}
vault write auth/approle/role/{{ $role }} \
  token_policies={{ $role }} token_ttl=1h token_max_ttl=4h \
  secret_id_ttl=720h secret_id_num_uses=0
vault read -field=role_id auth/approle/role/{{ $role }}/role-id
{{- else }}
vault write auth/{{ $v.auth.kubernetes.mountPath }}/role/{{ $role }} \
  bound_service_account_names={{ include "aoetl.serviceAccountName" $ctx }} \
  bound_service_account_namespaces={{ $ns }} \
  audience={{ $v.auth.kubernetes.audience }} \
  token_policies={{ $role }} \
  token_ttl=1h token_max_ttl=4h
{{- end }}
{{- end }}
{{- end -}}
