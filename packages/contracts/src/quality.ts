import { Type, type Static, type TProperties } from '@sinclair/typebox';
import { MAX_EXPRESSION, expressionColumns, parseExpression } from './expression.js';

/**
 * Quality gates: checks a pipeline declares, evaluated by the commit on the run's staged rows before anything is
 * written to the target. A failing check fails the run (`quality_check_failed`) with every check's result.
 */
export const MAX_CHECKS = 50;

const Column = Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]{0,62}$', description: 'an output column' });
const CheckName = Type.Optional(
  Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9 _.:-]{0,99}$', description: 'shown in results; default: kind and column' }),
);
/** Specs are hashed into the audit ledger as canonical JSON, which takes integers only: a decimal goes as text. */
const SAFE = Number.MAX_SAFE_INTEGER;
const Count = Type.Integer({ minimum: 0, maximum: SAFE });
/** Text that PostgreSQL's jsonb can store (no NUL). */
const NO_NUL = '^[^\\u0000]*$';
const Bound = Type.Union([Type.Integer({ minimum: -SAFE, maximum: SAFE }), Type.String({ minLength: 1, maxLength: 100, pattern: NO_NUL })], {
  description: 'compared in the column\'s own type: an integer, or text (a decimal such as "10.5", a date, a timestamp)',
});

const check = <K extends string, P extends TProperties>(
  kind: K,
  properties: P,
  description: string,
) => Type.Object({ kind: Type.Literal(kind), name: CheckName, ...properties }, { additionalProperties: false, description });

export const NotNullCheck = check('not_null', { column: Column }, 'no staged row has NULL in the column');
export const UniqueCheck = check(
  'unique',
  { columns: Type.Array(Column, { minItems: 1, maxItems: 16, uniqueItems: true }) },
  'no two staged rows share the columns\' values (NULLs never collide)',
);
export const AcceptedValuesCheck = check(
  'accepted_values',
  { column: Column, values: Type.Array(Type.String({ maxLength: 1000, pattern: NO_NUL }), { minItems: 1, maxItems: 1000, uniqueItems: true }) },
  'every non-NULL value, as text, is one of the values',
);
export const RangeCheck = check(
  'range',
  { column: Column, min: Type.Optional(Bound), max: Type.Optional(Bound) },
  'every non-NULL value is within [min, max] (at least one of them)',
);
export const RowCountCheck = check(
  'row_count',
  { min: Type.Optional(Count), max: Type.Optional(Count) },
  'the run stages between min and max rows (at least one of them)',
);
export const RowCountChangeCheck = check(
  'row_count_change',
  { maxPercent: Type.Integer({ minimum: 0, maximum: 100_000 }) },
  'the staged row count differs from that of the last successful run of the pipeline by at most maxPercent % (passes when there is none)',
);

export const ExpressionCheck = check(
  'expression',
  { expression: Type.String({ minLength: 1, maxLength: MAX_EXPRESSION }) },
  'every staged row makes the expression true (false or NULL fails it): columns, literals, comparisons, + - * /, ' +
    'AND/OR/NOT, IS [NOT] NULL, [NOT] IN (…), [NOT] BETWEEN … AND …; no functions, casts or subqueries',
);

export const QualityCheck = Type.Union([NotNullCheck, UniqueCheck, AcceptedValuesCheck, RangeCheck, RowCountCheck, RowCountChangeCheck, ExpressionCheck]);
export type QualityCheck = Static<typeof QualityCheck>;

/**
 * One check's outcome. Counts and bounds only: `examples` (a few offending values) are for the tenant's admins and
 * are removed from what readers see.
 */
export const CheckResult = Type.Object(
  {
    name: Type.String(),
    kind: Type.String(),
    passed: Type.Boolean(),
    /** Staged rows that break the check (row checks), or the observed row count (count checks). */
    observed: Type.Integer({ minimum: 0 }),
    message: Type.String({ maxLength: 1000 }),
    examples: Type.Optional(Type.Array(Type.String({ maxLength: 200 }), { maxItems: 5 })),
  },
  { additionalProperties: false },
);
export type CheckResult = Static<typeof CheckResult>;

/** The output columns a check reads (an expression's, when it parses). */
export function checkColumns(c: QualityCheck): string[] {
  if ('column' in c) return [c.column];
  if ('columns' in c) return c.columns;
  if (c.kind === 'expression') {
    const parsed = parseExpression(c.expression);
    return parsed.ok ? [...new Set(expressionColumns(parsed.expr))] : [];
  }
  return [];
}

/** The name a check is reported under. */
export function checkName(c: QualityCheck): string {
  if (c.name) return c.name;
  if ('column' in c) return `${c.kind}:${c.column}`;
  if ('columns' in c) return `${c.kind}:${c.columns.join(',')}`;
  return c.kind;
}

/** Cross-field rules of checks the JSON schema cannot say, each naming its field under `prefix` (e.g. `body/checks`). */
export function checkProblems(checks: readonly QualityCheck[] | undefined, prefix: string): { field: string; message: string }[] {
  const found: { field: string; message: string }[] = [];
  const names = new Set<string>();
  (checks ?? []).forEach((c, i) => {
    const at = `${prefix}/${i}`;
    if ((c.kind === 'range' || c.kind === 'row_count') && c.min === undefined && c.max === undefined) {
      found.push({ field: at, message: `a ${c.kind} check needs min, max or both` });
    }
    if (c.kind === 'row_count' && c.min !== undefined && c.max !== undefined && c.min > c.max) {
      found.push({ field: `${at}/min`, message: `min (${c.min}) is greater than max (${c.max})` });
    }
    if (c.kind === 'range' && typeof c.min === 'number' && typeof c.max === 'number' && c.min > c.max) {
      found.push({ field: `${at}/min`, message: `min (${c.min}) is greater than max (${c.max})` });
    }

    if (c.kind === 'expression') {
      const parsed = parseExpression(c.expression);
      if (!parsed.ok) found.push({ field: `${at}/expression`, message: `${parsed.message} at position ${parsed.position}` });
    }
    const name = checkName(c);
    if (names.has(name)) found.push({ field: `${at}/name`, message: `two checks are named '${name}'; name them apart` });
    names.add(name);
  });
  return found;
}
