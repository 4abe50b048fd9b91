import { Type, type Static } from '@sinclair/typebox';
import { MAX_CHECKS, QualityCheck } from './quality.js';

/** `schema.table`, plain identifiers only (quoted when used). */
export const QualifiedName = Type.String({
  pattern: '^[A-Za-z_][A-Za-z0-9_]{0,62}\\.[A-Za-z_][A-Za-z0-9_]{0,62}$',
  description: 'schema.table',
});
export const Identifier = Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]{0,62}$' });
export const ConnectionName = Type.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,62}$' });
/** A schema a connection lets pipelines reach (a plain identifier, never a reserved schema). */
export const SchemaName = Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]{0,62}$' });

/**
 * Schemas no pipeline may read or write, whatever its connection allows: the catalogs, TOAST and temporary schemas
 * (PostgreSQL reserves every `pg_*` name) and aoetl's own staging schema (the load ledger and staged chunks).
 */
export const RESERVED_SCHEMAS = ['pg_catalog', 'information_schema', 'pg_toast', 'pg_temp', 'aoetl_staging'] as const;

/** Whether a schema name is reserved (case-insensitively: `pg_*`, `information_schema`, `aoetl_staging`). */
export function isReservedSchema(schema: string): boolean {
  const s = schema.toLowerCase();
  return s.startsWith('pg_') || s === 'information_schema' || s === 'aoetl_staging';
}

export const WriteMode = Type.Union([Type.Literal('append'), Type.Literal('merge'), Type.Literal('replace')]);
export type WriteMode = Static<typeof WriteMode>;

export const MAX_CODE_BYTES = 64 * 1024;

export const MAX_INSTRUCTION_TEXT = 4096;

/** A source column as the planner sees it: a name and a PostgreSQL type name. */
export const ColumnSpec = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 63 }),
    type: Type.String({ minLength: 1, maxLength: 63, description: 'PostgreSQL type name (text, integer, numeric, timestamptz…)' }),
  },
  { additionalProperties: false },
);
export type ColumnSpec = Static<typeof ColumnSpec>;

/**
 * A PostgreSQL type name a target table may be created or altered with: words, an optional type modifier and an
 * optional array suffix (`text`, `numeric(12,2)`, `timestamp with time zone`, `int8[]`). Nothing else reaches DDL.
 */
export const DDL_TYPE_PATTERN = '^[A-Za-z_][A-Za-z0-9_]*( [A-Za-z_][A-Za-z0-9_]*){0,3}( ?\\([0-9]{1,4}( ?, ?[0-9]{1,4})?\\))?(\\[\\])?$';

/** An output column of a transform: a plain identifier and a type name fit for DDL. */
export const OutputColumn = Type.Object(
  {
    name: Identifier,
    type: Type.String({ minLength: 1, maxLength: 63, pattern: DDL_TYPE_PATTERN, description: 'PostgreSQL type name (text, int8, numeric(12,2), timestamptz…)' }),
  },
  { additionalProperties: false },
);
export type OutputColumn = Static<typeof OutputColumn>;
export const OutputColumns = Type.Array(OutputColumn, {
  minItems: 1,
  maxItems: 1600,
  description: "the transform's output columns and types, in order: what `target.create` creates and what schema drift is judged against",
});

export const PythonTransform = Type.Object(
  {
    kind: Type.Literal('python'),
    code: Type.String({ minLength: 1, maxLength: MAX_CODE_BYTES, description: 'Python source defining transform(rows)' }),
    output: Type.Optional(OutputColumns),
  },
  { additionalProperties: false },
);

/**
 * A plain-language transform, planned into code when the pipeline version is written. `columns` are the source
 * table's columns the planner plans against (given by the caller until source introspection lands).
 */
export const InstructionTransform = Type.Object(
  {
    kind: Type.Literal('instruction'),
    text: Type.String({ minLength: 1, maxLength: MAX_INSTRUCTION_TEXT, description: 'what the transform should do, in plain language' }),
    columns: Type.Array(ColumnSpec, { minItems: 1, maxItems: 1600, description: 'the source table\'s columns, in order' }),
    planner: Type.Optional(
      Type.Union([Type.Literal('rules'), Type.Literal('llm')], {
        description: 'who plans the runs: rules (the offline planner) or llm (the model planner when one is configured, with fallbacks); default: the service setting',
      }),
    ),
  },
  { additionalProperties: false },
);
export type InstructionTransform = Static<typeof InstructionTransform>;

/** Where generated code came from: recorded with the pipeline version (and its run snapshots) and its artifact. */
export const TransformProvenance = Type.Object(
  {
    planner: Type.Union([Type.Literal('rules'), Type.Literal('llm')]),
    plannerVersion: Type.String({ minLength: 1, maxLength: 100 }),
    instructionSha256: Type.String({ pattern: '^[0-9a-f]{64}$' }),
    sampleSha256: Type.Union([Type.String({ pattern: '^[0-9a-f]{64}$' }), Type.Null()], { description: 'the masked sample planned against, if any' }),
    codeSha256: Type.String({ pattern: '^[0-9a-f]{64}$' }),
    requestedBy: Type.String({ minLength: 1, maxLength: 300 }),
  },
  { additionalProperties: false },
);
export type TransformProvenance = Static<typeof TransformProvenance>;

/** An instruction transform as stored: the instruction, the code planned from it and its provenance. */
export const PlannedInstructionTransform = Type.Object(
  {
    ...InstructionTransform.properties,
    code: Type.String({ minLength: 1, maxLength: MAX_CODE_BYTES, description: 'the Python planned from the instruction (read-only)' }),
    explanation: Type.String({ maxLength: 16_000 }),
    provenance: TransformProvenance,
    /** The output columns the planner derived (read-only); absent on versions planned before it recorded them. */
    output: Type.Optional(OutputColumns),
  },
  { additionalProperties: false },
);
export type PlannedInstructionTransform = Static<typeof PlannedInstructionTransform>;

/**
 * A transform pushed down into the source database: one plain SELECT over the pipeline's source table and the
 * relations its connection allows, checked by `@aoetl/sqlguard` when the pipeline version is written and run as
 * `COPY (<query>) TO STDOUT` straight into the target's `COPY … FROM STDIN` (no sandbox).
 */
export const SqlTransform = Type.Object(
  {
    kind: Type.Literal('sql'),
    query: Type.String({ minLength: 1, maxLength: MAX_CODE_BYTES, description: 'one SELECT (checked on the PostgreSQL parser)' }),
  },
  { additionalProperties: false },
);
export type SqlTransform = Static<typeof SqlTransform>;

/** A transform as a client writes it. */
export const TransformSpec = Type.Union([PythonTransform, InstructionTransform, SqlTransform]);
/** A transform as stored and run: always carries its code (a sql transform's code is its query). */
export const StoredTransform = Type.Union([PythonTransform, PlannedInstructionTransform, SqlTransform]);
export type StoredTransform = Static<typeof StoredTransform>;

/** The text a stored transform runs, stored as its artifact: the Python code, or a sql transform's query. */
export function transformSource(t: StoredTransform): string {
  return t.kind === 'sql' ? t.query : t.code;
}

/** The artifact language of a stored transform. */
export function transformLanguage(t: StoredTransform): 'python' | 'sql' {
  return t.kind === 'sql' ? 'sql' : 'python';
}

export const PipelineSource = Type.Object(
  {
    connection: ConnectionName,
    table: QualifiedName,
  },
  { additionalProperties: false },
);

export const PipelineTarget = Type.Object(
  {
    connection: ConnectionName,
    table: QualifiedName,
    mode: WriteMode,
    keys: Type.Optional(Type.Array(Identifier, { minItems: 1, maxItems: 16, uniqueItems: true })),
    create: Type.Optional(
      Type.Boolean({ description: "create the target table from the transform's output columns when it does not exist (needs the output columns)" }),
    ),
    allowBreakingDrift: Type.Optional(
      Type.Boolean({
        description:
          'let a run drop target columns the output no longer has and retype changed ones; every run of such a version needs an approval',
      }),
    ),
  },
  { additionalProperties: false },
);

/** Incremental extraction: each run reads only the source rows past the watermark the last committed run stored. */
export const IncrementalSpec = Type.Object(
  {
    column: Type.String({
      pattern: '^[A-Za-z_][A-Za-z0-9_]{0,62}$',
      description: 'the source column that grows monotonically (integer, numeric, date or timestamp); rows become visible in its order',
    }),
  },
  { additionalProperties: false },
);
export type IncrementalSpec = Static<typeof IncrementalSpec>;

export const PipelineSpec = Type.Object(
  {
    name: Type.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,62}$' }),
    description: Type.Optional(Type.String({ maxLength: 1000 })),
    source: PipelineSource,
    target: PipelineTarget,
    transform: TransformSpec,
    /** Number of chunks the source is split into (by a hash of its primary key); default set by the orchestrator. */
    chunks: Type.Optional(Type.Integer({ minimum: 1, maximum: 64 })),
    incremental: Type.Optional(IncrementalSpec),
    checks: Type.Optional(Type.Array(QualityCheck, { maxItems: MAX_CHECKS, description: 'quality gates evaluated on the staged rows before the commit' })),
  },
  { additionalProperties: false },
);
export type PipelineSpec = Static<typeof PipelineSpec>;

/** Non-secret description of a database: where it is and which Vault role issues its credentials. */
export const ConnectionDescriptor = Type.Object(
  {
    name: ConnectionName,
    kind: Type.Literal('postgres'),
    host: Type.String({ minLength: 1, maxLength: 255 }),
    port: Type.Integer({ minimum: 1, maximum: 65535 }),
    database: Type.String({ minLength: 1, maxLength: 63 }),
    vaultRole: Type.String({ pattern: '^[a-z0-9][a-z0-9/_-]{0,200}$', description: 'Vault path issuing credentials' }),
  },
  { additionalProperties: false },
);
export type ConnectionDescriptor = Static<typeof ConnectionDescriptor>;

export const RunStatus = Type.Union([
  Type.Literal('awaiting_approval'),
  Type.Literal('queued'),
  Type.Literal('planning'),
  Type.Literal('running'),
  Type.Literal('succeeded'),
  Type.Literal('failed'),
  Type.Literal('cancelled'),
]);
export type RunStatus = Static<typeof RunStatus>;
export const TERMINAL_STATUSES: readonly RunStatus[] = ['succeeded', 'failed', 'cancelled'];
