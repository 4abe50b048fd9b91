import { isReservedSchema, type StoredTransform } from '@aoetl/contracts';
import { describeRefusal, guardQuery } from './guard.js';

/** What a pipeline reaches: its source and target tables, each with its connection's allowed schemas, and its transform. */
export interface PipelineReach {
  source: { table: string; allowedSchemas: readonly string[] };
  target: { table: string; allowedSchemas: readonly string[] };
  transform: StoredTransform;
}

/** Where each part of a pipeline spec sits in a request body (the fields refusals name). */
/** One reason a pipeline reaches too far, naming its field. */
export interface ReachProblem {
  field: string;
  message: string;
}

export interface ReachFields {
  source: string;
  target: string;
  query: string;
}
const BODY_FIELDS: ReachFields = { source: 'body/source/table', target: 'body/target/table', query: 'body/transform/query' };

/** Why `schema.table` is out of reach of a connection that allows `allowed`, or null. */
export function tableReachProblem(table: string, allowed: readonly string[]): string | null {
  const schema = table.split('.')[0] ?? '';
  if (isReservedSchema(schema)) return `schema '${schema}' is reserved and can never be reached`;
  if (!allowed.includes(schema)) {
    return `schema '${schema}' is not in the connection's allowed schemas (${allowed.length ? allowed.join(', ') : 'none'})`;
  }
  return null;
}

/**
 * Every reason a pipeline reaches too far, each naming its field: a source or target table outside its connection's
 * allowed schemas (or in a reserved schema), and every refusal of a sql transform's query by the guard ("rule at
 * position N: …"). Empty: the pipeline stays in reach.
 */
export async function reachProblems(p: PipelineReach, fields: ReachFields = BODY_FIELDS): Promise<ReachProblem[]> {
  const found: ReachProblem[] = [];
  for (const side of ['source', 'target'] as const) {
    const problem = tableReachProblem(p[side].table, p[side].allowedSchemas);
    if (problem) found.push({ field: fields[side], message: problem });
  }
  if (p.transform.kind === 'sql') {
    const result = await guardQuery(p.transform.query, { sourceTable: p.source.table, allowedSchemas: p.source.allowedSchemas });
    if (!result.ok) for (const r of result.refusals) found.push({ field: fields.query, message: describeRefusal(r) });
  }
  return found;
}
