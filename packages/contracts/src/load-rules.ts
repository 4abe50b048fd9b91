import type { OutputColumn, PipelineSpec } from './pipeline.js';
import { checkColumns, checkProblems } from './quality.js';

type Problem = { field: string; message: string };

/** Schemas a load may never create or alter tables in: the loader's own bookkeeping and the catalogs. */
export const RESERVED_SCHEMA = /^(aoetl_staging|information_schema|pg_.*)$/i;

/**
 * Cross-field rules of write modes, provisioning, incremental loads and quality gates that the JSON schema cannot
 * say, each naming its field (`body/...`). `output` is the transform's output columns when known (declared for
 * python, planned for an instruction); `sourceColumns` the source's columns when the spec names them.
 */
export function loadSpecProblems(
  spec: Pick<PipelineSpec, 'target' | 'incremental' | 'checks'>,
  output: readonly OutputColumn[] | undefined,
  sourceColumns?: readonly string[],
): Problem[] {
  const found: Problem[] = [];
  const names = output?.map((c) => c.name);
  if (names) {
    const seen = new Set<string>();
    names.forEach((n, i) => {
      if (seen.has(n)) found.push({ field: `body/transform/output/${i}/name`, message: `column ${n} appears twice` });
      seen.add(n);
    });
  }
  if (spec.target.create && !output) {
    found.push({
      field: 'body/target/create',
      message: "create needs the transform's output columns: declare transform.output (python), or use an instruction the planner can type",
    });
  }
  const schema = spec.target.table.split('.')[0] ?? '';
  if ((spec.target.create || spec.target.allowBreakingDrift) && RESERVED_SCHEMA.test(schema)) {
    found.push({ field: 'body/target/table', message: `aoetl never creates or alters tables in schema ${schema}` });
  }
  if (spec.target.allowBreakingDrift && !output) {
    found.push({ field: 'body/target/allowBreakingDrift', message: 'drift is judged against declared output columns: declare transform.output' });
  }
  if (names && spec.target.keys) {
    spec.target.keys.forEach((k, i) => {
      if (!names.includes(k)) found.push({ field: `body/target/keys/${i}`, message: `key ${k} is not an output column` });
    });
  }
  if (spec.target.mode !== 'merge' && spec.target.keys?.length && spec.target.create) {
    found.push({ field: 'body/target/keys', message: `keys are only used by mode merge (mode is ${spec.target.mode})` });
  }
  if (spec.incremental && sourceColumns && !sourceColumns.includes(spec.incremental.column)) {
    found.push({ field: 'body/incremental/column', message: `${spec.incremental.column} is not a source column` });
  }
  found.push(...checkProblems(spec.checks, 'body/checks'));
  if (names) {
    (spec.checks ?? []).forEach((c, i) => {
      const field = `body/checks/${i}/${'column' in c ? 'column' : 'columns' in c ? 'columns' : 'expression'}`;
      for (const col of checkColumns(c)) {
        if (!names.includes(col)) found.push({ field, message: `${col} is not an output column` });
      }
    });
  }
  return found;
}
