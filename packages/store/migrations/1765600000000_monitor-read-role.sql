-- Up Migration
-- The monitor's dashboard (issue 16) reads runs and their history through its own role, aoetl_monitor: SELECT on
-- what the dashboard shows, nothing else (no outbox, no connections, no audit ledger, no write of any kind). The
-- role is created by the platform (deploy/local/postgres.sh; the chart's database setup), like the service roles.
GRANT USAGE ON SCHEMA public TO aoetl_monitor;
GRANT SELECT ON runs, run_steps, run_chunks, pipelines, artifacts, artifact_provenance TO aoetl_monitor;

-- Down Migration
REVOKE SELECT ON runs, run_steps, run_chunks, pipelines, artifacts, artifact_provenance FROM aoetl_monitor;
REVOKE USAGE ON SCHEMA public FROM aoetl_monitor;
