import { Type, type Static, type TLiteral, type TSchema, type TUnion } from '@sinclair/typebox';
import { ERROR_CODES } from './errors.js';
import { ColumnSpec, ConnectionDescriptor, Identifier, MAX_CODE_BYTES, OutputColumns, QualifiedName, RunStatus, WriteMode } from './pipeline.js';
import { CheckResult, QualityCheck } from './quality.js';

export const Uuid = Type.String({ pattern: '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$' });

/** Every stream message is one envelope: versioned, typed, and carrying the request id and trace context. */
export function Envelope<T extends string, P extends TSchema>(type: T, payload: P) {
  return Type.Object(
    {
      v: Type.Literal(1),
      id: Uuid,
      type: Type.Literal(type),
      requestId: Type.String({ minLength: 1, maxLength: 128 }),
      traceparent: Type.Optional(Type.String({ pattern: '^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$' })),
      at: Type.String({ minLength: 20, maxLength: 40 }),
      payload,
    },
    { additionalProperties: false },
  );
}

export const RunRequested = Envelope('run.requested', Type.Object({ runId: Uuid, tenant: Type.String() }));
export type RunRequested = Static<typeof RunRequested>;

/**
 * The chunk numbers of a run's two final tasks, in results and in both ledgers (control `run_chunks`, target
 * `load_ledger`): loads are 0…n-1, the commit is COMMIT_CHUNK and the abort ABORT_CHUNK.
 */
export const COMMIT_CHUNK = -1;
export const ABORT_CHUNK = -2;

/** Which task a result is about: a chunk's load (index ≥ 0), the commit or the abort. */
export const TaskStep = Type.Object({
  step: Type.Union([Type.Literal('load'), Type.Literal('commit'), Type.Literal('abort')]),
  /** The chunk index; COMMIT_CHUNK (-1) for the commit, ABORT_CHUNK (-2) for the abort. */
  chunk: Type.Integer({ minimum: ABORT_CHUNK }),
});

export const TaskLimits = Type.Object({
  timeoutMs: Type.Integer({ minimum: 100, maximum: 3_600_000 }),
  memoryMb: Type.Integer({ minimum: 32, maximum: 16_384 }),
  maxOutputBytes: Type.Integer({ minimum: 1024 }),
});
export type TaskLimits = Static<typeof TaskLimits>;

/** Where a run writes, as its tasks carry it (from the run's plan). */
export const TaskTarget = Type.Object({
  connection: ConnectionDescriptor,
  table: QualifiedName,
  mode: WriteMode,
  keys: Type.Array(Identifier),
  /** Create the table from the output columns when it does not exist. */
  create: Type.Optional(Type.Boolean()),
  /** Apply breaking schema drift (dropped, retyped columns) instead of failing with `schema_drift`. */
  allowBreakingDrift: Type.Optional(Type.Boolean()),
});
export type TaskTarget = Static<typeof TaskTarget>;

/**
 * An incremental run's extraction window: `from` is the watermark the last committed run stored (null: none yet,
 * or a full refresh), `to` the highest value the run extracts. Fixed once per run, in the target database, by the
 * first of its chunks; the commit moves the stored watermark from `from` to `to` in its transaction.
 */
export const WatermarkWindow = Type.Object({
  column: Identifier,
  from: Type.Union([Type.String(), Type.Null()]),
  to: Type.Union([Type.String(), Type.Null()]),
  fullRefresh: Type.Boolean(),
});
export type WatermarkWindow = Static<typeof WatermarkWindow>;

/** What a load and a commit need to know of an incremental run. `stream` keys its stored watermark in the target. */
export const TaskIncremental = Type.Object({
  column: Identifier,
  stream: Type.String({ minLength: 1, maxLength: 400 }),
  fullRefresh: Type.Boolean(),
});
export type TaskIncremental = Static<typeof TaskIncremental>;
/**
 * What a load task runs: Python through the sandbox, or a sql transform's query pushed down into the source
 * (`allowedSchemas`: the source connection's, at planning; the agent checks the query again before it runs it).
 */
export const TaskTransform = Type.Union([
  Type.Object({
    language: Type.Literal('python'),
    code: Type.String(),
    sha256: Type.String(),
    /** The declared (or planned) output columns; absent: the target's columns. */
    output: Type.Optional(OutputColumns),
  }),
  Type.Object({
    language: Type.Literal('sql'),
    code: Type.String(),
    sha256: Type.String(),
    allowedSchemas: Type.Array(Type.String({ minLength: 1, maxLength: 63 }), { maxItems: 64 }),
  }),
]);
export type TaskTransform = Static<typeof TaskTransform>;

export const LoadTask = Envelope(
  'task.load',
  Type.Object({
    taskId: Uuid,
    runId: Uuid,
    tenant: Type.String(),
    source: Type.Object({ connection: ConnectionDescriptor, table: QualifiedName }),
    target: TaskTarget,
    transform: TaskTransform,
    limits: TaskLimits,
    incremental: Type.Optional(TaskIncremental),
    /** This task loads the rows whose key hashes to `index` modulo `count`. */
    chunk: Type.Object({ index: Type.Integer({ minimum: 0 }), count: Type.Integer({ minimum: 1, maximum: 256 }) }),
  }),
);
export type LoadTask = Static<typeof LoadTask>;

/**
 * After every chunk is staged: move the staged rows into the target in one transaction (`commit`), or drop
 * them after a failure (`abort`). Both are idempotent through the target's load ledger.
 */
export const CommitTask = Envelope(
  'task.commit',
  Type.Object({
    taskId: Uuid,
    runId: Uuid,
    tenant: Type.String(),
    action: Type.Union([Type.Literal('commit'), Type.Literal('abort')]),
    target: TaskTarget,
    chunks: Type.Integer({ minimum: 1, maximum: 256 }),
    output: Type.Optional(OutputColumns),
    incremental: Type.Optional(TaskIncremental),
    checks: Type.Optional(Type.Array(QualityCheck)),
    /** Rows staged by the last successful run of the pipeline before this one (for `row_count_change`). */
    baselineRows: Type.Optional(Type.Union([Type.Integer({ minimum: 0 }), Type.Null()])),
  }),
);
export type CommitTask = Static<typeof CommitTask>;

/** Everything that may appear on the tasks stream. */
export const TaskMessage = Type.Union([LoadTask, CommitTask]);
export type TaskMessage = Static<typeof TaskMessage>;

export const TaskSucceeded = Envelope(
  'task.succeeded',
  Type.Object({
    taskId: Uuid,
    runId: Uuid,
    agentId: Type.String(),
    ...TaskStep.properties,
    rowsIn: Type.Integer({ minimum: 0 }),
    rowsOut: Type.Integer({ minimum: 0 }),
    bytesIn: Type.Integer({ minimum: 0 }),
    bytesOut: Type.Integer({ minimum: 0 }),
    durationMs: Type.Number({ minimum: 0 }),
    /** An incremental run's window (loads and the commit). */
    watermark: Type.Optional(WatermarkWindow),
    /** The quality checks' results (the commit). */
    checks: Type.Optional(Type.Array(CheckResult)),
    /** CPU time of the chunk's transform in the sandbox, counted against the run's CPU budget. */
    cpuMs: Type.Optional(Type.Integer({ minimum: 0 })),
  }),
);
export type TaskSucceeded = Static<typeof TaskSucceeded>;

/**
 * Why a task or run failed (`FailureReason.code`): every `ErrorCode` (the error that ended the task, see
 * `ERROR_CODES`) plus the outcomes below, which only a run can have. Listed in docs/api/README.md.
 */
export const RUN_FAILURE_CODES = {
  target_missing: 'The target table does not exist or the load role cannot see it.',
  aborted: 'The run was aborted before its commit.',
  chunks_missing: 'The commit found fewer staged chunks than the run planned.',
  transform: 'The transform raised an exception (`pythonType` and `traceback` say which).',
  sandbox_timeout: 'The transform ran longer than its time limit and was killed.',
  sandbox_oom: 'The transform used more than its memory limit and was killed.',
  sandbox_output_limit: 'The transform wrote more than its output limit and was stopped.',
  sandbox_exit: 'The sandbox ended abnormally (exit code and reason in the message).',
  policy_refused: 'The transform breaks the code policy (a security-relevant `violation`).',
  poison_message: 'A message of the run could not be processed and was dead-lettered.',
  snapshot_missing: 'The run has no recorded snapshot of the pipeline version it runs (submitted before snapshots existed).',
  snapshot_mismatch: "The run's code does not hash to the artifact its snapshot names.",
  approval_missing: 'The run requires an approval and none is recorded.',
  approval_mismatch: 'The recorded approval names another pipeline version or artifact than the run snapshot.',
  quality_check_failed: 'A quality check failed on the staged rows; nothing was committed (`checks` holds every check\'s result).',
  schema_drift: 'The target table has columns the transform no longer outputs, or of another type (breaking drift), and the pipeline does not allow it.',
  watermark_conflict: 'Another run of the pipeline moved the watermark since this run started; nothing was committed (run again).',
  llm_policy_refused: "The model planner's code breaks the code policy (`violation: true`); nothing was loaded.",
  llm_dry_run_failed: "The model planner's code failed its dry run on the masked sample; nothing was loaded.",
  llm_output_mismatch: "The model planner's code does not produce the declared or the target's columns; nothing was loaded.",
  cpu_budget_exceeded: "The run's transforms used more sandbox CPU time than its per-run budget (AOETL_RUN_CPU_BUDGET_SECONDS).",
} as const;
export const FAILURE_CODES = { ...ERROR_CODES, ...RUN_FAILURE_CODES } as const;
export type FailureCode = keyof typeof FAILURE_CODES;
export const FailureCode = Type.Union(
  Object.entries(FAILURE_CODES).map(([code, description]) => Type.Literal(code, { description })),
  { description: 'Why the task or run failed (a closed set, listed in docs/api/README.md)' },
) as unknown as TUnion<TLiteral<FailureCode>[]>;

export const FailureReason = Type.Object({
  code: FailureCode,
  message: Type.String({ maxLength: 4000 }),
  pythonType: Type.Optional(Type.String()),
  traceback: Type.Optional(Type.String({ maxLength: 16_000 })),
  violation: Type.Optional(Type.Boolean()),
  /** Every quality check's result, when the run failed a quality gate. */
  checks: Type.Optional(Type.Array(CheckResult)),
});
export type FailureReason = Static<typeof FailureReason>;

export const TaskFailed = Envelope(
  'task.failed',
  Type.Object({ taskId: Uuid, runId: Uuid, agentId: Type.String(), ...TaskStep.properties, error: FailureReason }),
);
export type TaskFailed = Static<typeof TaskFailed>;

export const RunStatusChanged = Envelope(
  'run.status',
  Type.Object({
    runId: Uuid,
    tenant: Type.String(),
    pipelineId: Uuid,
    status: RunStatus,
    rowsOut: Type.Optional(Type.Integer({ minimum: 0 })),
    bytesOut: Type.Optional(Type.Integer({ minimum: 0 })),
    durationMs: Type.Optional(Type.Number({ minimum: 0 })),
    reason: Type.Optional(Type.String()),
  }),
);
export type RunStatusChanged = Static<typeof RunStatusChanged>;

/**
 * What the monitor needs to isolate an agent (docs/operations/quarantine.md): its Redis ACL user and stream consumer
 * name, the accessor of its Vault token (an accessor can look up or revoke a token, never use it) and, in
 * Kubernetes, its pod. Identifiers only.
 */
export const AgentIdentity = Type.Object(
  {
    redisUser: Type.String({ pattern: '^[A-Za-z0-9_.-]{1,100}$' }),
    consumer: Type.String({ pattern: '^[A-Za-z0-9_.:-]{1,200}$' }),
    vaultTokenAccessor: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9.]{8,100}$' })),
    pod: Type.Optional(
      Type.Object(
        { namespace: Type.String({ pattern: '^[A-Za-z0-9][-A-Za-z0-9]{0,62}$' }), name: Type.String({ pattern: '^[A-Za-z0-9][-A-Za-z0-9.]{0,252}$' }) },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
export type AgentIdentity = Static<typeof AgentIdentity>;

export const Heartbeat = Envelope(
  'agent.heartbeat',
  Type.Object({
    agentId: Type.String(),
    service: Type.String(),
    /** Where the agent runs transforms, e.g. `docker/runsc` or `kubernetes/gvisor` (shown on the monitor's dashboard). */
    sandbox: Type.Optional(Type.String({ maxLength: 200 })),
    identity: Type.Optional(AgentIdentity),
  }),
);
export type Heartbeat = Static<typeof Heartbeat>;

/**
 * A credential access of an agent (issue, renew, revoke, denial), for the audit ledger: identifiers and hashes only
 * (the lease id and the generated user name as SHA-256), never a credential.
 */
export const CredentialAudit = Envelope(
  'credential.audit',
  Type.Object({
    event: Type.Union([
      Type.Literal('credential.issued'), Type.Literal('credential.renewed'), Type.Literal('credential.revoked'), Type.Literal('credential.denied'),
    ]),
    actor: Type.String({ minLength: 1, maxLength: 300 }),
    path: Type.String({ minLength: 1, maxLength: 500 }),
    runId: Uuid,
    taskId: Type.Optional(Uuid),
    leaseSha256: Type.Optional(Type.String({ pattern: '^[0-9a-f]{64}$' })),
    usernameSha256: Type.Optional(Type.String({ pattern: '^[0-9a-f]{64}$' })),
    outcome: Type.Union([Type.Literal('ok'), Type.Literal('error')]),
    error: Type.Optional(Type.String({ maxLength: 100 })),
  }, { additionalProperties: false }),
);
export type CredentialAudit = Static<typeof CredentialAudit>;

/** The isolation steps of a quarantine, each with its outcome (docs/operations/quarantine.md). */
export const QUARANTINE_STEPS = ['redis-user', 'redis-connections', 'pending-work', 'vault-token', 'pod-label', 'pod-delete'] as const;
export type QuarantineStep = (typeof QUARANTINE_STEPS)[number];

/**
 * A quarantine action of the monitor (an agent isolated or released, by the threshold or an admin), for the audit
 * ledger (the orchestrator appends it under the platform's chain). Every step's outcome is named: nothing half-done
 * goes unrecorded.
 */
export const QuarantineAudit = Envelope(
  'agent.quarantine',
  Type.Object(
    {
      event: Type.Union([Type.Literal('agent.quarantined'), Type.Literal('agent.released')]),
      agentId: Type.String({ minLength: 1, maxLength: 300 }),
      actor: Type.String({ minLength: 1, maxLength: 300 }),
      reason: Type.String({ maxLength: 500 }),
      violations: Type.Integer({ minimum: 0 }),
      steps: Type.Array(
        Type.Object(
          {
            step: Type.Union(QUARANTINE_STEPS.map((s) => Type.Literal(s))),
            outcome: Type.Union([Type.Literal('done'), Type.Literal('failed'), Type.Literal('skipped')]),
            detail: Type.Optional(Type.String({ maxLength: 300 })),
          },
          { additionalProperties: false },
        ),
        { maxItems: 20 },
      ),
    },
    { additionalProperties: false },
  ),
);
export type QuarantineAudit = Static<typeof QuarantineAudit>;

/** Everything that may appear on the events stream. */
export const EventMessage = Type.Union([TaskSucceeded, TaskFailed, RunStatusChanged, Heartbeat, CredentialAudit, QuarantineAudit]);
export type EventMessage = Static<typeof EventMessage>;

/** Rows a preview may carry, in and out. */
export const MAX_PREVIEW_ROWS = 1000;
/** Reply streams of previews: `${PREVIEW_REPLY_PREFIX}${previewId}`, written once by an agent, expiring. */
export const PREVIEW_REPLY_PREFIX = 'aoetl:previews:reply:';
/** A field value as the sandbox sees it: PostgreSQL text representation, null for NULL. */
const TextValue = Type.Union([Type.String({ maxLength: 65_536 }), Type.Null()]);

/**
 * A transform preview (docs/adr/0005-preview.md), on the previews stream: run `code` over `rows` in the sandbox,
 * policy check first, and write one `preview.result` to `replyTo`. No credential, no database: only the rows given.
 */
export const PreviewRequested = Envelope(
  'preview.requested',
  Type.Object(
    {
      previewId: Uuid,
      tenant: Type.String(),
      code: Type.String({ minLength: 1, maxLength: MAX_CODE_BYTES }),
      sha256: Type.String({ pattern: '^[0-9a-f]{64}$' }),
      columns: Type.Array(ColumnSpec, { minItems: 1, maxItems: 1600 }),
      /** One array per row, in `columns` order. */
      rows: Type.Array(Type.Array(TextValue, { maxItems: 1600 }), { maxItems: MAX_PREVIEW_ROWS }),
      replyTo: Type.String({ pattern: '^aoetl:previews:reply:[0-9a-f-]{36}$' }),
      limits: TaskLimits,
    },
    { additionalProperties: false },
  ),
);
export type PreviewRequested = Static<typeof PreviewRequested>;

/** The answer to a preview: the output columns and rows, or why the code did not run (policy, error, limit). */
export const PreviewResult = Envelope(
  'preview.result',
  Type.Union([
    Type.Object(
      {
        previewId: Uuid,
        agentId: Type.String(),
        ok: Type.Literal(true),
        columns: Type.Array(Type.String(), { maxItems: 1600 }),
        rows: Type.Array(Type.Array(TextValue)),
        durationMs: Type.Number({ minimum: 0 }),
      },
      { additionalProperties: false },
    ),
    Type.Object(
      { previewId: Uuid, agentId: Type.String(), ok: Type.Literal(false), error: FailureReason },
      { additionalProperties: false },
    ),
  ]),
);
export type PreviewResult = Static<typeof PreviewResult>;
