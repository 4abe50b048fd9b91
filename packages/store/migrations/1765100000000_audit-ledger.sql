-- Up Migration
-- The audit ledger (docs/adr/0004-audit-ledger.md): one append-only, hash-chained table per tenant chain, written
-- only through audit_append() (SECURITY DEFINER, owned by the INSERT-only role aoetl_audit), from AFTER triggers on
-- the control tables in the same transaction as the change they record: a ledger write that fails fails the change.
-- Also: run lineage (which target tables each succeeded run wrote, for GDPR erasure) and the retention purge.
-- Additive: new tables, functions and triggers; the immutability triggers of artifacts and approvals are replaced
-- by ones that still refuse every change except the retention purge's deletes (run by the tables' owner).

CREATE TABLE audit_ledger (
  tenant     text NOT NULL,
  seq        bigint NOT NULL CHECK (seq > 0),
  at         timestamptz NOT NULL,
  actor      text NOT NULL,
  action     text NOT NULL,
  object     text NOT NULL,
  payload    jsonb NOT NULL,
  prev_hash  text NOT NULL CHECK (prev_hash ~ '^[0-9a-f]{64}$'),
  hash       text NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$'),
  PRIMARY KEY (tenant, seq)
);
CREATE INDEX audit_ledger_tenant_at ON audit_ledger (tenant, at);
CREATE INDEX audit_ledger_tenant_object ON audit_ledger (tenant, object, seq);

-- Each chain's head, locked FOR UPDATE by every append: inserts into one tenant's chain are serialised (no forks).
-- Only a cache of the last entry; verify never trusts it.
CREATE TABLE audit_heads (
  tenant  text PRIMARY KEY,
  seq     bigint NOT NULL,
  hash    text NOT NULL
);

CREATE FUNCTION audit_ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'the audit ledger is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_ledger_no_change BEFORE UPDATE OR DELETE ON audit_ledger
  FOR EACH ROW EXECUTE FUNCTION audit_ledger_append_only();
CREATE TRIGGER audit_ledger_no_truncate BEFORE TRUNCATE ON audit_ledger
  FOR EACH STATEMENT EXECUTE FUNCTION audit_ledger_append_only();

-- Canonical JSON, byte for byte as @aoetl/audit's canonicalJson: keys sorted by code point (COLLATE "C" on UTF-8),
-- no whitespace, integers only.
CREATE FUNCTION audit_canonical(j jsonb) RETURNS text LANGUAGE plpgsql IMMUTABLE STRICT AS $$
DECLARE out text;
BEGIN
  CASE jsonb_typeof(j)
    WHEN 'object' THEN
      SELECT '{' || coalesce(string_agg(to_jsonb(k)::text || ':' || audit_canonical(v), ',' ORDER BY k COLLATE "C"), '') || '}'
        INTO out FROM jsonb_each(j) AS e(k, v);
      RETURN out;
    WHEN 'array' THEN
      SELECT '[' || coalesce(string_agg(audit_canonical(v), ',' ORDER BY n), '') || ']'
        INTO out FROM jsonb_array_elements(j) WITH ORDINALITY AS a(v, n);
      RETURN out;
    WHEN 'number' THEN
      IF j::text !~ '^-?[0-9]{1,15}$' THEN
        RAISE EXCEPTION 'audit payload numbers must be integers below 2^53, not %', j::text;
      END IF;
      RETURN j::text;
    ELSE
      RETURN j::text;
  END CASE;
END $$;

CREATE FUNCTION audit_sha256(t text) RETURNS text LANGUAGE sql IMMUTABLE STRICT AS $$
  SELECT encode(sha256(convert_to(t, 'UTF8')), 'hex')
$$;

-- Appends one entry to the tenant's chain; answers its seq. hash = SHA-256(prev_hash ‖ canonical entry).
CREATE FUNCTION audit_append(p_tenant text, p_actor text, p_action text, p_object text, p_payload jsonb)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
  h_seq bigint;
  h_hash text;
  v_at timestamptz := date_trunc('milliseconds', clock_timestamp());
  v_hash text;
BEGIN
  IF p_tenant IS NULL OR p_actor IS NULL OR p_action IS NULL OR p_object IS NULL OR p_payload IS NULL THEN
    RAISE EXCEPTION 'audit_append: tenant, actor, action, object and payload are required' USING ERRCODE = 'not_null_violation';
  END IF;
  INSERT INTO audit_heads (tenant, seq, hash) VALUES (p_tenant, 0, repeat('0', 64)) ON CONFLICT (tenant) DO NOTHING;
  SELECT seq, hash INTO h_seq, h_hash FROM audit_heads WHERE tenant = p_tenant FOR UPDATE;
  v_hash := audit_sha256(h_hash || audit_canonical(jsonb_build_object(
    'seq', h_seq + 1, 'at', to_char(v_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), 'tenant', p_tenant,
    'actor', p_actor, 'action', p_action, 'object', p_object, 'payload', p_payload)));
  INSERT INTO audit_ledger (tenant, seq, at, actor, action, object, payload, prev_hash, hash)
    VALUES (p_tenant, h_seq + 1, v_at, p_actor, p_action, p_object, p_payload, h_hash, v_hash);
  UPDATE audit_heads SET seq = h_seq + 1, hash = v_hash WHERE tenant = p_tenant;
  RETURN h_seq + 1;
END $$;
-- A SECURITY DEFINER function runs with a fixed search_path: the schema the migrations run in (public unless
-- the migration tool is given another), then pg_temp last. A new owner needs CREATE on the schema for the change
-- of owner only, and USAGE to resolve the tables.
DO $$ BEGIN
  EXECUTE format('ALTER FUNCTION audit_append(text, text, text, text, jsonb) SET search_path = %I, pg_temp', current_schema());
  EXECUTE format('GRANT USAGE, CREATE ON SCHEMA %I TO aoetl_audit', current_schema());
END $$;
ALTER FUNCTION audit_append(text, text, text, text, jsonb) OWNER TO aoetl_audit;
DO $$ BEGIN EXECUTE format('REVOKE CREATE ON SCHEMA %I FROM aoetl_audit', current_schema()); END $$;
REVOKE ALL ON FUNCTION audit_append(text, text, text, text, jsonb) FROM PUBLIC;
ALTER TABLE audit_ledger OWNER TO aoetl_owner;
GRANT INSERT ON audit_ledger TO aoetl_audit;
GRANT SELECT, INSERT, UPDATE ON audit_heads TO aoetl_audit;

-- Who made a change: the row's own *_by column when it has one, else the identity the store set for this
-- transaction (set_config('aoetl.actor', …, true)), else the service's database role.
CREATE FUNCTION audit_actor(by_column text) RETURNS text LANGUAGE sql STABLE AS $$
  SELECT coalesce(nullif(by_column, ''), nullif(current_setting('aoetl.actor', true), ''), 'service:' || session_user)
$$;

-- Lineage: the target each succeeded run wrote, with its key columns (erasure finds a subject's rows through it).
-- No foreign key to runs: lineage outlives the run records the retention purge removes.
CREATE TABLE run_lineage (
  run_id       uuid PRIMARY KEY,
  tenant       text NOT NULL,
  pipeline_id  uuid NOT NULL,
  connection   text NOT NULL,
  target       text NOT NULL,
  key_columns  text[] NOT NULL DEFAULT '{}',
  written_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX run_lineage_tenant ON run_lineage (tenant, connection, target);

CREATE FUNCTION audit_row() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  n jsonb := CASE WHEN TG_OP = 'DELETE' THEN NULL ELSE to_jsonb(NEW) END;
  o jsonb := CASE WHEN TG_OP = 'INSERT' THEN NULL ELSE to_jsonb(OLD) END;
  r jsonb := coalesce(n, o);
  v_tenant text;
  target jsonb;
BEGIN
  CASE TG_TABLE_NAME
    WHEN 'pipelines' THEN
      IF TG_OP = 'INSERT' THEN
        PERFORM audit_append(r->>'tenant', audit_actor(r->>'created_by'), 'pipeline.created', 'pipeline:' || (r->>'id'),
          jsonb_build_object('name', r->>'name', 'version', (r->>'version')::int, 'specSha256', audit_sha256(audit_canonical(r->'spec'))));
      ELSIF o->>'deleted_at' IS NULL AND n->>'deleted_at' IS NOT NULL THEN
        PERFORM audit_append(r->>'tenant', audit_actor(r->>'deleted_by'), 'pipeline.deleted', 'pipeline:' || (r->>'id'),
          jsonb_build_object('version', (r->>'version')::int));
      ELSIF n IS DISTINCT FROM o THEN
        PERFORM audit_append(r->>'tenant', audit_actor(r->>'updated_by'), 'pipeline.updated', 'pipeline:' || (r->>'id'),
          jsonb_build_object('name', r->>'name', 'version', (r->>'version')::int, 'specSha256', audit_sha256(audit_canonical(r->'spec'))));
      END IF;
    WHEN 'runs' THEN
      IF TG_OP = 'INSERT' THEN
        PERFORM audit_append(r->>'tenant', audit_actor(r->>'submitted_by'), 'run.submitted', 'run:' || (r->>'id'),
          jsonb_strip_nulls(jsonb_build_object('pipelineId', r->>'pipeline_id', 'status', r->>'status',
            'pipelineVersion', (r->>'pipeline_version')::int, 'artifactSha256', r->>'artifact_sha256',
            'approvalRequired', (r->>'approval_required')::boolean, 'requestId', r->>'request_id')));
      ELSIF o->>'status' IS DISTINCT FROM n->>'status' THEN
        PERFORM audit_append(r->>'tenant',
          audit_actor(CASE WHEN n->>'status' = 'cancelled' THEN n->>'cancelled_by' END),
          'run.' || (n->>'status'), 'run:' || (r->>'id'),
          jsonb_strip_nulls(jsonb_build_object('from', o->>'status', 'to', n->>'status',
            'artifactSha256', n->>'artifact_sha256', 'rowsIn', (n->>'rows_in')::bigint, 'rowsOut', (n->>'rows_out')::bigint,
            'errorCode', n->'error'->>'code')));
        IF n->>'status' = 'succeeded' THEN
          target := coalesce(n->'snapshot', (SELECT spec FROM pipelines WHERE id = (r->>'pipeline_id')::uuid))->'target';
          IF target IS NOT NULL THEN
            INSERT INTO run_lineage (run_id, tenant, pipeline_id, connection, target, key_columns)
            VALUES ((r->>'id')::uuid, r->>'tenant', (r->>'pipeline_id')::uuid, target->>'connection', target->>'table',
                    coalesce(ARRAY(SELECT jsonb_array_elements_text(target->'keys')), '{}'))
            ON CONFLICT (run_id) DO NOTHING;
          END IF;
        END IF;
      END IF;
    WHEN 'approvals' THEN
      PERFORM audit_append(r->>'tenant', audit_actor(r->>'decided_by'), 'approval.' || (r->>'decision'), 'run:' || (r->>'run_id'),
        jsonb_strip_nulls(jsonb_build_object('pipelineVersion', (r->>'pipeline_version')::int, 'artifactSha256', r->>'artifact_sha256',
          'commentSha256', audit_sha256(r->>'comment'))));
    WHEN 'connections' THEN
      PERFORM audit_append(r->>'tenant',
        audit_actor(CASE TG_OP WHEN 'INSERT' THEN r->>'created_by' WHEN 'UPDATE' THEN r->>'updated_by' END),
        'connection.' || CASE TG_OP WHEN 'INSERT' THEN 'registered' WHEN 'UPDATE' THEN 'updated' ELSE 'deleted' END,
        'connection:' || (r->>'name'),
        jsonb_build_object('vaultRole', r->>'vault_role', 'descriptorSha256',
          audit_sha256(audit_canonical(jsonb_build_object('host', r->>'host', 'port', (r->>'port')::int, 'database', r->>'database', 'vaultRole', r->>'vault_role')))));
    WHEN 'artifacts' THEN
      SELECT tenant INTO v_tenant FROM pipelines WHERE id = (r->>'pipeline_id')::uuid;
      PERFORM audit_append(v_tenant, audit_actor(NULL), 'artifact.stored', 'pipeline:' || (r->>'pipeline_id'),
        jsonb_build_object('version', (r->>'version')::int, 'sha256', r->>'sha256', 'language', r->>'language'));
    WHEN 'pipeline_versions' THEN
      SELECT tenant INTO v_tenant FROM pipelines WHERE id = (r->>'pipeline_id')::uuid;
      PERFORM audit_append(v_tenant, audit_actor(r->>'created_by'), 'pipeline.version_created', 'pipeline:' || (r->>'pipeline_id'),
        jsonb_strip_nulls(jsonb_build_object('version', (r->>'version')::int, 'artifactSha256', r->>'artifact_sha256',
          'specSha256', audit_sha256(audit_canonical(r->'spec')), 'rollbackOf', (r->>'rollback_of')::int)));
    WHEN 'run_lineage' THEN
      PERFORM audit_append(r->>'tenant', audit_actor(NULL), 'lineage.recorded', 'run:' || (r->>'run_id'),
        jsonb_build_object('connection', r->>'connection', 'target', r->>'target', 'keyColumns', to_jsonb(r->'key_columns')));
  END CASE;
  RETURN NULL;
END $$;

CREATE TRIGGER pipelines_audit AFTER INSERT OR UPDATE ON pipelines FOR EACH ROW EXECUTE FUNCTION audit_row();
CREATE TRIGGER runs_audit AFTER INSERT OR UPDATE ON runs FOR EACH ROW EXECUTE FUNCTION audit_row();
CREATE TRIGGER approvals_audit AFTER INSERT ON approvals FOR EACH ROW EXECUTE FUNCTION audit_row();
CREATE TRIGGER connections_audit AFTER INSERT OR UPDATE OR DELETE ON connections FOR EACH ROW EXECUTE FUNCTION audit_row();
CREATE TRIGGER artifacts_audit AFTER INSERT ON artifacts FOR EACH ROW EXECUTE FUNCTION audit_row();
CREATE TRIGGER run_lineage_audit AFTER INSERT ON run_lineage FOR EACH ROW EXECUTE FUNCTION audit_row();
DO $$ BEGIN
  IF to_regclass('pipeline_versions') IS NOT NULL THEN
    CREATE TRIGGER pipeline_versions_audit AFTER INSERT ON pipeline_versions FOR EACH ROW EXECUTE FUNCTION audit_row();
  END IF;
END $$;

-- Immutable rows stay immutable, except for the retention purge: a DELETE made by the table's owner while the
-- transaction-local flag aoetl.purge is on (only retention_purge, SECURITY DEFINER, sets both).
CREATE FUNCTION immutable_except_purge() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' AND current_setting('aoetl.purge', true) = 'on'
     AND current_user = (SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = TG_RELID) THEN
    RETURN OLD;
  END IF;
  RAISE EXCEPTION '% are immutable', TG_TABLE_NAME;
END $$;
DROP TRIGGER artifacts_no_update ON artifacts;
CREATE TRIGGER artifacts_no_update BEFORE UPDATE OR DELETE ON artifacts FOR EACH ROW EXECUTE FUNCTION immutable_except_purge();
DROP TRIGGER approvals_no_update ON approvals;
CREATE TRIGGER approvals_no_update BEFORE UPDATE OR DELETE ON approvals FOR EACH ROW EXECUTE FUNCTION immutable_except_purge();

-- Retention: deletes the tenant's finished runs older than the cutoff (with their steps, chunks and approvals) and
-- the artifacts older than the cutoff that no remaining run ran and no live version uses (a live version: the
-- current or any recorded version of a pipeline that is not deleted). The ledger keeps its entries. Audited.
CREATE FUNCTION retention_purge(p_tenant text, p_cutoff timestamptz, p_actor text)
RETURNS TABLE (runs bigint, steps bigint, chunks bigint, approvals bigint, artifacts bigint)
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
  ids uuid[];
  n_runs bigint; n_steps bigint; n_chunks bigint; n_approvals bigint; n_artifacts bigint := 0;
  has_versions boolean := to_regclass('pipeline_versions') IS NOT NULL;
BEGIN
  PERFORM set_config('aoetl.purge', 'on', true);
  SELECT coalesce(array_agg(id), '{}') INTO ids FROM runs
   WHERE tenant = p_tenant AND status IN ('succeeded', 'failed', 'cancelled') AND coalesce(finished_at, updated_at) < p_cutoff;
  DELETE FROM run_chunks WHERE run_id = ANY(ids); GET DIAGNOSTICS n_chunks = ROW_COUNT;
  DELETE FROM run_steps WHERE run_id = ANY(ids); GET DIAGNOSTICS n_steps = ROW_COUNT;
  DELETE FROM approvals WHERE run_id = ANY(ids); GET DIAGNOSTICS n_approvals = ROW_COUNT;
  DELETE FROM runs WHERE id = ANY(ids); GET DIAGNOSTICS n_runs = ROW_COUNT;
  IF NOT has_versions THEN
    DELETE FROM artifacts a USING pipelines p
     WHERE p.id = a.pipeline_id AND p.tenant = p_tenant AND a.created_at < p_cutoff
       AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.pipeline_id = a.pipeline_id AND r.artifact_sha256 = a.sha256)
       AND (p.deleted_at IS NOT NULL OR a.version < (SELECT max(version) FROM artifacts x WHERE x.pipeline_id = a.pipeline_id));
    GET DIAGNOSTICS n_artifacts = ROW_COUNT;
  END IF;
  -- With pipeline_versions every artifact is some version's: it goes only with a deleted pipeline's versions, which
  -- the versions' owner module purges; until then they stay (kept, never lost).
  IF n_runs + n_artifacts > 0 THEN
    PERFORM audit_append(p_tenant, p_actor, 'retention.purged', 'tenant:' || p_tenant,
      jsonb_build_object('cutoff', to_char(p_cutoff AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), 'runs', n_runs, 'steps', n_steps,
        'chunks', n_chunks, 'approvals', n_approvals, 'artifacts', n_artifacts,
        'runIdsSha256', audit_sha256(array_to_string(ARRAY(SELECT unnest(ids)::text ORDER BY 1), ','))));
  END IF;
  RETURN QUERY SELECT n_runs, n_steps, n_chunks, n_approvals, n_artifacts;
END $$;
REVOKE ALL ON FUNCTION retention_purge(text, timestamptz, text) FROM PUBLIC;

GRANT SELECT ON audit_ledger TO aoetl_gateway, aoetl_orchestrator;
GRANT SELECT ON audit_heads TO aoetl_orchestrator;
GRANT EXECUTE ON FUNCTION audit_append(text, text, text, text, jsonb) TO aoetl_gateway, aoetl_orchestrator;
DO $$ BEGIN
  EXECUTE format('ALTER FUNCTION retention_purge(text, timestamptz, text) SET search_path = %I, pg_temp', current_schema());
END $$;
GRANT EXECUTE ON FUNCTION retention_purge(text, timestamptz, text) TO aoetl_orchestrator;
GRANT SELECT, INSERT ON run_lineage TO aoetl_orchestrator;
GRANT SELECT ON run_lineage TO aoetl_gateway;

-- Down Migration
DROP FUNCTION retention_purge(text, timestamptz, text);
DROP TRIGGER approvals_no_update ON approvals;
CREATE TRIGGER approvals_no_update BEFORE UPDATE OR DELETE ON approvals FOR EACH ROW EXECUTE FUNCTION approvals_immutable();
DROP TRIGGER artifacts_no_update ON artifacts;
CREATE TRIGGER artifacts_no_update BEFORE UPDATE OR DELETE ON artifacts FOR EACH ROW EXECUTE FUNCTION artifacts_immutable();
DROP FUNCTION immutable_except_purge();
DROP TRIGGER IF EXISTS pipeline_versions_audit ON pipeline_versions;
DROP TRIGGER run_lineage_audit ON run_lineage;
DROP TRIGGER artifacts_audit ON artifacts;
DROP TRIGGER connections_audit ON connections;
DROP TRIGGER approvals_audit ON approvals;
DROP TRIGGER runs_audit ON runs;
DROP TRIGGER pipelines_audit ON pipelines;
DROP FUNCTION audit_row();
DROP TABLE run_lineage;
DROP FUNCTION audit_actor(text);
DROP FUNCTION audit_append(text, text, text, text, jsonb);
DROP FUNCTION audit_sha256(text);
DROP FUNCTION audit_canonical(jsonb);
DROP TABLE audit_heads;
DROP TABLE audit_ledger;
DROP FUNCTION audit_ledger_append_only();
