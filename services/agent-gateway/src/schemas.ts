/**
 * Every request and response of the v1 API as TypeBox schemas. Response schemas are allow-lists
 * (`additionalProperties: false`): a field not named here never leaves the gateway, whatever a store returns.
 */
import { Type, type TSchema } from '@sinclair/typebox';
import {
  CheckResult,
  ColumnSpec,
  ConnectionName,
  SchemaName,
  MAX_CODE_BYTES,
  MAX_INSTRUCTION_TEXT,
  MAX_PREVIEW_ROWS,
  FailureReason,
  PipelineSpec,
  StoredTransform,
  Uuid,
  WriteMode,
} from '@aoetl/contracts';
import { MAX_PAGE_SIZE } from '@aoetl/store';

const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);
const Timestamp = Type.String({ format: 'date-time', description: 'RFC 3339 timestamp' });
/** `${issuer}|${subject}` of the identity that acted. */
const Identity = Type.String({ description: 'identity that acted: issuer|subject' });
const Sha256 = Type.String({ pattern: '^[0-9a-f]{64}$' });

// ------------------------------------------------------------------------------------------------ problems

/** Shared by every error response: the `Problem` schema that @aoetl/http's `problems` plugin registers. */
const ProblemRef = { $ref: 'Problem#' };

const PROBLEM_DESCRIPTIONS = {
  400: 'The request is invalid; `errors` names each offending field.',
  401: 'No valid bearer token. Says nothing about why.',
  403: 'The token lacks the permission this operation needs, or a rule (four eyes) forbids it.',
  404: 'Not found in the caller\'s tenant (another tenant\'s resources are never found).',
  409: 'The resource is not in a state that allows this.',
  413: 'The body is larger than the gateway accepts.',
  415: 'The body is not application/json.',
  422: 'The planner cannot map a clause of the instruction; `detail` and `errors` quote it (never a guess).',
  429: 'Too many requests from this identity; retry after the `retry-after` seconds.',
  500: 'Internal error; the message is only in the logs.',
  503: 'The gateway is shedding load; retry later.',
} as const;
type ProblemStatus = keyof typeof PROBLEM_DESCRIPTIONS;

const problemResponse = (status: ProblemStatus) => ({
  description: PROBLEM_DESCRIPTIONS[status],
  content: { 'application/problem+json': { schema: ProblemRef } },
});

/** Problem responses every authenticated operation can give. */
const COMMON: ProblemStatus[] = [400, 401, 403, 404, 429, 500, 503];

/** Problem responses of an operation: the common ones plus `extra` (409; 413 and 415 when it takes a body). */
export function problems(...extra: ProblemStatus[]) {
  const statuses = [...new Set([...COMMON, ...extra])].sort();
  return Object.fromEntries(statuses.map((s) => [s, problemResponse(s)])) as Record<ProblemStatus, ReturnType<typeof problemResponse>>;
}
export const BODY_PROBLEMS: ProblemStatus[] = [413, 415];

// ------------------------------------------------------------------------------------------------ common parts

export const IdParams = Type.Object({ id: Uuid }, { additionalProperties: false });

const Limit = Type.Integer({ minimum: 1, maximum: MAX_PAGE_SIZE, default: 20, description: `page size (at most ${MAX_PAGE_SIZE})` });
const Cursor = Type.String({
  minLength: 1,
  maxLength: 1024,
  pattern: '^[A-Za-z0-9_-]+$',
  description: 'the `nextCursor` of the previous page',
});
export const PageQuery = { limit: Type.Optional(Limit), cursor: Type.Optional(Cursor) };

function PageOf<T extends TSchema>(item: T, description: string) {
  return Type.Object(
    { items: Type.Array(item), nextCursor: Nullable(Type.String({ description: 'null on the last page' })) },
    { additionalProperties: false, description },
  );
}

// ------------------------------------------------------------------------------------------------ pipelines

export const ApprovalPolicy = Type.Object(
  { required: Type.Boolean({ description: 'every run waits for an approval by another identity (four eyes)' }) },
  { additionalProperties: false },
);

/** The contract's pipeline spec plus the gateway's approval setting. */
export const PipelineBody = Type.Object(
  {
    ...PipelineSpec.properties,
    approval: Type.Optional(ApprovalPolicy),
  },
  { additionalProperties: false },
);

/** A spec as stored: an instruction transform comes back with the code planned from it and its provenance. */
export const StoredPipelineBody = Type.Object(
  {
    ...PipelineBody.properties,
    transform: StoredTransform,
  },
  { additionalProperties: false },
);

export const PipelineResponse = Type.Object(
  {
    id: Uuid,
    name: Type.String(),
    version: Type.Integer({ minimum: 1, description: 'its current version; every change writes a new one' }),
    spec: StoredPipelineBody,
    artifactSha256: Sha256,
    approvalRequired: Type.Boolean({ description: 'runs of the current version wait for an approval' }),
    createdBy: Identity,
    createdAt: Timestamp,
    updatedBy: Nullable(Identity),
    updatedAt: Nullable(Timestamp),
  },
  { additionalProperties: false, description: 'A pipeline' },
);
export const PipelinePage = PageOf(PipelineResponse, 'A page of pipelines, newest first');

export const PipelineVersionResponse = Type.Object(
  {
    pipelineId: Uuid,
    version: Type.Integer({ minimum: 1 }),
    spec: StoredPipelineBody,
    artifactSha256: Sha256,
    approvalRequired: Type.Boolean({ description: 'runs of this version wait for an approval' }),
    rollbackOf: Nullable(Type.Integer({ minimum: 1, description: 'the version this one restored' })),
    createdBy: Identity,
    createdAt: Timestamp,
  },
  { additionalProperties: false, description: 'One immutable version of a pipeline' },
);
export const PipelineVersionPage = PageOf(PipelineVersionResponse, 'A page of a pipeline\'s versions, newest first');

const VersionNumber = Type.Integer({ minimum: 1, maximum: 2147483647 });
export const VersionParams = Type.Object({ id: Uuid, version: VersionNumber }, { additionalProperties: false });
export const VersionDiffParams = Type.Object({ id: Uuid, from: VersionNumber, to: VersionNumber }, { additionalProperties: false });

const TextDiff = Type.Object(
  {
    additions: Type.Integer({ minimum: 0 }),
    deletions: Type.Integer({ minimum: 0 }),
    unified: Type.String({ description: 'unified diff (empty when equal)' }),
  },
  { additionalProperties: false },
);
const VersionRef = Type.Object({ version: Type.Integer(), artifactSha256: Sha256 }, { additionalProperties: false });
export const VersionDiff = Type.Object(
  {
    pipelineId: Uuid,
    from: VersionRef,
    to: VersionRef,
    spec: Type.Object(TextDiff.properties, { additionalProperties: false, description: 'the spec without its code, as indented JSON' }),
    code: Type.Object(TextDiff.properties, { additionalProperties: false, description: 'the transform code (the artifacts)' }),
  },
  { additionalProperties: false, description: 'What changed between two versions of a pipeline' },
);

export const RollbackBody = Type.Object(
  { version: Type.Integer({ minimum: 1, maximum: 2147483647, description: 'the version to restore (as a new version)' }) },
  { additionalProperties: false },
);

// ------------------------------------------------------------------------------------------------ runs

export const RunStatus = Type.Union(
  ['awaiting_approval', 'queued', 'planning', 'running', 'succeeded', 'failed', 'cancelled'].map((s) => Type.Literal(s)),
  { description: 'awaiting_approval → queued → planning → running → succeeded | failed; cancelled before running' },
);

export const RunStep = Type.Object(
  { status: Type.String(), at: Timestamp, detail: Type.Unknown() },
  { additionalProperties: false },
);

/** Which planner made the code the run executes, and every fallback with its reason (set when the run is planned). */
export const RunPlanning = Type.Object(
  {
    planner: Type.Union([Type.Literal('code'), Type.Literal('rules'), Type.Literal('llm'), Type.Literal('artifact')], {
      description: 'code: hand-written; rules: the offline planner; llm: the model planner; artifact: the version\'s stored artifact',
    }),
    requested: Type.Union([Type.Literal('code'), Type.Literal('rules'), Type.Literal('llm')]),
    artifactSha256: Sha256,
    fallbacks: Type.Array(
      Type.Object({ from: Type.String(), to: Type.String(), code: Type.String(), reason: Type.String() }, { additionalProperties: false }),
    ),
    cached: Type.Optional(Type.Boolean({ description: 'the model plan came from the cache (no model request)' })),
    provenance: Type.Optional(
      Type.Record(Type.String(), Type.Unknown(), {
        description: 'planner and version, model and parameters, SHA-256 of instruction, masked prompt, masked sample and code, tokens, cost, per-column PII masking counts, who asked',
      }),
    ),
  },
  { additionalProperties: false },
);

const runFields = {
  id: Uuid,
  pipelineId: Uuid,
  status: RunStatus,
  approvalRequired: Type.Boolean(),
  submittedBy: Identity,
  cancelledBy: Nullable(Identity),
  requestId: Type.String(),
  pipelineVersion: Nullable(Type.Integer({ minimum: 1, description: 'the pipeline version the run executes (its snapshot, taken at submit)' })),
  artifactSha256: Nullable(Sha256),
  target: Nullable(
    Type.Object(
      { connection: ConnectionName, table: Type.String(), mode: WriteMode, keys: Type.Array(Type.String()) },
      { additionalProperties: false, description: 'the target of the run\'s snapshot' },
    ),
  ),
  chunks: Type.Integer({ minimum: 1 }),
  rowsIn: Nullable(Type.Integer()),
  rowsOut: Nullable(Type.Integer()),
  bytesOut: Nullable(Type.Integer()),
  error: Nullable(FailureReason),
  options: Type.Object(
    { fullRefresh: Type.Optional(Type.Boolean()) },
    { additionalProperties: false, description: 'how the run was asked for (createRun\'s body)' },
  ),
  watermark: Nullable(
    Type.Object(
      {
        column: Type.String(),
        from: Nullable(Type.String({ description: 'the watermark the run started from (stored by the last committed run)' })),
        to: Nullable(Type.String({ description: 'the highest value the run extracts; stored when it commits' })),
        fullRefresh: Type.Boolean(),
      },
      { additionalProperties: false, description: 'an incremental run\'s window, fixed by its first chunk' },
    ),
  ),
  checks: Nullable(Type.Array(CheckResult, { description: 'the quality checks\' results of a succeeded run (a failed gate\'s are in error.checks)' })),
  planning: Nullable(RunPlanning),
  createdAt: Timestamp,
  updatedAt: Timestamp,
  startedAt: Nullable(Timestamp),
  finishedAt: Nullable(Timestamp),
};

export const RunSummary = Type.Object(runFields, { additionalProperties: false, description: 'A run' });
export const RunResponse = Type.Object(
  { ...runFields, steps: Type.Array(RunStep) },
  { additionalProperties: false, description: 'A run with its status history' },
);
export const RunPage = PageOf(RunSummary, 'A page of runs, newest first');

export const RunAccepted = Type.Object(
  { runId: Uuid, status: RunStatus, created: Type.Boolean({ description: 'false when the Idempotency-Key named an earlier run' }) },
  { additionalProperties: false, description: 'The run was accepted (or found by its Idempotency-Key)' },
);

export const RunOptionsBody = Type.Object(
  {
    fullRefresh: Type.Optional(
      Type.Boolean({ description: 'an incremental pipeline\'s run reads every source row, not only those past the stored watermark' }),
    ),
  },
  { additionalProperties: false, description: 'Run options (the body is optional)' },
);

export const RunListQuery = Type.Object(
  { ...PageQuery, pipelineId: Type.Optional(Uuid), status: Type.Optional(RunStatus) },
  { additionalProperties: false },
);

export const IdempotencyHeaders = Type.Object({
  'idempotency-key': Type.Optional(
    Type.String({ minLength: 1, maxLength: 200, pattern: '^[\\x21-\\x7e]+$', description: 'the same key for the same pipeline returns the same run' }),
  ),
});

export const RunEventsQuery = Type.Object(
  {
    after: Type.Optional(Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: 'send only events after this event id (or use Last-Event-ID)' })),
    timeoutSeconds: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 900, default: 900, description: 'close the stream after this long (0: send what exists and close)' }),
    ),
  },
  { additionalProperties: false },
);

export const RunEventsHeaders = Type.Object({
  'last-event-id': Type.Optional(Type.String({ pattern: '^[0-9]{1,15}$' })),
});

/** One server-sent event as a client parses it (each `schema` item of text/event-stream describes one event). */
const sseEvent = <E extends string>(event: E, data: TSchema, description: string) =>
  Type.Object(
    {
      event: Type.Literal(event),
      id: Type.Optional(Type.String({ pattern: '^[0-9]+$', description: 'step id; resume with Last-Event-ID' })),
      data: Type.String({ contentMediaType: 'application/json', contentSchema: data }),
    },
    { description },
  );

export const EventStream = {
  description:
    'Server-sent events: a `status` event per step of the run (id = step id) as it moves, then one `end` event once ' +
    'the run is final, or `timeout` when timeoutSeconds have passed. Comment lines keep the connection alive.',
  content: {
    'text/event-stream': {
      schema: Type.Union([
        sseEvent('status', RunStep, 'the run reached a status'),
        sseEvent('end', Type.Object({ status: RunStatus }, { additionalProperties: false }), 'the run is final; the stream ends'),
        sseEvent('timeout', Type.Object({ status: RunStatus }, { additionalProperties: false }), 'timeoutSeconds passed; reconnect to go on'),
      ]),
    },
  },
};

// ------------------------------------------------------------------------------------------------ approvals

export const ApprovalState = Type.Union(['pending', 'approved', 'rejected', 'withdrawn'].map((s) => Type.Literal(s)), {
  description: 'withdrawn: the run was cancelled before anyone decided',
});

export const ApprovalResponse = Type.Object(
  {
    runId: Uuid,
    pipelineId: Uuid,
    submittedBy: Identity,
    requestedAt: Timestamp,
    state: ApprovalState,
    pipelineVersion: Nullable(Type.Integer({ minimum: 1, description: 'the pipeline version of the run\'s snapshot the approval is for' })),
    artifactSha256: Nullable(Sha256),
    decidedBy: Nullable(Identity),
    decidedAt: Nullable(Timestamp),
    comment: Nullable(Type.String()),
  },
  { additionalProperties: false, description: 'The approval of a run that needs one' },
);
export const ApprovalPage = PageOf(ApprovalResponse, 'A page of approvals, newest run first');

export const ApprovalDecision = Type.Object(
  {
    decision: Type.Union([Type.Literal('approve'), Type.Literal('reject')]),
    comment: Type.Optional(Type.String({ maxLength: 2000 })),
  },
  { additionalProperties: false },
);

export const ApprovalListQuery = Type.Object({ ...PageQuery, state: Type.Optional(ApprovalState) }, { additionalProperties: false });

// ------------------------------------------------------------------------------------------------ connections

export const ConnectionParams = Type.Object({ name: ConnectionName }, { additionalProperties: false });

/** Where a database is and which Vault role issues its credentials. No field can carry a secret. */
export const ConnectionBody = Type.Object(
  {
    kind: Type.Literal('postgres'),
    host: Type.String({ minLength: 1, maxLength: 253, pattern: '^[A-Za-z0-9]([A-Za-z0-9.:-]*[A-Za-z0-9])?$', description: 'host name or IP address' }),
    port: Type.Integer({ minimum: 1, maximum: 65535 }),
    database: Type.String({ minLength: 1, maxLength: 63, pattern: '^[A-Za-z_][A-Za-z0-9_$-]*$' }),
    vaultRole: Type.String({ pattern: '^[a-z0-9][a-z0-9/_-]{0,200}$', description: 'Vault path that issues the credentials' }),
    allowedSchemas: Type.Optional(
      Type.Array(SchemaName, {
        maxItems: 64,
        uniqueItems: true,
        description:
          'schemas pipelines may read or write through this connection (pg_*, information_schema and aoetl_staging are refused); omitted: none, so no pipeline may use the connection',
      }),
    ),
  },
  { additionalProperties: false },
);

export const ConnectionResponse = Type.Object(
  {
    name: ConnectionName,
    kind: Type.Literal('postgres'),
    host: Type.String(),
    port: Type.Integer(),
    database: Type.String(),
    vaultRole: Type.String(),
    allowedSchemas: Type.Array(Type.String()),
    createdBy: Identity,
    createdAt: Timestamp,
    updatedBy: Nullable(Identity),
    updatedAt: Nullable(Timestamp),
  },
  { additionalProperties: false, description: 'A connection: a Vault reference, never a credential' },
);
export const ConnectionPage = PageOf(ConnectionResponse, 'A page of connections, by name');

// ------------------------------------------------------------------------------------------------ artifacts

export const ArtifactSummary = Type.Object(
  { version: Type.Integer({ minimum: 1 }), sha256: Sha256, language: Type.String(), bytes: Type.Integer(), createdAt: Timestamp },
  { additionalProperties: false, description: 'A stored transform artifact' },
);
export const ArtifactResponse = Type.Object(
  { ...ArtifactSummary.properties, code: Type.String() },
  { additionalProperties: false, description: 'A stored transform artifact with its code' },
);
export const ArtifactPage = PageOf(ArtifactSummary, 'A page of artifacts, newest version first');

export const ArtifactParams = Type.Object(
  { id: Uuid, version: Type.Integer({ minimum: 1, maximum: 2147483647 }) },
  { additionalProperties: false },
);
export const DiffQuery = Type.Object(
  { against: Type.Optional(Type.Integer({ minimum: 1, maximum: 2147483647, description: 'base version (default: version - 1)' })) },
  { additionalProperties: false },
);

const DiffSide = Nullable(Type.Object({ version: Type.Integer(), sha256: Sha256 }, { additionalProperties: false }));
export const ArtifactDiff = Type.Object(
  {
    pipelineId: Uuid,
    from: DiffSide,
    to: Type.Object({ version: Type.Integer(), sha256: Sha256 }, { additionalProperties: false }),
    additions: Type.Integer({ minimum: 0 }),
    deletions: Type.Integer({ minimum: 0 }),
    unified: Type.String({ description: 'unified diff from `from` (empty when null) to `to`' }),
  },
  { additionalProperties: false, description: 'What changed between two artifact versions' },
);

// ------------------------------------------------------------------------------------------------ audit

export const AuditEntry = Type.Object(
  {
    seq: Type.Integer({ minimum: 1, description: 'position in the tenant\'s hash chain' }),
    at: Timestamp,
    actor: Type.String({ description: 'identity (issuer|subject), or service:<database role>' }),
    action: Type.String({ description: 'pipeline.created, run.succeeded, approval.approved, erasure.completed…' }),
    object: Type.String({ description: 'what the action touched: pipeline:<id>, run:<id>, connection:<name>…' }),
    payload: Type.Record(Type.String(), Type.Unknown(), { description: 'ids and hashes only, never a raw value' }),
    prevHash: Sha256,
    hash: Type.String({ pattern: '^[0-9a-f]{64}$', description: 'SHA-256(prevHash ‖ canonical JSON of the entry)' }),
  },
  { additionalProperties: false },
);
export const AuditPage = PageOf(AuditEntry, 'A page of ledger entries, newest first');

const Name = Type.String({ minLength: 1, maxLength: 200, pattern: '^[A-Za-z0-9_.:|/@-]+$' });
export const AuditQuery = Type.Object(
  {
    ...PageQuery,
    action: Type.Optional(Name),
    object: Type.Optional(Type.String({ minLength: 1, maxLength: 300 })),
    actor: Type.Optional(Type.String({ minLength: 1, maxLength: 2100 })),
    since: Type.Optional(Timestamp),
    until: Type.Optional(Timestamp),
  },
  { additionalProperties: false },
);

export const AuditVerification = Type.Object(
  {
    ok: Type.Boolean(),
    entries: Type.Integer({ minimum: 0, description: 'entries that verified (before the first bad one)' }),
    checkpoints: Type.Optional(Type.Integer({ minimum: 0, description: 'signed checkpoints checked' })),
    head: Type.Optional(Nullable(Type.Object({ seq: Type.Integer(), hash: Sha256 }, { additionalProperties: false }))),
    firstBad: Type.Optional(Type.Object({ seq: Type.Integer(), reason: Type.String() }, { additionalProperties: false })),
  },
  { additionalProperties: false, description: 'The tenant\'s chain recomputed and checked against the signed checkpoints' },
);

// ------------------------------------------------------------------------------------------------ erasure

export const ErasureRequest = Type.Object(
  {
    subject: Type.Object(
      {
        column: Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]{0,62}$', description: 'the column that identifies the subject (email, a key column)' }),
        value: Type.String({ minLength: 1, maxLength: 1000, description: 'never stored or logged; audited as a keyed hash' }),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);
export const ErasureResponse = Type.Object(
  {
    subjectHash: Type.String({ description: 'HMAC-SHA-256 of the subject (the ledger\'s record of it)' }),
    tables: Type.Array(
      Type.Object(
        { connection: Type.String(), table: Type.String(), deleted: Nullable(Type.Integer({ minimum: 0 })) },
        { additionalProperties: false },
      ),
    ),
    ledgerSeq: Type.Integer({ minimum: 1 }),
  },
  { additionalProperties: false },
);

export const PageOnlyQuery = Type.Object(PageQuery, { additionalProperties: false });
export const NoContent = Type.Null({ description: 'Done; no body' });

// ------------------------------------------------------------------------------------------------ transforms

const SampleValue = Type.Union([Type.String({ maxLength: 65_536 }), Type.Number(), Type.Boolean(), Type.Null()]);

export const PreviewBody = Type.Object(
  {
    instruction: Type.Optional(Type.String({ minLength: 1, maxLength: MAX_INSTRUCTION_TEXT, description: 'plan this instruction (or give `code`)' })),
    code: Type.Optional(Type.String({ minLength: 1, maxLength: MAX_CODE_BYTES, description: 'run this Python transform (or give `instruction`)' })),
    planner: Type.Optional(
      Type.Union([Type.Literal('rules'), Type.Literal('llm')], {
        description: 'who plans the instruction: rules (offline) or llm (the model planner when configured; else the offline planner, with the fallback named). Default: the service setting',
      }),
    ),
    sample: Type.Object(
      {
        rows: Type.Array(Type.Record(Type.String({ minLength: 1, maxLength: 63 }), SampleValue), {
          minItems: 1,
          maxItems: MAX_PREVIEW_ROWS,
          description: 'inline rows (JSON objects); values are strings, numbers, booleans or null',
        }),
        columns: Type.Optional(Type.Array(ColumnSpec, { minItems: 1, maxItems: 1600, description: 'the columns and their PostgreSQL types; inferred from the rows when absent' })),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);

export const PreviewResponse = Type.Object(
  {
    planner: Type.Union([Type.Literal('rules'), Type.Literal('llm'), Type.Literal('none')], {
      description: 'rules: the offline planner; llm: the model planner (the sample was masked before the prompt and the rows are its masked output); none: the code was given',
    }),
    language: Type.Literal('python'),
    code: Type.String(),
    sha256: Sha256,
    explanation: Type.String(),
    outputColumns: Type.Array(
      Type.Object({ name: Type.String(), type: Nullable(Type.String({ description: 'PostgreSQL type; null when the code was given' })) }, { additionalProperties: false }),
    ),
    rows: Type.Array(Type.Record(Type.String(), Nullable(Type.String())), { description: 'the output of running the code on the sample in the sandbox (text values, null for NULL)' }),
    fallbacks: Type.Optional(
      Type.Array(Type.Object({ from: Type.String(), to: Type.String(), code: Type.String(), reason: Type.String() }, { additionalProperties: false }), {
        description: 'the model planner was asked for and another planner answered: which and why',
      }),
    ),
    provenance: Type.Optional(
      Type.Record(Type.String(), Type.Unknown(), { description: 'the model plan\'s provenance (hashes, model, parameters, tokens, cost, PII masking counts)' }),
    ),
  },
  { additionalProperties: false, description: 'A planned (or given) transform and its output on the sample' },
);
