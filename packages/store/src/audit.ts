import type pg from 'pg';
import { atAndId, decodeCursor, fromMicros, micros, pageSize, toPage, type Page, type PageRequest } from './pages.js';
import { iso, str, type Row } from './rows.js';

export interface AuditEvent {
  id: string;
  at: string;
  kind: string;
  actor: string;
  pipelineId: string | null;
  runId: string | null;
  detail: Record<string, unknown> | null;
}

export interface AuditFilter {
  kind?: string | undefined;
  actor?: string | undefined;
  pipelineId?: string | undefined;
  runId?: string | undefined;
  since?: string | undefined;
  until?: string | undefined;
}

/** The audit trail, read from the control database's own history (no separate log to keep in step). */
export class AuditTrail {
  constructor(private readonly pool: pg.Pool) {}

  /**
   * The tenant's audit trail as it can be reconstructed from the control database: pipelines created, updated
   * and deleted, connections registered, runs submitted and every run status change, artifacts stored and
   * approval decisions. Newest first.
   */
  async query(tenant: string, filter: AuditFilter, page: PageRequest): Promise<Page<AuditEvent>> {
    const limit = pageSize(page.limit);
    const after = decodeCursor(page.cursor, ['micros', 'text']);
    const { rows } = await this.pool.query(
      `WITH ev AS (
         SELECT 'pipeline:' || id || ':created' AS id, created_at AS at, 'pipeline.created' AS kind, created_by AS actor,
                id AS pipeline_id, NULL::uuid AS run_id, jsonb_build_object('name', spec->>'name') AS detail
         FROM pipelines WHERE tenant = $1
         UNION ALL
         SELECT 'pipeline:' || id || ':updated', updated_at, 'pipeline.updated', updated_by, id, NULL,
                jsonb_build_object('name', name, 'version', version)
         FROM pipelines WHERE tenant = $1 AND updated_at IS NOT NULL
         UNION ALL
         SELECT 'pipeline:' || id || ':deleted', deleted_at, 'pipeline.deleted', deleted_by, id, NULL,
                jsonb_build_object('name', name)
         FROM pipelines WHERE tenant = $1 AND deleted_at IS NOT NULL
         UNION ALL
         SELECT 'connection:' || name || ':created', created_at, 'connection.registered', created_by, NULL, NULL,
                jsonb_build_object('name', name, 'host', host, 'port', port, 'database', database, 'vaultRole', vault_role)
         FROM connections WHERE tenant = $1
         UNION ALL
         SELECT 'connection:' || name || ':updated', updated_at, 'connection.updated', updated_by, NULL, NULL,
                jsonb_build_object('name', name, 'host', host, 'port', port, 'database', database, 'vaultRole', vault_role)
         FROM connections WHERE tenant = $1 AND updated_at IS NOT NULL
         UNION ALL
         SELECT 'run:' || id, created_at, 'run.submitted', submitted_by, pipeline_id, id,
                jsonb_build_object('requestId', request_id, 'approvalRequired', approval_required)
         FROM runs WHERE tenant = $1
         UNION ALL
         SELECT 'step:' || lpad(s.id::text, 19, '0'), s.at, 'run.status', coalesce(s.detail->>'by', 'system'),
                r.pipeline_id, r.id, jsonb_build_object('status', s.status) || coalesce(s.detail, '{}'::jsonb)
         FROM run_steps s JOIN runs r ON r.id = s.run_id WHERE r.tenant = $1
         UNION ALL
         SELECT 'artifact:' || a.pipeline_id || ':' || lpad(a.version::text, 10, '0'), a.created_at, 'artifact.stored',
                'system', a.pipeline_id, NULL, jsonb_build_object('version', a.version, 'sha256', a.sha256, 'language', a.language)
         FROM artifacts a JOIN pipelines p ON p.id = a.pipeline_id WHERE p.tenant = $1
         UNION ALL
         SELECT 'approval:' || ap.run_id, ap.decided_at, 'approval.' || ap.decision, ap.decided_by, r.pipeline_id, r.id,
                jsonb_build_object('comment', ap.comment)
         FROM approvals ap JOIN runs r ON r.id = ap.run_id WHERE ap.tenant = $1
       )
       SELECT ev.*, ${micros('ev.at')} AS cursor_at FROM ev
       WHERE ($2::text IS NULL OR kind = $2) AND ($3::text IS NULL OR actor = $3)
         AND ($4::uuid IS NULL OR pipeline_id = $4) AND ($5::uuid IS NULL OR run_id = $5)
         AND ($6::timestamptz IS NULL OR at >= $6) AND ($7::timestamptz IS NULL OR at < $7)
         AND ($8::text IS NULL OR (at, id) < (${fromMicros('$8')}, $9::text))
       ORDER BY at DESC, id DESC LIMIT $10`,
      [tenant, filter.kind ?? null, filter.actor ?? null, filter.pipelineId ?? null, filter.runId ?? null,
        filter.since ?? null, filter.until ?? null, after?.[0] ?? null, after?.[1] ?? null, limit + 1],
    );
    return toPage(
      rows as Row[],
      limit,
      (r) => ({
        id: r.id as string,
        at: iso(r.at)!,
        kind: r.kind as string,
        actor: r.actor as string,
        pipelineId: str(r.pipeline_id),
        runId: str(r.run_id),
        detail: (r.detail as Record<string, unknown> | null) ?? null,
      }),
      atAndId,
    );
  }
}
