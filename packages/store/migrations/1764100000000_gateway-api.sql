-- Up Migration
-- The gateway's v1 API: pipelines that are updated and soft-deleted, runs that wait for a four-eyes approval or
-- are cancelled before they start, approval decisions, and the connection registry written through the API.

-- Pipelines: a version that each update bumps; deleted pipelines stay (runs and artifacts point at them) but free
-- their name.
ALTER TABLE pipelines
  ADD COLUMN version     integer NOT NULL DEFAULT 1 CHECK (version > 0),
  ADD COLUMN updated_by  text,
  ADD COLUMN updated_at  timestamptz,
  ADD COLUMN deleted_by  text,
  ADD COLUMN deleted_at  timestamptz;
ALTER TABLE pipelines DROP CONSTRAINT pipelines_tenant_name_key;
CREATE UNIQUE INDEX pipelines_tenant_name_live ON pipelines (tenant, name) WHERE deleted_at IS NULL;
CREATE INDEX pipelines_tenant_page ON pipelines (tenant, created_at DESC, id DESC);

-- Runs: `awaiting_approval` before `queued` when the pipeline or a policy asks for four eyes; `cancelled` when
-- the submitter (or an admin) stops it before it runs, or an approver rejects it.
ALTER TABLE runs DROP CONSTRAINT runs_status_check;
ALTER TABLE runs ADD CONSTRAINT runs_status_check CHECK (status IN
  ('awaiting_approval', 'queued', 'planning', 'running', 'succeeded', 'failed', 'cancelled'));
ALTER TABLE runs
  ADD COLUMN approval_required  boolean NOT NULL DEFAULT false,
  ADD COLUMN cancelled_by       text;
CREATE INDEX runs_tenant_page ON runs (tenant, created_at DESC, id DESC);
CREATE INDEX runs_pipeline_page ON runs (pipeline_id, created_at DESC, id DESC);

-- One decision per run, never changed. Four eyes is enforced here too: the decider is never the submitter.
CREATE TABLE approvals (
  run_id      uuid PRIMARY KEY REFERENCES runs (id),
  tenant      text NOT NULL,
  decision    text NOT NULL CHECK (decision IN ('approved', 'rejected')),
  decided_by  text NOT NULL,
  comment     text CHECK (length(comment) <= 2000),
  decided_at  timestamptz NOT NULL DEFAULT now()
);
CREATE FUNCTION approvals_four_eyes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM runs WHERE id = NEW.run_id AND tenant = NEW.tenant AND approval_required
                 AND submitted_by <> NEW.decided_by) THEN
    RAISE EXCEPTION 'an approval must come from another identity than the submitter, in the run''s tenant'
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER approvals_four_eyes BEFORE INSERT ON approvals FOR EACH ROW EXECUTE FUNCTION approvals_four_eyes();
CREATE FUNCTION approvals_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'approvals are immutable';
END $$;
CREATE TRIGGER approvals_no_update BEFORE UPDATE OR DELETE ON approvals
  FOR EACH ROW EXECUTE FUNCTION approvals_immutable();

-- Connections registered through the API (admins): still only where a database is and which Vault role issues
-- its credentials.
ALTER TABLE connections
  ADD COLUMN updated_by  text,
  ADD COLUMN updated_at  timestamptz;

GRANT UPDATE (name, spec, version, updated_by, updated_at, deleted_by, deleted_at) ON pipelines TO aoetl_gateway;
GRANT UPDATE (status, updated_at, finished_at, cancelled_by) ON runs TO aoetl_gateway;
GRANT SELECT, INSERT ON approvals TO aoetl_gateway;
GRANT SELECT ON approvals TO aoetl_orchestrator;
GRANT INSERT, UPDATE, DELETE ON connections TO aoetl_gateway;

-- Down Migration
REVOKE INSERT, UPDATE, DELETE ON connections FROM aoetl_gateway;
REVOKE UPDATE (status, updated_at, finished_at, cancelled_by) ON runs FROM aoetl_gateway;
REVOKE UPDATE (name, spec, version, updated_by, updated_at, deleted_by, deleted_at) ON pipelines FROM aoetl_gateway;
ALTER TABLE connections DROP COLUMN updated_at, DROP COLUMN updated_by;
DROP TABLE approvals;
DROP FUNCTION approvals_immutable();
DROP FUNCTION approvals_four_eyes();
DROP INDEX runs_pipeline_page;
DROP INDEX runs_tenant_page;
ALTER TABLE runs DROP COLUMN cancelled_by, DROP COLUMN approval_required;
ALTER TABLE runs DROP CONSTRAINT runs_status_check;
ALTER TABLE runs ADD CONSTRAINT runs_status_check CHECK (status IN ('queued', 'planning', 'running', 'succeeded', 'failed'));
DROP INDEX pipelines_tenant_page;
DROP INDEX pipelines_tenant_name_live;
ALTER TABLE pipelines ADD CONSTRAINT pipelines_tenant_name_key UNIQUE (tenant, name);
ALTER TABLE pipelines DROP COLUMN deleted_at, DROP COLUMN deleted_by, DROP COLUMN updated_at, DROP COLUMN updated_by,
  DROP COLUMN version;
