import { Type } from '@sinclair/typebox';
import { FailureReason, PipelineSpec, RunStatus, Uuid } from '@aoetl/contracts';

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);
const Timestamp = Type.String({ description: 'RFC 3339 timestamp' });

export const ProblemSchema = Type.Object({
  type: Type.String(),
  title: Type.String(),
  status: Type.Integer(),
  detail: Type.Optional(Type.String()),
  errors: Type.Optional(Type.Array(Type.Object({ field: Type.Optional(Type.String()), message: Type.String() }))),
});

export const PipelineResponse = Type.Object(
  {
    id: Uuid,
    name: Type.String(),
    spec: PipelineSpec,
    createdBy: Type.String(),
    createdAt: Timestamp,
  },
  { additionalProperties: false },
);

export const RunStep = Type.Object({ status: Type.String(), at: Timestamp, detail: Type.Unknown() });

export const RunResponse = Type.Object(
  {
    id: Uuid,
    pipelineId: Uuid,
    status: RunStatus,
    submittedBy: Type.String(),
    requestId: Type.String(),
    artifactSha256: Nullable(Type.String()),
    rowsIn: Nullable(Type.Integer()),
    rowsOut: Nullable(Type.Integer()),
    bytesOut: Nullable(Type.Integer()),
    error: Nullable(FailureReason),
    createdAt: Timestamp,
    updatedAt: Timestamp,
    startedAt: Nullable(Timestamp),
    finishedAt: Nullable(Timestamp),
    steps: Type.Array(RunStep),
  },
  { additionalProperties: false },
);

export const RunAccepted = Type.Object({ runId: Uuid, status: RunStatus, created: Type.Boolean() }, { additionalProperties: false });

export const IdParams = Type.Object({ id: Uuid }, { additionalProperties: false });

export const errorResponses = {
  400: ProblemSchema,
  401: ProblemSchema,
  403: ProblemSchema,
  404: ProblemSchema,
  409: ProblemSchema,
};
