-- Up Migration
-- Schema reach (issue 15): each connection lists the schemas pipelines may read (source) or write (target) through
-- it. The gateway refuses, at pipeline create and update, a source or target table outside the list, and always one
-- in a reserved schema (pg_*, information_schema, aoetl_staging), whatever the list says. Empty: no schema is
-- reachable, so a connection registered before this migration serves no new pipeline until an admin sets its list
-- (PUT /v1/connections/{name} with allowedSchemas; deploy/local/migrate.sh sets the example connections').
ALTER TABLE connections
  ADD COLUMN allowed_schemas text[] NOT NULL DEFAULT '{}'
    CHECK (array_position(allowed_schemas, NULL) IS NULL AND cardinality(allowed_schemas) <= 64);

-- Down Migration
ALTER TABLE connections DROP COLUMN allowed_schemas;
