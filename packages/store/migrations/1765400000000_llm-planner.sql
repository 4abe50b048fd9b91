-- Up Migration
-- The model planner (issue 14, docs/adr/0006-model-planner.md).
--
-- llm_plans: every plan the model made that passed the checks (code policy, dry run, output schema), keyed by the
-- request's cache key (tenant, masked prompt hash, model, parameters, planner version). An identical request reads
-- it back and makes no upstream call. Immutable; the provenance holds hashes, token counts, cost and per-column PII
-- masking counts, never a value.
CREATE TABLE llm_plans (
  tenant          text NOT NULL,
  cache_key       text NOT NULL CHECK (cache_key ~ '^[0-9a-f]{64}$'),
  code            text NOT NULL,
  sha256          text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
  explanation     text NOT NULL,
  output_columns  jsonb NOT NULL,
  provenance      jsonb NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant, cache_key)
);
CREATE FUNCTION llm_plans_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'model plans are immutable';
END $$;
CREATE TRIGGER llm_plans_no_update BEFORE UPDATE ON llm_plans FOR EACH ROW EXECUTE FUNCTION llm_plans_immutable();

-- llm_usage: one row per answered model request (tokens and cost), the source of the per-tenant token budget.
CREATE TABLE llm_usage (
  id                 bigserial PRIMARY KEY,
  tenant             text NOT NULL,
  model              text NOT NULL,
  prompt_tokens      integer NOT NULL CHECK (prompt_tokens >= 0),
  completion_tokens  integer NOT NULL CHECK (completion_tokens >= 0),
  cost_usd           numeric(18, 8) NOT NULL CHECK (cost_usd >= 0),
  at                 timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX llm_usage_tenant_at ON llm_usage (tenant, at);

-- runs.planning: which planner made the code a run executes, and every fallback with its reason (set by the
-- orchestrator when it plans the run; the gateway shows it on the run).
ALTER TABLE runs ADD COLUMN planning jsonb;

GRANT SELECT, INSERT ON llm_plans TO aoetl_gateway, aoetl_orchestrator;
GRANT SELECT, INSERT ON llm_usage TO aoetl_gateway, aoetl_orchestrator;
GRANT USAGE ON SEQUENCE llm_usage_id_seq TO aoetl_gateway, aoetl_orchestrator;

-- Down Migration
ALTER TABLE runs DROP COLUMN planning;
DROP TABLE llm_usage;
DROP TABLE llm_plans;
DROP FUNCTION llm_plans_immutable();
