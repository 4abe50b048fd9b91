import { PLANNER_VERSION, outputSchema, planFromInstruction, type Column, type PlanOk } from '@aoetl/codegen';
import { DDL_TYPE_PATTERN, UnmappableError, type InstructionTransform, type OutputColumn, type PlannedInstructionTransform, type StoredTransform } from '@aoetl/contracts';
import { sha256Hex, type StoredPipelineSpec } from '@aoetl/store';

/**
 * Plans an instruction with the offline planner; UnmappableError (422) naming `field` and the clause it could not
 * map — never a guess.
 */
export function planOrRefuse(text: string, columns: readonly Column[], field: string): PlanOk {
  const planned = planFromInstruction(text, [...columns]);
  if (!planned.ok) {
    const message = `cannot map '${planned.clause}': ${planned.reason}`;
    throw new UnmappableError(message, { details: [{ field, message }] });
  }
  return planned;
}

const DDL_TYPE = new RegExp(DDL_TYPE_PATTERN);
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/** The planned output columns, when every one is a plain identifier with a type fit for DDL (else none). */
export function plannedOutput(plan: PlanOk['plan'], columns: readonly Column[]): OutputColumn[] | undefined {
  const out = outputSchema(plan, columns);
  return out.length > 0 && out.every((c) => IDENTIFIER.test(c.name) && DDL_TYPE.test(c.type)) ? out.map((c) => ({ name: c.name, type: c.type })) : undefined;
}

/**
 * The transform as stored: an instruction planned into code with its provenance; code as written. An instruction
 * already planned (a rollback restoring a stored version) keeps its code and provenance byte for byte.
 */
export function plannedTransform(transform: InstructionTransform | StoredTransform, requestedBy: string): StoredTransform {
  if (transform.kind === 'python' || transform.kind === 'sql' || 'code' in transform) return transform;
  const { kind, text, columns, planner } = transform;
  const planned = planOrRefuse(text, columns, 'body/transform/text');
  const provenance = {
    planner: 'rules' as const,
    plannerVersion: PLANNER_VERSION,
    instructionSha256: sha256Hex(text),
    sampleSha256: null,
    codeSha256: sha256Hex(planned.code),
    requestedBy,
  };
  const output = plannedOutput(planned.plan, columns);
  const stored: PlannedInstructionTransform = {
    kind, text, columns, ...(planner ? { planner } : {}), code: planned.code, explanation: planned.explanation, provenance,
    ...(output ? { output } : {}),
  };
  return stored;
}

/** Operations that compare rows with each other: they see the whole source only when it is one chunk. */
const WHOLE_TABLE_OPERATIONS = new Set(['dedupe', 'aggregate', 'sort']);

/**
 * A spec with its transform planned (see `plannedTransform`). A newly planned instruction that deduplicates,
 * aggregates or sorts runs as one chunk (chunks are split by a hash of the key, so each chunk would only see its
 * share of the rows); the explanation says so.
 */
export function plannedSpec<S extends Omit<StoredPipelineSpec, 'transform'> & { transform: InstructionTransform | StoredTransform }>(
  spec: S,
  requestedBy: string,
): StoredPipelineSpec {
  const transform = plannedTransform(spec.transform, requestedBy);
  if (spec.transform.kind !== 'instruction' || 'code' in spec.transform || transform.kind !== 'instruction') return { ...spec, transform };
  const { plan } = planOrRefuse(spec.transform.text, spec.transform.columns, 'body/transform/text');
  if (!plan.some((step) => WHOLE_TABLE_OPERATIONS.has(step.op))) return { ...spec, transform };
  const explanation = `${transform.explanation} Runs as one chunk: it compares rows across the whole source.`;
  return { ...spec, chunks: 1, transform: { ...transform, explanation } };
}
