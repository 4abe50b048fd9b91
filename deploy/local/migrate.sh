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
-- Each tenant's own Vault roles (deploy/local/openbao.sh: <tenant>-source-reader, <tenant>-warehouse-writer); a row
-- still naming the old shared role (a state from before per-tenant roles) is moved to the tenant's role.
-- allowed_schemas: the schema reach of each connection (the seed's crm and sales, plus bench, which `make bench`
-- creates; the warehouse's medallion schemas), added to whatever the connection's list already holds.
INSERT INTO connections (tenant, name, kind, host, port, database, vault_role, created_by, allowed_schemas) VALUES
  ('acme',   'crm-source', 'postgres', '127.0.0.1', 5433, 'source',    'database/creds/acme-source-reader',      'deploy', '{crm,sales,bench}'),
  ('acme',   'warehouse',  'postgres', '127.0.0.1', 5433, 'warehouse', 'database/creds/acme-warehouse-writer',   'deploy', '{bronze,silver,gold}'),
  ('globex', 'crm-source', 'postgres', '127.0.0.1', 5433, 'source',    'database/creds/globex-source-reader',    'deploy', '{crm,sales,bench}'),
  ('globex', 'warehouse',  'postgres', '127.0.0.1', 5433, 'warehouse', 'database/creds/globex-warehouse-writer', 'deploy', '{bronze,silver,gold}')
ON CONFLICT (tenant, name) DO UPDATE
  SET vault_role = CASE WHEN connections.vault_role IN ('database/creds/source-reader', 'database/creds/warehouse-writer')
                        THEN EXCLUDED.vault_role ELSE connections.vault_role END,
      allowed_schemas = ARRAY(SELECT DISTINCT s FROM unnest(connections.allowed_schemas || EXCLUDED.allowed_schemas) AS s ORDER BY 1),
      updated_by = 'deploy', updated_at = now()
  WHERE connections.vault_role IN ('database/creds/source-reader', 'database/creds/warehouse-writer')
     OR NOT connections.allowed_schemas @> EXCLUDED.allowed_schemas;
SQL
log "control database is current"
