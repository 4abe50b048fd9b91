import { Type } from '@sinclair/typebox';
import { isValid } from '@aoetl/contracts';
import { LlmAnswerError } from './errors.js';
import type { TokenUsage, TransformPlan } from './types.js';

export const PLAN_LANGUAGES = ['python'] as const;

/** The answer the model must give (OpenAI strict structured output: every property required, nothing else). */
export const TransformPlanSchema = Type.Object(
  {
    // `enum`, not TypeBox's Literal (`const`): the form every OpenAI-compatible server's structured output accepts.
    language: Type.String({ enum: [...PLAN_LANGUAGES] }),
    code: Type.String({ description: 'Python source defining transform(rows)' }),
    outputColumns: Type.Array(
      Type.Object({ name: Type.String(), type: Type.String({ description: 'PostgreSQL type name' }) }, { additionalProperties: false }),
    ),
    explanation: Type.String({ description: 'One or two sentences on what the code does' }),
  },
  { additionalProperties: false },
);

export const PLAN_SCHEMA_NAME = 'transform_plan';

/** The schema as plain JSON for `response_format` (TypeBox's symbol keys dropped). */
export function planJsonSchema(): Record<string, unknown> {
  return JSON.parse(JSON.stringify(TransformPlanSchema)) as Record<string, unknown>;
}

/** Parses the model's answer; throws `LlmAnswerError` (malformed_json | schema_mismatch). */
export function parsePlan(content: string, usage?: TokenUsage): TransformPlan {
  let value: unknown;
  try {
    value = JSON.parse(content);
  } catch (err) {
    throw new LlmAnswerError('the model answered with malformed JSON', { reason: 'malformed_json', cause: err, usage });
  }
  if (!isValid(TransformPlanSchema, value) || !(PLAN_LANGUAGES as readonly string[]).includes(value.language)) {
    throw new LlmAnswerError('the model answer does not match the transform plan schema', { reason: 'schema_mismatch', usage });
  }
  return value;
}
