#!/usr/bin/env bash
# Applies the control-database migrations (node-pg-migrate, as the owner role) and registers the example
# connections (non-secret descriptors: where the database is and which Vault role issues its credentials).
set -euo pipefail
COMPONENT=migrate
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

pw_file="$SECRETS/pg-aoetl_owner.password"
[ -s "$pw_file" ] || die "$pw_file is missing (run: deploy/local/stack.sh up)"
db_url="postgres://aoetl_owner:$(cat "$pw_file")@127.0.0.1:5433/aoetl?sslmode=verify-full&sslrootcert=$CERTS/ca.crt"

log "applying migrations"
DATABASE_URL="$db_url" pnpm --dir "$REPO/packages/store" --silent exec node-pg-migrate up \
  -m migrations --migration-file-language sql --migrations-table pgmigrations >"$LOGS/migrate.log" 2>&1 \
  || die "migrations failed; read $LOGS/migrate.log"

log "registering example connections"
PGPASSWORD="$(cat "$pw_file")" psql "postgres://aoetl_owner@127.0.0.1:5433/aoetl?sslmode=verify-full&sslrootcert=$CERTS/ca.crt" \
  -v ON_ERROR_STOP=1 -q >>"$LOGS/migrate.log" 2>&1 <<'SQL' || die "registering connections failed; read $LOGS/migrate.log"
-- Each tenant's own Vault roles (deploy/local/openbao.sh: <tenant>-source-reader, <tenant>-warehouse-writer).
-- A row still naming the old shared role (a state from before per-tenant roles) is moved to the tenant's role.
INSERT INTO connections (tenant, name, kind, host, port, database, vault_role, created_by) VALUES
  ('acme',   'crm-source', 'postgres', '127.0.0.1', 5433, 'source',    'database/creds/acme-source-reader',      'deploy'),
  ('acme',   'warehouse',  'postgres', '127.0.0.1', 5433, 'warehouse', 'database/creds/acme-warehouse-writer',   'deploy'),
  ('globex', 'crm-source', 'postgres', '127.0.0.1', 5433, 'source',    'database/creds/globex-source-reader',    'deploy'),
  ('globex', 'warehouse',  'postgres', '127.0.0.1', 5433, 'warehouse', 'database/creds/globex-warehouse-writer', 'deploy')
ON CONFLICT (tenant, name) DO UPDATE SET vault_role = EXCLUDED.vault_role
  WHERE connections.vault_role IN ('database/creds/source-reader', 'database/creds/warehouse-writer');
SQL
log "control database is current"
