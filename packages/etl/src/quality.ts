import type pg from 'pg';
import { checkColumns, checkName, expressionSql, parseExpression, type CheckResult, type QualityCheck } from '@aoetl/contracts';
import { quoteIdent } from './sql.js';

const EXAMPLES = 3;
const EXAMPLE_CHARS = 200;

interface Counted {
  n: string | number;
  examples: string[] | null;
}

/** Percent change from `baseline` to `n` (Infinity from 0 to more). */
export function changePercent(baseline: number, n: number): number {
  if (baseline === 0) return n === 0 ? 0 : Infinity;
  return (Math.abs(n - baseline) / baseline) * 100;
}

/**
 * The query counting the rows of `source` (a relation or parenthesized subquery, aliased `s`) that break a row
 * check, with a few offending values; null for the count checks. Values reach the query as parameters only.
 */
export function violationQuery(check: QualityCheck, source: string): { sql: string; params: unknown[] } | null {
  const ex = (expr: string) => `(array_agg(left(${expr}, ${EXAMPLE_CHARS})))[1:${EXAMPLES}]`;
  switch (check.kind) {
    case 'not_null':
      return { sql: `SELECT count(*) AS n, NULL::text[] AS examples FROM ${source} s WHERE s.${quoteIdent(check.column)} IS NULL`, params: [] };
    case 'unique': {
      const cols = check.columns.map((c) => `s.${quoteIdent(c)}`);
      const key = `row(${cols.join(', ')})::text`;
      const notNull = cols.map((c) => `${c} IS NOT NULL`).join(' AND ');
      return {
        sql: `SELECT coalesce(sum(d.c), 0) AS n, ${ex('d.k')} AS examples
              FROM (SELECT ${key} AS k, count(*) AS c FROM ${source} s WHERE ${notNull} GROUP BY ${cols.join(', ')} HAVING count(*) > 1) d`,
        params: [],
      };
    }
    case 'accepted_values': {
      const col = `s.${quoteIdent(check.column)}`;
      return {
        sql: `SELECT count(*) AS n, ${ex(`${col}::text`)} AS examples FROM ${source} s WHERE ${col} IS NOT NULL AND NOT (${col}::text = ANY($1::text[]))`,
        params: [check.values],
      };
    }
    case 'range': {
      const col = `s.${quoteIdent(check.column)}`;
      const params: unknown[] = [];
      const conds: string[] = [];
      // The bound's type is inferred from the column's (`col < $1`), so a date bound is compared as a date.
      if (check.min !== undefined) conds.push(`${col} < $${params.push(String(check.min))}`);
      if (check.max !== undefined) conds.push(`${col} > $${params.push(String(check.max))}`);
      return { sql: `SELECT count(*) AS n, ${ex(`${col}::text`)} AS examples FROM ${source} s WHERE ${conds.join(' OR ') || 'false'}`, params };
    }
    case 'expression': {
      const parsed = parseExpression(check.expression);
      if (!parsed.ok) return null;
      const params: unknown[] = [];
      const cond = expressionSql(parsed.expr, 's', params);
      const cols = checkColumns(check).map((c) => `s.${quoteIdent(c)}`);
      const example = cols.length ? ex(`row(${cols.join(', ')})::text`) : 'NULL::text[]';
      return { sql: `SELECT count(*) AS n, ${example} AS examples FROM ${source} s WHERE NOT coalesce(${cond}, false)`, params };
    }
    default:
      return null;
  }
}

function describe(check: QualityCheck): string {
  switch (check.kind) {
    case 'not_null':
      return `rows with NULL in ${check.column}`;
    case 'unique':
      return `rows sharing (${check.columns.join(', ')}) with another row`;
    case 'accepted_values':
      return `rows with a value of ${check.column} outside the ${check.values.length} accepted values`;
    case 'range':
      return `rows with ${check.column} outside [${check.min ?? '-∞'}, ${check.max ?? '∞'}]`;
    case 'expression':
      return 'rows for which the expression is not true';
    default:
      return check.kind;
  }
}

/**
 * Evaluates every check on the staged rows (`source`, aliased `s`), in the caller's transaction: row checks count
 * offending rows, `row_count` and `row_count_change` compare the staged row count with their bounds and with
 * `baselineRows` (the last successful run's). A check that cannot be evaluated (an unknown column, a bound of the
 * wrong type) fails with the reason. Messages carry counts and the check's own settings only, never row values;
 * `examples` do, and are for admins only.
 */
export async function evaluateChecks(
  tgt: pg.Client,
  source: string,
  checks: readonly QualityCheck[],
  baselineRows: number | null,
  columns: readonly string[],
): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  let total: number | null = null;
  const rowCount = async () => {
    if (total === null) {
      const { rows } = await tgt.query<{ n: string }>(`SELECT count(*) AS n FROM ${source} s`);
      total = Number(rows[0]?.n ?? 0);
    }
    return total;
  };
  for (const check of checks) {
    const base = { name: checkName(check), kind: check.kind };
    const unknown = checkColumns(check).filter((c) => !columns.includes(c));
    if (unknown.length > 0) {
      results.push({ ...base, passed: false, observed: 0, message: `not evaluated: ${unknown.join(', ')} not in the output columns` });
      continue;
    }
    if (check.kind === 'row_count') {
      const n = await rowCount();
      const passed = (check.min === undefined || n >= check.min) && (check.max === undefined || n <= check.max);
      results.push({ ...base, passed, observed: n, message: `${n} rows staged; expected ${check.min ?? 0}…${check.max ?? '∞'}` });
      continue;
    }
    if (check.kind === 'row_count_change') {
      const n = await rowCount();
      if (baselineRows === null) {
        results.push({ ...base, passed: true, observed: n, message: `${n} rows staged; no earlier successful run to compare with` });
        continue;
      }
      const pct = changePercent(baselineRows, n);
      const shown = Number.isFinite(pct) ? `${pct.toFixed(1)}%` : 'from none';
      results.push({
        ...base,
        passed: pct <= check.maxPercent,
        observed: n,
        message: `${n} rows staged vs ${baselineRows} in the last successful run (${shown}; at most ${check.maxPercent}%)`,
      });
      continue;
    }
    const q = violationQuery(check, source);
    if (!q) {
      results.push({ ...base, passed: false, observed: 0, message: 'not evaluated: the expression does not parse' });
      continue;
    }
    await tgt.query('SAVEPOINT aoetl_check');
    try {
      const { rows } = await tgt.query<Counted>(q.sql, q.params);
      await tgt.query('RELEASE SAVEPOINT aoetl_check');
      const n = Number(rows[0]?.n ?? 0);
      const examples = rows[0]?.examples?.filter((e): e is string => e !== null) ?? [];
      results.push({ ...base, passed: n === 0, observed: n, message: `${n} ${describe(check)}`, ...(n > 0 && examples.length ? { examples } : {}) });
    } catch (err) {
      await tgt.query('ROLLBACK TO SAVEPOINT aoetl_check');
      const code = (err as { code?: string }).code ?? 'unknown';
      results.push({ ...base, passed: false, observed: 0, message: `not evaluated: the database refused the check (SQLSTATE ${code})` });
    }
  }
  return results;
}
