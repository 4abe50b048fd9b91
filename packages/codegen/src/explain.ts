import type { Condition, Operation } from './types.js';

function cond(c: Condition): string {
  switch (c.kind) {
    case 'all':
      return c.conditions.map(cond).join(' and ');
    case 'any':
      return c.conditions.map(cond).join(' or ');
    case 'null':
      return `${c.column} is ${c.negate ? 'not ' : ''}${c.blank ? 'missing or blank' : 'null'}`;
    case 'in':
      return `${c.column} is ${c.negate ? 'not ' : ''}one of ${c.values.map((v) => JSON.stringify(v)).join(', ')}${c.ignoreCase ? ' (ignoring case)' : ''}`;
    case 'text':
      return `${c.column} ${c.negate ? 'does not ' : ''}${{ regex: 'match', contains: 'contain', starts_with: 'start with', ends_with: 'end with' }[c.match]}${c.negate ? '' : 'es'.slice(c.match === 'regex' ? 0 : 1)} ${JSON.stringify(c.value)}${c.ignoreCase ? ' (ignoring case)' : ''}`;
    case 'compare':
      return `${c.column} ${c.operator} ${JSON.stringify(c.value)}${c.ignoreCase ? ' (ignoring case)' : ''}`;
  }
}

/** One short sentence per operation. */
export function explainOperation(op: Operation): string {
  switch (op.op) {
    case 'filter':
      return `${op.keep ? 'Keep only' : 'Drop'} rows where ${cond(op.condition)}.`;
    case 'select':
      return `Keep the columns ${op.columns.join(', ')}.`;
    case 'drop':
      return `Drop the columns ${op.columns.join(', ')}.`;
    case 'rename':
      return `Rename ${op.from} to ${op.to}.`;
    case 'cast': {
      const target = op.to === 'numeric' && op.scale !== null ? `numeric with ${op.scale} decimal places` : op.to === 'timestamp' ? `a UTC timestamp (times without an offset are ${op.timezone})` : op.to;
      return `Convert ${op.column} to ${target}; values that do not parse ${op.onError === 'drop' ? 'drop their row' : 'become null'}.`;
    }
    case 'text':
      return `${{ trim: 'Trim', lower: 'Lower-case', upper: 'Upper-case', title: 'Title-case', collapse: 'Collapse whitespace in' }[op.fn]} ${op.columns.join(', ')}.`;
    case 'fill_null':
      return `Fill null or blank ${op.column} with ${JSON.stringify(op.value)}.`;
    case 'drop_null':
      return `Drop rows where ${op.columns.join(' or ')} is null or blank.`;
    case 'dedupe': {
      const keep = op.keep.rule === 'first' || op.keep.rule === 'last' ? `the ${op.keep.rule} row` : `the row with the ${op.keep.rule} ${op.keep.column}`;
      const how = [op.ignoreCase ? 'ignoring case' : '', op.ignoreWhitespace ? 'ignoring extra whitespace' : ''].filter(Boolean).join(' and ');
      return `Deduplicate by ${op.keys.join(', ')}${how ? ` (${how})` : ''}, keeping ${keep}.`;
    }
    case 'mask':
      return `Mask ${op.column}${op.style.kind === 'keep_prefix' ? `, keeping the first ${op.style.n} characters` : op.style.kind === 'email_domain' ? ', keeping the e-mail domain' : ` with ${JSON.stringify(op.style.token)}`}.`;
    case 'hash':
      return `SHA-256 (hex) of the trimmed, lower-cased ${op.column}${op.target === op.column ? ', in place' : ` into ${op.target}`}.`;
    case 'phone':
      return `Normalise ${op.column} to E.164${op.country ? ` (national numbers from ${op.country})` : ''}${op.target === op.column ? '' : ` into ${op.target}`}; invalid numbers become null.`;
    case 'split':
      return `Split ${op.column} on ${op.separator === null ? 'whitespace' : JSON.stringify(op.separator)} into ${op.into.join(', ')}.`;
    case 'concat':
      return `Concatenate ${op.columns.join(', ')} with ${JSON.stringify(op.separator)} into ${op.target} (nulls skipped).`;
    case 'date_part':
      return `Extract the ${op.part} of ${op.column} (UTC) into ${op.target}.`;
    case 'date_trunc':
      return `Truncate ${op.column} to the ${op.unit} (UTC)${op.target === op.column ? '' : ` into ${op.target}`}.`;
    case 'aggregate':
      return `${op.groupBy.length ? `Group by ${op.groupBy.join(', ')}` : 'Over all rows'}: ${op.measures.map((m) => `${m.as} = ${m.fn}(${m.column ?? '*'})`).join(', ')}.`;
    case 'sort':
      return `Sort by ${op.keys.map((k) => `${k.column}${k.descending ? ' descending' : ''}`).join(', ')} (nulls last).`;
  }
}
