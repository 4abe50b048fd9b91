-- Up Migration
-- Governance: every pipeline change is an immutable version with its artifact; a run is a snapshot of the version it
-- was submitted for (spec, artifact, target, chunk count) and stores its plan; an approval binds to that snapshot.
-- Additive: new tables and nullable columns, back-filled for what exists.

-- Versions: one row per pipeline change, never updated or deleted. The artifact is the version's transform code,
-- content-addressed in `artifacts`.
CREATE TABLE pipeline_versions (
  pipeline_id        uuid NOT NULL REFERENCES pipelines (id),
  version            integer NOT NULL CHECK (version > 0),
  spec               jsonb NOT NULL,
  artifact_sha256    text NOT NULL CHECK (artifact_sha256 ~ '^[0-9a-f]{64}$'),
  approval_required  boolean NOT NULL DEFAULT false,
  rollback_of        integer CHECK (rollback_of > 0),
  created_by         text NOT NULL,
  created_at         timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (pipeline_id, version),
  FOREIGN KEY (pipeline_id, artifact_sha256) REFERENCES artifacts (pipeline_id, sha256)
);
CREATE FUNCTION pipeline_versions_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'pipeline versions are immutable';
END $$;
CREATE TRIGGER pipeline_versions_no_update BEFORE UPDATE OR DELETE ON pipeline_versions
  FOR EACH ROW EXECUTE FUNCTION pipeline_versions_immutable();

-- Back-fill: each existing pipeline's current code as an artifact (when not stored yet) and its current version.
INSERT INTO artifacts (pipeline_id, version, sha256, language, code)
SELECT p.id, COALESCE((SELECT max(a.version) FROM artifacts a WHERE a.pipeline_id = p.id), 0) + 1,
       encode(sha256(convert_to(p.spec->'transform'->>'code', 'UTF8')), 'hex'), 'python', p.spec->'transform'->>'code'
FROM pipelines p
ON CONFLICT DO NOTHING;
INSERT INTO pipeline_versions (pipeline_id, version, spec, artifact_sha256, approval_required, created_by, created_at)
SELECT p.id, p.version, p.spec, encode(sha256(convert_to(p.spec->'transform'->>'code', 'UTF8')), 'hex'),
       COALESCE((p.spec->'approval'->>'required')::boolean, false),
       COALESCE(p.updated_by, p.created_by), COALESCE(p.updated_at, p.created_at)
FROM pipelines p;

-- Runs: the snapshot taken at submit (its version, spec and artifact; artifact_sha256 already exists) and the plan
-- the orchestrator derives from it once.
ALTER TABLE runs
  ADD COLUMN pipeline_version  integer,
  ADD COLUMN snapshot          jsonb,
  ADD COLUMN plan              jsonb;
-- Back-fill runs not yet final from their pipeline's current version, except a running run whose artifact is no
-- longer that version's (the orchestrator fails a run without a snapshot rather than guess).
UPDATE runs r SET pipeline_version = p.version, snapshot = p.spec,
       artifact_sha256 = encode(sha256(convert_to(p.spec->'transform'->>'code', 'UTF8')), 'hex')
FROM pipelines p
WHERE p.id = r.pipeline_id AND r.status IN ('awaiting_approval', 'queued', 'planning', 'running')
  AND (r.artifact_sha256 IS NULL OR r.artifact_sha256 = encode(sha256(convert_to(p.spec->'transform'->>'code', 'UTF8')), 'hex'));
ALTER TABLE runs ADD CONSTRAINT runs_snapshot_version
  FOREIGN KEY (pipeline_id, pipeline_version) REFERENCES pipeline_versions (pipeline_id, version);

-- Approvals bind to the run's snapshot: the version and artifact the approver saw. The trigger refuses a decision
-- that names another snapshot than the run's.
ALTER TABLE approvals
  ADD COLUMN pipeline_version  integer,
  ADD COLUMN artifact_sha256   text;
CREATE OR REPLACE FUNCTION approvals_four_eyes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM runs WHERE id = NEW.run_id AND tenant = NEW.tenant AND approval_required
                 AND submitted_by <> NEW.decided_by) THEN
    RAISE EXCEPTION 'an approval must come from another identity than the submitter, in the run''s tenant'
      USING ERRCODE = 'check_violation';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM runs WHERE id = NEW.run_id AND pipeline_version IS NOT DISTINCT FROM NEW.pipeline_version
                 AND artifact_sha256 IS NOT DISTINCT FROM NEW.artifact_sha256) THEN
    RAISE EXCEPTION 'an approval must name the run''s snapshot (pipeline version and artifact)'
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END $$;

GRANT SELECT, INSERT ON pipeline_versions TO aoetl_gateway;
GRANT SELECT ON pipeline_versions TO aoetl_orchestrator;
GRANT INSERT ON artifacts TO aoetl_gateway;

-- Down Migration
ALTER TABLE approvals DROP COLUMN artifact_sha256, DROP COLUMN pipeline_version;
CREATE OR REPLACE FUNCTION approvals_four_eyes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM runs WHERE id = NEW.run_id AND tenant = NEW.tenant AND approval_required
                 AND submitted_by <> NEW.decided_by) THEN
    RAISE EXCEPTION 'an approval must come from another identity than the submitter, in the run''s tenant'
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END $$;
REVOKE INSERT ON artifacts FROM aoetl_gateway;
ALTER TABLE runs DROP CONSTRAINT runs_snapshot_version;
ALTER TABLE runs DROP COLUMN plan, DROP COLUMN snapshot, DROP COLUMN pipeline_version;
DROP TABLE pipeline_versions;
DROP FUNCTION pipeline_versions_immutable();
