-- Up Migration
-- Schema reach (issue 15): each connection lists the schemas pipelines may read (source) or write (target) through
-- it. The gateway refuses, at pipeline create and update, a source or target table outside the list, and always one
-- in a reserved schema (pg_*, information_schema, aoetl_staging), whatever the list says. Empty: no schema is
-- reachable. A connection registered before this migration keeps the reach its live pipelines already use (the
-- schemas of their sources and targets, reserved ones excepted); anything more needs an admin
-- (PUT /v1/connections/{name} with allowedSchemas; deploy/local/migrate.sh adds the example connections' schemas).
ALTER TABLE connections
  ADD COLUMN allowed_schemas text[] NOT NULL DEFAULT '{}'
    CHECK (array_position(allowed_schemas, NULL) IS NULL AND cardinality(allowed_schemas) <= 64);
UPDATE connections c SET allowed_schemas = ARRAY(
  SELECT DISTINCT split_part(t.tbl, '.', 1) FROM pipelines p,
    LATERAL (VALUES (CASE WHEN p.spec->'source'->>'connection' = c.name THEN p.spec->'source'->>'table' END),
                    (CASE WHEN p.spec->'target'->>'connection' = c.name THEN p.spec->'target'->>'table' END)) AS t(tbl)
   WHERE p.tenant = c.tenant AND p.deleted_at IS NULL AND t.tbl IS NOT NULL
     AND split_part(t.tbl, '.', 1) !~* '^(pg_|information_schema$|aoetl_staging$)'
   ORDER BY 1);

-- Down Migration
ALTER TABLE connections DROP COLUMN allowed_schemas;
