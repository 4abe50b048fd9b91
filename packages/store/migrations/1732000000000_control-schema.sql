-- Up Migration
-- The control database: pipelines, runs, their steps, immutable artifacts and the transactional outbox.
-- Service roles get only what they use (least privilege); the owner role runs migrations.

CREATE TABLE connections (
  tenant      text NOT NULL,
  name        text NOT NULL CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
  kind        text NOT NULL CHECK (kind = 'postgres'),
  host        text NOT NULL,
  port        integer NOT NULL CHECK (port BETWEEN 1 AND 65535),
  database    text NOT NULL,
  vault_role  text NOT NULL,
  created_by  text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant, name)
);

CREATE TABLE pipelines (
  id          uuid PRIMARY KEY,
  tenant      text NOT NULL,
  name        text NOT NULL,
  spec        jsonb NOT NULL,
  created_by  text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  UNIQUE (tenant, name)
);

CREATE TABLE runs (
  id               uuid PRIMARY KEY,
  pipeline_id      uuid NOT NULL REFERENCES pipelines (id),
  tenant           text NOT NULL,
  status           text NOT NULL CHECK (status IN ('queued', 'planning', 'running', 'succeeded', 'failed')),
  submitted_by     text NOT NULL,
  idempotency_key  text,
  request_id       text NOT NULL,
  artifact_sha256  text,
  rows_in          bigint,
  rows_out         bigint,
  bytes_out        bigint,
  error            jsonb,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  started_at       timestamptz,
  finished_at      timestamptz,
  UNIQUE (tenant, pipeline_id, idempotency_key)
);
CREATE INDEX runs_tenant_created ON runs (tenant, created_at DESC);

CREATE TABLE run_steps (
  id       bigserial PRIMARY KEY,
  run_id   uuid NOT NULL REFERENCES runs (id),
  status   text NOT NULL,
  detail   jsonb,
  at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX run_steps_run ON run_steps (run_id, id);

-- Generated or user code, content-addressed and versioned per pipeline. Never updated, never deleted.
CREATE TABLE artifacts (
  pipeline_id  uuid NOT NULL REFERENCES pipelines (id),
  version      integer NOT NULL CHECK (version > 0),
  sha256       text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
  language     text NOT NULL,
  code         text NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (pipeline_id, version),
  UNIQUE (pipeline_id, sha256)
);
CREATE FUNCTION artifacts_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'artifacts are immutable';
END $$;
CREATE TRIGGER artifacts_no_update BEFORE UPDATE OR DELETE ON artifacts
  FOR EACH ROW EXECUTE FUNCTION artifacts_immutable();

-- Transactional outbox: a state change and the message it causes commit together; a relay publishes.
CREATE TABLE outbox (
  id            bigserial PRIMARY KEY,
  producer      text NOT NULL,
  stream        text NOT NULL,
  message       jsonb NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  published_at  timestamptz
);
CREATE INDEX outbox_unpublished ON outbox (producer, id) WHERE published_at IS NULL;

GRANT USAGE ON SCHEMA public TO aoetl_gateway, aoetl_orchestrator;
GRANT SELECT ON connections TO aoetl_gateway, aoetl_orchestrator;
GRANT SELECT, INSERT ON pipelines TO aoetl_gateway;
GRANT SELECT ON pipelines TO aoetl_orchestrator;
GRANT SELECT, INSERT ON runs TO aoetl_gateway;
GRANT SELECT, UPDATE ON runs TO aoetl_orchestrator;
GRANT SELECT ON run_steps TO aoetl_gateway;
GRANT SELECT, INSERT ON run_steps TO aoetl_orchestrator, aoetl_gateway;
GRANT SELECT, INSERT ON artifacts TO aoetl_orchestrator;
GRANT SELECT ON artifacts TO aoetl_gateway;
GRANT SELECT, INSERT, UPDATE ON outbox TO aoetl_gateway, aoetl_orchestrator;
GRANT USAGE ON SEQUENCE outbox_id_seq, run_steps_id_seq TO aoetl_gateway, aoetl_orchestrator;

-- Down Migration
DROP TABLE outbox;
DROP TABLE artifacts;
DROP FUNCTION artifacts_immutable();
DROP TABLE run_steps;
DROP TABLE runs;
DROP TABLE pipelines;
DROP TABLE connections;
