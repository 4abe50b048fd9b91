import { InputError } from '@aoetl/contracts';
import { HELPER_ORDER, HELPERS } from './python-helpers.js';
import { applySchema, typeKind } from './schema.js';
import type { Column, Condition, Literal, Operation } from './types.js';

export interface CompiledPlan {
  code: string;
  outputColumns: Column[];
}

/** A Python string literal (JSON string syntax is valid Python). */
export function pyStr(s: string): string {
  return JSON.stringify(s);
}

const ISO_DATE = /^\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2})?(?:Z|[+-]\d{2}(?::?\d{2})?)?)?$/;
const IANA_ZONE = /^[A-Za-z]+(?:\/[A-Za-z_+-]+)+$/;
const FIXED_ZONE = /^(?:UTC|GMT|Z|[+-]\d{2}(?::?\d{2})?)$/i;

class Emitter {
  readonly helpers = new Set<string>();
  readonly imports = new Set<string>();

  use(name: string): void {
    if (this.helpers.has(name)) return;
    const helper = HELPERS[name]!;
    this.helpers.add(name);
    helper.imports.forEach((i) => this.imports.add(i));
    helper.deps.forEach((d) => this.use(d));
  }

  decimal(value: number | string): string {
    this.imports.add('decimal');
    return `decimal.Decimal(${pyStr(String(value))})`;
  }

  /** A tzinfo expression for a zone name: UTC, a fixed offset, or an IANA name. */
  zone(name: string): string {
    if (FIXED_ZONE.test(name)) {
      this.use('zone');
      return `zone(${pyStr(name)})`;
    }
    if (!IANA_ZONE.test(name)) throw new InputError(`unknown time zone "${name}"`, { details: [{ field: 'timezone', message: 'not a zone name' }] });
    this.imports.add('zoneinfo');
    return `zoneinfo.ZoneInfo(${pyStr(name)})`;
  }
}

function literal(value: Literal): string {
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  if (typeof value === 'number') return String(value);
  return pyStr(value);
}

/** A Python expression for `value` as a value of a column of `type` (fill_null). */
function typedLiteral(e: Emitter, value: Literal, type: string): string {
  const kind = typeKind(type);
  if (kind === 'numeric') return e.decimal(value as number);
  if (kind === 'float') return `float(${pyStr(String(value))})`;
  if (kind === 'int' && typeof value === 'number' && Number.isInteger(value)) return String(value);
  if (kind === 'bool' && typeof value === 'boolean') return literal(value);
  if (kind === 'int' || kind === 'bool') throw new InputError(`the value ${JSON.stringify(value)} does not fit a ${type} column`);
  return pyStr(String(value));
}

function cell(column: string): string {
  return `row[${pyStr(column)}]`;
}

function conditionExpr(e: Emitter, c: Condition, types: Map<string, string>): string {
  switch (c.kind) {
    case 'all':
    case 'any':
      return `(${c.conditions.map((x) => conditionExpr(e, x, types)).join(c.kind === 'all' ? ' and ' : ' or ')})`;
    case 'null':
      e.use('is_missing');
      return `${c.negate ? 'not ' : ''}is_missing(${cell(c.column)}, ${c.blank ? 'True' : 'False'})`;
    case 'text':
      e.use('text');
      e.use('text_match');
      return `text_match(text(${cell(c.column)}), ${pyStr(c.match)}, ${pyStr(c.value)}, ${c.ignoreCase ? 'True' : 'False'}, ${c.negate ? 'True' : 'False'})`;
    case 'in': {
      const { expr, lit } = operands(e, c.column, c.values[0]!, c.ignoreCase, types);
      e.use('isin');
      const values = c.values.map((v) => lit(v));
      return `isin(${expr}, (${values.join(', ')}${values.length === 1 ? ',' : ''}), ${c.negate ? 'True' : 'False'})`;
    }
    case 'compare': {
      const { expr, lit } = operands(e, c.column, c.value, c.ignoreCase, types);
      e.use('compare');
      return `compare(${expr}, ${pyStr(c.operator)}, ${lit(c.value)})`;
    }
  }
}

/** How a column's value and a literal are compared: as numbers, instants, booleans or text. */
function operands(e: Emitter, column: string, sample: Literal, ignoreCase: boolean, types: Map<string, string>): { expr: string; lit: (v: Literal) => string } {
  const kind = typeKind(types.get(column)!);
  if (typeof sample === 'number') {
    e.use('parse_decimal');
    return { expr: `parse_decimal(${cell(column)})`, lit: (v) => e.decimal(v as number) };
  }
  if (typeof sample === 'boolean') {
    e.use('parse_bool');
    return { expr: `parse_bool(${cell(column)})`, lit: literal };
  }
  if (kind === 'date' || kind === 'timestamp' || ISO_DATE.test(sample)) {
    e.use('parse_when');
    return { expr: `as_instant(${cell(column)})`, lit: (v) => `as_instant(${pyStr(String(v))})` };
  }
  e.use('text');
  if (ignoreCase) return { expr: `(text(${cell(column)}) or "").lower()`, lit: (v) => pyStr(String(v).toLowerCase()) };
  return { expr: `text(${cell(column)})`, lit: (v) => pyStr(String(v)) };
}

/** The body lines (indented 4) of `step(rows)` for one operation. */
function stepBody(e: Emitter, op: Operation, columns: Column[]): string[] {
  const types = new Map(columns.map((c) => [c.name, c.type]));
  const perRow = (lines: string[]): string[] => ['for row in rows:', ...lines.map((l) => `    ${l}`), 'return rows'];
  switch (op.op) {
    case 'filter': {
      const expr = conditionExpr(e, op.condition, types);
      return [`return [row for row in rows if ${op.keep ? expr : `not ${expr}`}]`];
    }
    case 'select':
      return [`return [{${op.columns.map((c) => `${pyStr(c)}: ${cell(c)}`).join(', ')}} for row in rows]`];
    case 'drop':
      return perRow(op.columns.map((c) => `del ${cell(c)}`));
    case 'rename':
      return perRow([`row[${pyStr(op.to)}] = row.pop(${pyStr(op.from)})`]);
    case 'cast': {
      let parse: string;
      const v = cell(op.column);
      if (op.to === 'integer') {
        e.use('parse_int');
        parse = `parse_int(value)`;
      } else if (op.to === 'numeric') {
        e.use('parse_decimal');
        if (op.scale === null) parse = `parse_decimal(value)`;
        else {
          e.use('quantize');
          parse = `quantize(parse_decimal(value), ${op.scale})`;
        }
      } else if (op.to === 'boolean') {
        e.use('parse_bool');
        parse = `parse_bool(value)`;
      } else if (op.to === 'date') {
        e.use('parse_date');
        parse = `parse_date(value, ${op.dayFirst === null ? 'None' : op.dayFirst ? 'True' : 'False'})`;
      } else {
        e.use('parse_ts');
        parse = `parse_ts(value, default_zone)`;
      }
      e.use('is_missing');
      const lines = [
        ...(op.to === 'timestamp' ? [`default_zone = ${e.zone(op.timezone)}`] : []),
        'out = []',
        'for row in rows:',
        `    value = ${v}`,
        '    if is_missing(value, True):',
        `        ${v} = None`,
        '    else:',
        `        ${v} = ${parse}`,
        ...(op.onError === 'drop' ? [`        if ${v} is None:`, '            continue'] : []),
        '    out.append(row)',
        'return out',
      ];
      return lines;
    }
    case 'text': {
      const fn = {
        trim: 'value.strip()',
        lower: 'value.lower()',
        upper: 'value.upper()',
        title: 'value.title()',
        collapse: 're.sub(r"\\s+", " ", value).strip()',
      }[op.fn];
      if (op.fn === 'collapse') e.imports.add('re');
      return perRow(
        op.columns.flatMap((c) => [`value = ${cell(c)}`, 'if isinstance(value, str):', `    ${cell(c)} = ${fn}`]),
      );
    }
    case 'fill_null':
      e.use('is_missing');
      return perRow([`if is_missing(${cell(op.column)}, True):`, `    ${cell(op.column)} = ${typedLiteral(e, op.value, types.get(op.column)!)}`]);
    case 'drop_null':
      e.use('is_missing');
      return [`return [row for row in rows if not (${op.columns.map((c) => `is_missing(${cell(c)}, True)`).join(' or ')})]`];
    case 'dedupe': {
      e.use('dedupe_key');
      const key = op.keys.map((k) => `dedupe_key(${cell(k)}, ${op.ignoreCase ? 'True' : 'False'}, ${op.ignoreWhitespace ? 'True' : 'False'})`);
      let replace: string;
      if (op.keep.rule === 'first') replace = 'False';
      else if (op.keep.rule === 'last') replace = 'True';
      else {
        e.use('order_value');
        replace = `better(${cell(op.keep.column)}, kept[key][${pyStr(op.keep.column)}], ${op.keep.rule === 'highest' ? 'True' : 'False'})`;
      }
      return [
        'kept = {}',
        'for row in rows:',
        `    key = (${key.join(', ')}${key.length === 1 ? ',' : ''})`,
        '    if key not in kept:',
        '        kept[key] = row',
        ...(replace === 'False' ? [] : [`    elif ${replace}:`, '        kept[key] = row']),
        'return list(kept.values())',
      ];
    }
    case 'mask': {
      e.use('mask_value');
      const s = op.style;
      const expr =
        s.kind === 'keep_prefix' ? `mask_prefix(${cell(op.column)}, ${s.n})` : s.kind === 'email_domain' ? `mask_email(${cell(op.column)})` : `None if ${cell(op.column)} is None else ${pyStr(s.token)}`;
      return perRow([`${cell(op.column)} = ${expr}`]);
    }
    case 'hash':
      e.use('sha256_hex');
      return perRow([`${cell(op.target)} = sha256_hex(${cell(op.column)})`]);
    case 'phone':
      e.use('phone_e164');
      return perRow([`${cell(op.target)} = phone_e164(${cell(op.column)}, ${op.country === null ? 'None' : pyStr(op.country)})`]);
    case 'split':
      e.use('split_parts');
      return perRow([
        `parts = split_parts(${cell(op.column)}, ${op.separator === null ? 'None' : pyStr(op.separator)}, ${op.into.length})`,
        ...op.into.map((name, i) => `${cell(name)} = parts[${i}]`),
      ]);
    case 'concat':
      e.use('concat_values');
      return perRow([`${cell(op.target)} = concat_values([${op.columns.map(cell).join(', ')}], ${pyStr(op.separator)})`]);
    case 'date_part':
      e.use('date_part');
      return perRow([`${cell(op.target)} = date_part(${cell(op.column)}, ${pyStr(op.part)})`]);
    case 'date_trunc':
      e.use('date_part');
      return perRow([`${cell(op.target)} = date_trunc(${cell(op.column)}, ${pyStr(op.unit)})`]);
    case 'aggregate': {
      const fields = op.measures.map((m) => {
        if (m.column === null) return `${pyStr(m.as)}: len(members)`;
        const values = `[member[${pyStr(m.column)}] for member in members]`;
        if (m.fn === 'count') return `${pyStr(m.as)}: len([v for v in ${values} if v is not None])`;
        e.use('aggregates');
        return `${pyStr(m.as)}: agg_${m.fn}(${values})`;
      });
      const key = op.groupBy.map(cell);
      return [
        'groups = {}',
        'for row in rows:',
        `    groups.setdefault((${key.join(', ')}${key.length === 1 ? ',' : ''}), []).append(row)`,
        ...(op.groupBy.length === 0 ? ['if not groups:', '    groups[()] = []'] : []),
        'out = []',
        'for key, members in groups.items():',
        `    out.append({${[...op.groupBy.map((g, i) => `${pyStr(g)}: key[${i}]`), ...fields].join(', ')}})`,
        'return out',
      ];
    }
    case 'sort':
      e.use('order_value');
      return [
        ...[...op.keys].reverse().flatMap((k) => [
          `present = [row for row in rows if ${cell(k.column)} is not None]`,
          `present.sort(key=lambda row: order_value(${cell(k.column)})${k.descending ? ', reverse=True' : ''})`,
          `rows = present + [row for row in rows if ${cell(k.column)} is None]`,
        ]),
        'return rows',
      ];
  }
}

/**
 * Compiles a plan to Python source defining `transform(rows)` for the sandbox harness, with
 * OUTPUT_COLUMNS. Deterministic: the same plan and columns give byte-identical code. Throws
 * InputError when the plan reads a column that does not exist at that step (or creates one twice).
 */
export function compilePlan(plan: readonly Operation[], inputColumns: readonly Column[]): CompiledPlan {
  const e = new Emitter();
  let columns: Column[] = [...inputColumns];
  const steps: string[] = [];
  plan.forEach((op, i) => {
    const next = applySchema(op, columns);
    const body = stepBody(e, op, columns);
    steps.push(`def step_${i + 1}(rows):\n    # ${op.op}\n${body.map((l) => `    ${l}`).join('\n')}\n`);
    columns = next;
  });
  const imports = [...e.imports].sort().map((m) => `import ${m}`);
  const helpers = HELPER_ORDER.filter((h) => e.helpers.has(h)).map((h) => HELPERS[h]!.source);
  const chain = plan.map((_, i) => `    rows = step_${i + 1}(rows)`);
  const header = '# Generated by the aoetl offline planner from a typed plan; do not edit by hand.';
  const parts = [
    imports.length > 0 ? `${header}\n${imports.join('\n')}` : header,
    ...helpers,
    ...steps,
    `OUTPUT_COLUMNS = [${columns.map((c) => pyStr(c.name)).join(', ')}]`,
    `def transform(rows):\n${chain.join('\n')}${chain.length > 0 ? '\n' : ''}    return rows\n`,
  ];
  return { code: parts.map((p) => p.trimEnd()).join('\n\n\n') + '\n', outputColumns: columns };
}
