-- Up Migration
-- Where generated code came from (issue 14): one row per artifact planned from an instruction, written by the
-- gateway in the transaction that writes the pipeline version. The first request that produced the bytes wins
-- (an unchanged instruction keeps its artifact and its provenance). Never updated; deleted only with its artifact
-- (the retention purge).
CREATE TABLE artifact_provenance (
  pipeline_id         uuid NOT NULL,
  artifact_sha256     text NOT NULL CHECK (artifact_sha256 ~ '^[0-9a-f]{64}$'),
  planner             text NOT NULL CHECK (planner IN ('rules', 'llm')),
  planner_version     text NOT NULL,
  instruction_sha256  text NOT NULL CHECK (instruction_sha256 ~ '^[0-9a-f]{64}$'),
  sample_sha256       text CHECK (sample_sha256 ~ '^[0-9a-f]{64}$'),
  requested_by        text NOT NULL,
  created_at          timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (pipeline_id, artifact_sha256),
  FOREIGN KEY (pipeline_id, artifact_sha256) REFERENCES artifacts (pipeline_id, sha256) ON DELETE CASCADE
);
CREATE FUNCTION artifact_provenance_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'artifact provenance is immutable';
END $$;
CREATE TRIGGER artifact_provenance_no_update BEFORE UPDATE ON artifact_provenance
  FOR EACH ROW EXECUTE FUNCTION artifact_provenance_immutable();
GRANT SELECT, INSERT ON artifact_provenance TO aoetl_gateway;
GRANT SELECT ON artifact_provenance TO aoetl_orchestrator;

-- Down Migration
DROP TABLE artifact_provenance;
DROP FUNCTION artifact_provenance_immutable();
