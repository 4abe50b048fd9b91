import { Type, type Static } from '@sinclair/typebox';

/** `schema.table`, plain identifiers only (quoted when used). */
export const QualifiedName = Type.String({
  pattern: '^[A-Za-z_][A-Za-z0-9_]{0,62}\\.[A-Za-z_][A-Za-z0-9_]{0,62}$',
  description: 'schema.table',
});
export const Identifier = Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]{0,62}$' });
export const ConnectionName = Type.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,62}$' });

export const WriteMode = Type.Union([Type.Literal('append'), Type.Literal('merge'), Type.Literal('replace')]);
export type WriteMode = Static<typeof WriteMode>;

export const MAX_CODE_BYTES = 64 * 1024;

export const PythonTransform = Type.Object(
  {
    kind: Type.Literal('python'),
    code: Type.String({ minLength: 1, maxLength: MAX_CODE_BYTES, description: 'Python source defining transform(rows)' }),
  },
  { additionalProperties: false },
);

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
  },
  { additionalProperties: false },
);

export const PipelineSpec = Type.Object(
  {
    name: Type.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,62}$' }),
    description: Type.Optional(Type.String({ maxLength: 1000 })),
    source: PipelineSource,
    target: PipelineTarget,
    transform: PythonTransform,
    /** Number of chunks the source is split into (by a hash of its primary key); default set by the orchestrator. */
    chunks: Type.Optional(Type.Integer({ minimum: 1, maximum: 64 })),
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
