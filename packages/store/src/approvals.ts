import type pg from 'pg';
import { ConflictError, NotAllowedError, NotFoundError, type MessageContext, type RunStatus } from '@aoetl/contracts';
import { inTransaction } from './db.js';
import type { Outbox } from './outbox.js';
import { atAndId, decodeCursor, fromMicros, micros, pageSize, toPage, type Page, type PageRequest } from './pages.js';
import { iso, num, str, type Row } from './rows.js';
import { lockRun, runRequested } from './runs.js';

export type ApprovalState = 'pending' | 'approved' | 'rejected' | 'withdrawn';

export interface ApprovalRecord {
  runId: string;
  pipelineId: string;
  submittedBy: string;
  requestedAt: string;
  state: ApprovalState;
  /** The run's snapshot the approval is for: pending, what is asked; decided, what was approved or rejected. */
  pipelineVersion: number | null;
  artifactSha256: string | null;
  decidedBy: string | null;
  decidedAt: string | null;
  comment: string | null;
}

function toApproval(r: Row): ApprovalRecord {
  const decision = str(r.decision) as 'approved' | 'rejected' | null;
  return {
    runId: r.id as string,
    pipelineId: r.pipeline_id as string,
    submittedBy: r.submitted_by as string,
    requestedAt: iso(r.created_at)!,
    state: decision ?? (r.status === 'awaiting_approval' ? 'pending' : 'withdrawn'),
    pipelineVersion: num(decision ? r.approved_version : r.pipeline_version),
    artifactSha256: str(decision ? r.approved_sha256 : r.artifact_sha256),
    decidedBy: str(r.decided_by),
    decidedAt: iso(r.decided_at),
    comment: str(r.comment),
  };
}

const APPROVAL_COLUMNS = `r.id, r.pipeline_id, r.submitted_by, r.created_at, r.status, r.pipeline_version, r.artifact_sha256,
  a.decision, a.decided_by, a.decided_at, a.comment, a.pipeline_version AS approved_version, a.artifact_sha256 AS approved_sha256`;

const APPROVAL_STATE_SQL = `CASE WHEN a.decision IS NOT NULL THEN a.decision
  WHEN r.status = 'awaiting_approval' THEN 'pending' ELSE 'withdrawn' END`;

/** Approvals of the runs that need one: a run's approval is its row joined with the decision, if any. */
export class Approvals {
  constructor(
    private readonly pool: pg.Pool,
    private readonly outbox: Outbox,
  ) {}

  /**
   * Records the decision on a run awaiting approval, four eyes: the decider must not be the submitter (checked
   * here and by a database trigger). The decision binds to the run's snapshot (pipeline version and artifact
   * SHA-256), stored with it; the orchestrator starts the run only when they still match. Approved: the run becomes `queued` and its `run.requested` message goes to
   * the outbox in the same transaction. Rejected: the run is `cancelled`.
   */
  async decide(input: {
    tenant: string;
    runId: string;
    decidedBy: string;
    decision: 'approved' | 'rejected';
    comment?: string | undefined;
    ctx: MessageContext;
  }): Promise<ApprovalRecord> {
    return inTransaction(this.pool, async (c) => {
      const run = await lockRun(c, input.tenant, input.runId);
      if (!run.approvalRequired) throw new ConflictError('this run does not need an approval');
      if (run.submittedBy === input.decidedBy) {
        throw new NotAllowedError('four eyes: an approval must come from another identity than the submitter');
      }
      if (run.status !== 'awaiting_approval') throw new ConflictError(`the run is ${run.status}, not awaiting approval`);
      await c.query(
        `INSERT INTO approvals (run_id, tenant, decision, decided_by, comment, pipeline_version, artifact_sha256)
         VALUES ($1, $2, $3, $4, $5, $6, $7)`,
        [run.id, input.tenant, input.decision, input.decidedBy, input.comment ?? null, run.pipelineVersion, run.artifactSha256],
      );
      const next: RunStatus = input.decision === 'approved' ? 'queued' : 'cancelled';
      await c.query(
        `UPDATE runs SET status = $2, updated_at = now(),
           finished_at = CASE WHEN $2 = 'cancelled' THEN now() ELSE finished_at END,
           cancelled_by = CASE WHEN $2 = 'cancelled' THEN $3 ELSE cancelled_by END
         WHERE id = $1`,
        [run.id, next, input.decidedBy],
      );
      await c.query('INSERT INTO run_steps (run_id, status, detail) VALUES ($1, $2, $3)', [
        run.id,
        next,
        JSON.stringify({ by: input.decidedBy, approval: input.decision }),
      ]);
      if (next === 'queued') await this.outbox.add(c, [runRequested(run.id, input.tenant, input.ctx)]);
      return this.approvalOf(c, input.tenant, run.id);
    });
  }

  /** The approval of the tenant's run; NotFoundError when there is no such run or it needs no approval. */
  async get(tenant: string, runId: string): Promise<ApprovalRecord> {
    return this.approvalOf(this.pool, tenant, runId);
  }

  /** Approvals newest first, optionally in one state (`pending`: what waits for a decision). */
  async list(tenant: string, filter: { state?: ApprovalState | undefined }, page: PageRequest): Promise<Page<ApprovalRecord>> {
    const limit = pageSize(page.limit);
    const after = decodeCursor(page.cursor, ['micros', 'uuid']);
    const { rows } = await this.pool.query(
      `SELECT ${APPROVAL_COLUMNS}, ${micros('r.created_at')} AS cursor_at
       FROM runs r LEFT JOIN approvals a ON a.run_id = r.id
       WHERE r.tenant = $1 AND r.approval_required AND ($2::text IS NULL OR ${APPROVAL_STATE_SQL} = $2)
         AND ($3::text IS NULL OR (r.created_at, r.id) < (${fromMicros('$3')}, $4::uuid))
       ORDER BY r.created_at DESC, r.id DESC LIMIT $5`,
      [tenant, filter.state ?? null, after?.[0] ?? null, after?.[1] ?? null, limit + 1],
    );
    return toPage(rows as Row[], limit, toApproval, atAndId);
  }

  private async approvalOf(q: pg.Pool | pg.PoolClient, tenant: string, runId: string): Promise<ApprovalRecord> {
    const { rows } = await q.query(
      `SELECT ${APPROVAL_COLUMNS}, r.approval_required
       FROM runs r LEFT JOIN approvals a ON a.run_id = r.id WHERE r.tenant = $1 AND r.id = $2`,
      [tenant, runId],
    );
    const r = rows[0] as Row | undefined;
    if (!r) throw new NotFoundError('run not found');
    if (r.approval_required !== true) throw new NotFoundError('this run has no approval');
    return toApproval(r);
  }
}
