-- Up Migration
-- Progress of each run's tasks: one row per staged chunk (chunk >= 0) and one for the commit (chunk = -1).
-- Unique keys make redelivered results no-ops; the commit is dispatched exactly when its row is inserted.
CREATE TABLE run_chunks (
  run_id       uuid NOT NULL REFERENCES runs (id),
  chunk        integer NOT NULL CHECK (chunk >= -1),
  rows_in      bigint,
  rows_out     bigint,
  bytes_out    bigint,
  finished_at  timestamptz,
  PRIMARY KEY (run_id, chunk)
);
ALTER TABLE runs ADD COLUMN chunks integer NOT NULL DEFAULT 1 CHECK (chunks BETWEEN 1 AND 256);
GRANT SELECT, INSERT, UPDATE ON run_chunks TO aoetl_orchestrator;
GRANT SELECT ON run_chunks TO aoetl_gateway;

-- Down Migration
ALTER TABLE runs DROP COLUMN chunks;
DROP TABLE run_chunks;
