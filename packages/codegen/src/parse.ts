import { InputError } from '@aoetl/contracts';
import { applySchema, typeKind } from './schema.js';
import { maskQuotes, splitList, splitSpans, unquote } from './text.js';
import type { AggregateFunction, CastTarget, Column, CompareOperator, Condition, DatePart, KeepRule, Literal, MaskStyle, Measure, Operation } from './types.js';

/** The clause matched a rule but names a column that does not exist at that point. */
export class UnknownColumn extends Error {
  constructor(readonly column: string, readonly available: string[]) {
    super(`unknown column "${column}" (columns here: ${available.join(', ') || 'none'})`);
  }
}

/** The clause matched a rule but something in it cannot be mapped (named in the message). */
export class Unmappable extends Error {}

interface Ctx {
  columns: Column[];
  previous: Operation | undefined;
}

type Rule = (clause: string, ctx: Ctx) => Operation[] | null;

// ------------------------------------------------------------------ matching helpers

/** Runs `re` (anchored by the caller) on the quote-masked clause; groups are taken from the original text. */
function match(re: RegExp, text: string): (string | undefined)[] | null {
  const flags = new Set([...re.flags, 'd', 'i']);
  const m = new RegExp(re.source, [...flags].join('')).exec(maskQuotes(text));
  if (!m || !m.indices) return null;
  return m.indices.map((ix) => (ix ? text.slice(ix[0], ix[1]) : undefined));
}

const NUMBER_WORDS: Record<string, number> = { zero: 0, one: 1, two: 2, three: 3, four: 4, five: 5, six: 6, seven: 7, eight: 8, nine: 9, ten: 10 };
const NUM = String.raw`(\d+|zero|one|two|three|four|five|six|seven|eight|nine|ten)`;
function toInt(word: string): number {
  return /^\d+$/.test(word) ? Number(word) : NUMBER_WORDS[word.toLowerCase()]!;
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A new column name: an identifier or a quoted name. */
function newName(raw: string): string {
  const t = raw.trim().replace(/^(?:a\s+|the\s+)?(?:new\s+)?(?:column|field)\s+(?:called\s+|named\s+)?/i, '').replace(/^(?:called|named)\s+/i, '');
  const q = unquote(t);
  if (q !== null && q.length > 0) return q;
  if (!IDENT.test(t)) throw new Unmappable(`"${t}" is not a column name (use letters, digits and _ or quote it)`);
  return t;
}

/** Resolves a column reference ("email", "`Email`", "the customer id column") against the columns. */
function column(raw: string, ctx: Ctx): string {
  let t = raw.trim().replace(/^(?:the|a|an|each|every|all|their|its)\s+/i, '');
  t = t.replace(/^(?:column|field)\s+/i, '').replace(/\s+(?:column|field|values?)$/i, '').trim();
  const q = unquote(t);
  if (q !== null) t = q;
  const names = ctx.columns.map((c) => c.name);
  const exact = names.find((n) => n === t);
  if (exact !== undefined) return exact;
  const lower = t.toLowerCase();
  const candidates = [lower, lower.replace(/[\s-]+/g, '_')];
  if (lower.endsWith('s')) candidates.push(lower.slice(0, -1), lower.slice(0, -1).replace(/[\s-]+/g, '_'));
  if (lower.endsWith('es')) candidates.push(lower.slice(0, -2));
  for (const c of candidates) {
    const found = names.find((n) => n.toLowerCase() === c);
    if (found !== undefined) return found;
  }
  const generic = /^(.+?)\s+(?:address(?:es)?|numbers?|values?)$/i.exec(t);
  if (generic) {
    try {
      return column(generic[1]!, ctx);
    } catch {
      // fall through to the error naming the whole reference
    }
  }
  throw new UnknownColumn(t, names);
}

/** "it" / "them": the columns of the previous step, when it was a per-column step. */
function previousColumns(ctx: Ctx): string[] | null {
  const p = ctx.previous;
  if (!p) return null;
  if (p.op === 'text' || p.op === 'drop_null') return p.columns;
  if (p.op === 'cast' || p.op === 'fill_null' || p.op === 'mask') return [p.column];
  return null;
}

function columnList(raw: string, ctx: Ctx): string[] {
  if (/^(?:it|them|they|this\s+column|that\s+column|those\s+columns|these\s+columns|the\s+same\s+columns?)$/i.test(raw.trim())) {
    const cols = previousColumns(ctx);
    if (cols === null) throw new Unmappable(`"${raw.trim()}" does not refer to a previous column`);
    return cols;
  }
  const items = splitList(raw);
  if (items.length === 0) throw new Unmappable('no column named');
  const out = items.map((i) => column(i, ctx));
  return [...new Set(out)];
}

function kindOf(name: string, ctx: Ctx) {
  return typeKind(ctx.columns.find((c) => c.name === name)!.type);
}

/** Bare words that describe a property of a value rather than being one: never compared as text. */
const PREDICATE_WORDS = /^(?:valid|invalid|positive|negative|correct|incorrect|wrong|proper|improper|well-formed|malformed|numeric|unique|duplicated?|recent|old|new|big|small|large|today|yesterday|tomorrow|now|empty|blank|missing|null|none|nil|true|false|set|unset|known|unknown|weird|bad|good|suspicious|expired|future|past)$/i;

/** A literal from the text, typed for the column it is compared with or stored in. */
function value(raw: string, col: string, ctx: Ctx, numeric = false, fill = false): Literal {
  const t = raw.trim();
  const q = unquote(t);
  if (q !== null) return q;
  const kind = kindOf(col, ctx);
  if (/^[+-]?(?:\d+(?:\.\d+)?|\.\d+)$/.test(t) && (numeric || kind === 'int' || kind === 'numeric' || kind === 'float')) return Number(t);
  if (kind === 'int' || kind === 'numeric' || kind === 'float') {
    if (t.toLowerCase() === 'zero') return 0;
    throw new Unmappable(`"${t}" is not a number (column ${col} is numeric)`);
  }
  if (kind === 'bool') {
    if (/^(?:true|yes|t)$/i.test(t)) return true;
    if (/^(?:false|no|f)$/i.test(t)) return false;
    throw new Unmappable(`"${t}" is not true or false (column ${col} is boolean)`);
  }
  if (t.length === 0 || /[\s,;'"“”<>=()]/.test(t)) throw new Unmappable(`"${t}" is not a single value (quote it)`);
  if (!fill && ctx.columns.some((c) => c.name === t)) throw new Unmappable(`"${t}" is a column: comparing two columns is not supported (quote it if it is a value)`);
  if (!fill && PREDICATE_WORDS.test(t)) throw new Unmappable(`"${t}" describes a property, not a value (quote it if it is a value)`);
  return t;
}

// ------------------------------------------------------------------ conditions

const IGNORE_CASE = String.raw`\s*,?\s*\(?(?:case[-\s]?insensitive(?:ly)?|ignoring\s+case|regardless\s+of\s+case|any\s+case|in\s+any\s+case)\)?`;

function stripIgnoreCase(text: string): { text: string; ignoreCase: boolean } {
  const g = match(new RegExp(`^(.*?)${IGNORE_CASE}$`), text);
  return g ? { text: g[1]!, ignoreCase: true } : { text, ignoreCase: false };
}

const COMPARISONS: [CompareOperator, string, boolean][] = [
  ['>=', String.raw`>=|=>|≥`, true],
  ['<=', String.raw`<=|=<|≤`, true],
  ['!=', String.raw`!=|<>|≠`, true],
  ['>=', String.raw`(?:is\s+)?(?:greater|more|higher|larger|bigger)\s+than\s+or\s+equal\s+to|is\s+at\s+least|(?:is\s+)?on\s+or\s+after|is\s+not\s+less\s+than|is\s+no\s+less\s+than|at\s+least`, false],
  ['<=', String.raw`(?:is\s+)?(?:less|lower|smaller|fewer)\s+than\s+or\s+equal\s+to|is\s+at\s+most|(?:is\s+)?on\s+or\s+before|is\s+not\s+(?:more|greater)\s+than|is\s+no\s+more\s+than|at\s+most|is\s+up\s+to`, false],
  ['>', String.raw`(?:is\s+)?(?:greater|more|higher|larger|bigger)\s+than|is\s+above|is\s+over|exceeds|is\s+after|(?:is\s+)?later\s+than|above|over|after`, false],
  ['<', String.raw`(?:is\s+)?(?:less|lower|smaller|fewer)\s+than|is\s+below|is\s+under|is\s+before|(?:is\s+)?earlier\s+than|below|under|before`, false],
  ['>', String.raw`>`, true],
  ['<', String.raw`<`, true],
  ['!=', String.raw`is\s+not\s+equal\s+to|does\s+not\s+equal|doesn't\s+equal|not\s+equal\s+to|is\s+not|isn't|is\s+anything\s+but|is\s+other\s+than`, false],
  ['=', String.raw`==|=`, true],
  ['=', String.raw`equals|is\s+equal\s+to|equal\s+to|is|are|is\s+exactly|is\s+set\s+to`, false],
];

function singleCondition(text: string, ctx: Ctx): Condition | null {
  const t = text.trim().replace(/^\((.*)\)$/, '$1').trim();
  let g = match(/^(.+?)\s+(?:is\s+)?between\s+(\S+|'[^']*'|"[^"]*")\s+and\s+(\S+|'[^']*'|"[^"]*")$/, t);
  if (g) {
    const col = column(g[1]!, ctx);
    return { kind: 'all', conditions: [
      { kind: 'compare', column: col, operator: '>=', value: value(g[2]!, col, ctx, true), ignoreCase: false },
      { kind: 'compare', column: col, operator: '<=', value: value(g[3]!, col, ctx, true), ignoreCase: false },
    ] };
  }
  g = match(/^(.+?)\s+(?:is\s+not|isn't|are\s+not|aren't)\s+(null|empty|missing|blank)$/, t) ?? match(/^(.+?)\s+(?:is\s+|are\s+)?(not\s+null|non-?null|not\s+empty|non-?empty|not\s+blank|not\s+missing|present|filled(?:\s+in)?|provided|set)$/, t) ?? match(/^(.+?)\s+(has\s+a\s+value|exists)$/, t);
  if (g) return { kind: 'null', column: column(g[1]!, ctx), negate: true, blank: !/null/i.test(g[2]!) };
  g = match(/^(?:an?\s+|the\s+)?(non-?null|non-?empty|non-?blank|present)\s+(.+)$/, t);
  if (g) return { kind: 'null', column: column(g[2]!, ctx), negate: true, blank: !/null/i.test(g[1]!) };
  g = match(/^(.+?)\s+(?:is|are)\s+((?:null|empty|missing|blank|not\s+set|unknown)(?:\s+or\s+(?:null|empty|missing|blank))?)$/, t) ?? match(/^(.+?)\s+(has\s+no\s+value)$/, t);
  if (g) return { kind: 'null', column: column(g[1]!, ctx), negate: false, blank: !/^null$/i.test(g[2]!) };
  g = match(/^(?:an?\s+|the\s+)?(null|missing|empty|blank|no)\s+(.+)$/, t);
  if (g) return { kind: 'null', column: column(g[2]!, ctx), negate: false, blank: !/null/i.test(g[1]!) };
  g = match(/^(.+?)\s+(is\s+not\s+in|not\s+in|is\s+not\s+one\s+of|not\s+one\s+of|is\s+none\s+of|is\s+in|in|is\s+one\s+of|one\s+of|is\s+any\s+of|is\s+either)\s+(.+)$/, t);
  if (g) {
    const col = column(g[1]!, ctx);
    const { text: list, ignoreCase } = stripIgnoreCase(g[3]!);
    const items = splitList(list.trim().replace(/^[([{]\s*(.*?)\s*[)\]}]$/, '$1'), true);
    if (items.length === 0) throw new Unmappable('empty list of values');
    return { kind: 'in', column: col, values: items.map((i) => value(i, col, ctx)), negate: /not|none/i.test(g[2]!), ignoreCase };
  }
  g = match(/^(.+?)\s+(does\s+not\s+contain|doesn't\s+contain|does\s+not\s+include|doesn't\s+include|contains|includes|has|does\s+not\s+start\s+with|doesn't\s+start\s+with|does\s+not\s+begin\s+with|doesn't\s+begin\s+with|starts\s+with|begins\s+with|does\s+not\s+end\s+with|doesn't\s+end\s+with|ends\s+with|does\s+not\s+match|doesn't\s+match|matches(?:\s+the)?(?:\s+(?:pattern|regex|regular\s+expression))?|not\s+like|like|ilike)\s+(.+)$/, t);
  if (g) {
    const col = column(g[1]!, ctx);
    const { text: raw, ignoreCase } = stripIgnoreCase(g[3]!);
    const verb = g[2]!.toLowerCase();
    const q = unquote(raw) ?? (/^\S+$/.test(raw.trim()) ? raw.trim() : null);
    if (q === null || q.length === 0) throw new Unmappable(`"${raw.trim()}" is not a single value (quote it)`);
    const negate = /not|n't/.test(verb);
    if (/like/.test(verb)) {
      const re = '^' + q.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/%/g, '.*').replace(/_/g, '.') + '$';
      return { kind: 'text', column: col, match: 'regex', value: re, negate, ignoreCase: ignoreCase || verb === 'ilike' };
    }
    const kind = /contain|include|has/.test(verb) ? 'contains' : /start|begin/.test(verb) ? 'starts_with' : /end/.test(verb) ? 'ends_with' : 'regex';
    if (kind === 'regex') {
      try {
        new RegExp(q);
      } catch {
        throw new Unmappable(`"${q}" is not a valid pattern`);
      }
    }
    return { kind: 'text', column: col, match: kind, value: q, negate, ignoreCase };
  }
  g = match(/^(.+?)\s+(?:is|=|equals)\s+((?:'[^']*'|"[^"]*"|[\w@.+-]+)(?:\s*,\s*(?:'[^']*'|"[^"]*"|[\w@.+-]+))*\s*,?\s+or\s+(?:'[^']*'|"[^"]*"|[\w@.+-]+))$/, t);
  if (g) {
    let col: string | null = null;
    try {
      col = column(g[1]!, ctx);
    } catch (err) {
      if (!(err instanceof UnknownColumn)) throw err;
    }
    if (col !== null) return { kind: 'in', column: col, values: splitList(g[2]!, true).map((i) => value(i, col, ctx)), negate: false, ignoreCase: false };
  }
  let unknown: UnknownColumn | null = null;
  for (const [operator, words, symbolic] of COMPARISONS) {
    const re = symbolic ? new RegExp(String.raw`^(.+?)\s*(?:${words})\s*(.+)$`) : new RegExp(String.raw`^(.+?)\s+(?:${words})\s+(.+)$`);
    const h = match(re, t);
    if (!h) continue;
    let col: string;
    try {
      col = column(h[1]!, ctx);
    } catch (err) {
      if (err instanceof UnknownColumn) {
        unknown ??= err;
        continue;
      }
      throw err;
    }
    const { text: raw, ignoreCase } = stripIgnoreCase(h[2]!);
    const ordering = operator !== '=' && operator !== '!=';
    return { kind: 'compare', column: col, operator, value: value(raw, col, ctx, ordering), ignoreCase };
  }
  if (unknown) throw unknown;
  return null;
}

function condition(text: string, ctx: Ctx): Condition {
  let whole: Error | null = null;
  try {
    const single = singleCondition(text, ctx);
    if (single) return single;
  } catch (err) {
    if (!(err instanceof UnknownColumn || err instanceof Unmappable)) throw err;
    whole = err;
  }
  for (const [sep, kind] of [[/\s+and\s+/i, 'all'], [/\s+or\s+/i, 'any']] as const) {
    const parts = splitSpans(text, sep).map((s) => text.slice(s.start, s.end));
    if (parts.length > 1) {
      try {
        const conditions = parts.map((p) => {
          const c = singleCondition(p, ctx);
          if (!c) throw new Unmappable(`condition "${p.trim()}" is not understood`);
          return c;
        });
        return { kind, conditions };
      } catch (err) {
        if (!(err instanceof UnknownColumn || err instanceof Unmappable)) throw err;
        whole ??= err;
      }
    }
  }
  throw whole ?? new Unmappable(`condition "${text.trim()}" is not understood`);
}

// ------------------------------------------------------------------ rules

const ROWS = String.raw`(?:all\s+|any\s+|only\s+)?(?:the\s+|those\s+)?(?:(?!out\b|to\b|for\b|on\b|by\b|where\b|with\b)[a-z]+\s+)?(?:rows|records|lines|entries|customers|orders|users|items|transactions|ones|events)`;
const WHERE = String.raw`(?:where|with|whose|that\s+have|which\s+have|having|in\s+which|for\s+which|if|when)`;

const dropNullRule: Rule = (t, ctx) => {
  const g =
    match(new RegExp(String.raw`^(?:drop|remove|delete|exclude|filter\s+out|discard|skip|ignore)\s+${ROWS}\s+(?:with|that\s+have|having|where)\s+(?:an?\s+|the\s+)?(?:null|missing|empty|blank|no)\s+(.+?)(?:\s+values?)?$`), t) ??
    match(new RegExp(String.raw`^(?:drop|remove|delete|exclude|filter\s+out|discard|skip|ignore)\s+${ROWS}\s+(?:missing|lacking|without)\s+(?:an?\s+|the\s+)?(.+)$`), t) ??
    match(/^(?:drop|remove|delete|exclude|filter\s+out|discard)\s+(?:the\s+)?(?:nulls|null\s+values|blanks|missing\s+values)\s+(?:in|of|from)\s+(.+)$/, t) ??
    match(/^(?:require|requires)\s+(?:a\s+|an\s+)?(?:non-?null\s+|non-?empty\s+)?(.+)$/, t) ??
    match(/^(.+?)\s+(?:is|are)\s+(?:required|mandatory)$/, t) ??
    match(/^(.+?)\s+(?:must|should|may)\s+not\s+be\s+(?:null|empty|blank|missing)$/, t);
  if (!g) return null;
  const cols = [...new Set(splitList(g[1]!, true).map((c) => column(c, ctx)))];
  return [{ op: 'drop_null', columns: cols }];
};

const filterRule: Rule = (t, ctx) => {
  let g = match(new RegExp(String.raw`^(?:only\s+)?(?:keep|select|include|retain|return|filter(?:\s+(?:to|for|on))?|take|want|show|get)\s+(?:only\s+)?${ROWS}\s+${WHERE}\s+(.+)$`), t) ??
    match(new RegExp(String.raw`^(?:only\s+)?(?:keep|filter|include|retain)\s+(?:only\s+)?(?:where|if|when)\s+(.+)$`), t) ??
    match(/^(?:where|only\s+where|filter\s+(?:on|by)|only\s+rows\s+(?:where|with)|rows\s+where)\s+(.+)$/, t);
  if (g) return [{ op: 'filter', keep: true, condition: condition(g[1]!, ctx) }];
  g = match(new RegExp(String.raw`^(?:drop|remove|delete|exclude|filter\s+out|discard|skip|ignore|throw\s+away|get\s+rid\s+of)\s+${ROWS}\s+${WHERE}\s+(.+)$`), t) ??
    match(/^(?:exclude|filter\s+out|skip|ignore)\s+(?:where|if|when)\s+(.+)$/, t);
  if (g) return [{ op: 'filter', keep: false, condition: condition(g[1]!, ctx) }];
  return null;
};

type Groups = (string | undefined)[];

/**
 * The ways a deduplication starts, each giving the text left to read for keys and modifiers, and
 * a key named by the verb phrase itself ("drop duplicate emails").
 */
const DEDUPE_FORMS: [RegExp, (g: Groups) => { rest: string; implied: string | null }][] = [
  [
    /^(?:de-?duplicate|dedupe|dedup|de-?dup|remove\s+(?:the\s+|any\s+|all\s+)?duplicates|drop\s+(?:the\s+|any\s+|all\s+)?duplicates|eliminate\s+(?:the\s+)?duplicates|get\s+rid\s+of\s+(?:the\s+)?duplicates|(?:remove|drop)\s+duplicate\s+(?:rows|records))\b(.*)$/,
    (g) => ({ rest: g[1]!, implied: null }),
  ],
  [
    /^(?:remove|drop|delete|eliminate)\s+(?:the\s+|any\s+)?duplicate\s+(?:rows\s+|records\s+)?(\S+?)(\s*,.*|\s+(?:by|on|using|based|keeping|keep|ignoring|case|per|with|and).*)?$/,
    (g) => ({ rest: g[2] ?? '', implied: g[1]! }),
  ],
  [/^(?:keep\s+)?(?:only\s+)?(?:one|a\s+single|1|exactly\s+one)\s+(?:row|record|entry|line)\s+(?:per|for\s+each|for\s+every|by)\s+(.+)$/, (g) => ({ rest: ` per ${g[1]!}`, implied: null })],
  [
    /^(?:keep|retain|take)\s+(?:only\s+)?(the\s+(?:first|last|latest|earliest|newest|oldest|most\s+recent)\s+(?:row|record|entry|one|occurrence))\s+(?:per|for\s+each|for\s+every|of\s+each)\s+(.+)$/,
    (g) => {
      const by = match(/^(.+?)\s+(?:by|according\s+to|based\s+on)\s+(\S+)$/, g[2]!);
      return { rest: by ? ` per ${by[1]!}, keeping ${g[1]!} by ${by[2]!}` : ` per ${g[2]!}, keeping ${g[1]!}`, implied: null };
    },
  ],
  [
    /^(?:keep|retain|take)\s+(?:only\s+)?(the\s+(?:row|record|entry|one)\s+with\s+the\s+\S+\s+\S+)\s+(?:per|for\s+each|for\s+every|of\s+each)\s+(.+)$/,
    (g) => ({ rest: ` per ${g[2]!}, keeping ${g[1]!}`, implied: null }),
  ],
  [/^(?:make\s+)?(.+?)\s+(?:should|must)\s+be\s+unique(.*)$/, (g) => ({ rest: g[2]!, implied: g[1]! })],
  [/^make\s+(.+?)\s+unique(.*)$/, (g) => ({ rest: g[2]!, implied: g[1]! })],
];

const dedupeRule: Rule = (t, ctx) => {
  let form: { rest: string; implied: string | null } | null = null;
  for (const [re, read] of DEDUPE_FORMS) {
    const g = match(re, t);
    if (g) {
      form = read(g);
      break;
    }
  }
  if (form === null) return null;
  let rest = form.rest;
  const impliedKeys = form.implied;
  let ignoreCase = false;
  let ignoreWhitespace = false;
  let keep: KeepRule = { rule: 'first' };
  const take = (re: RegExp): (string | undefined)[] | null => {
    const h = match(new RegExp(String.raw`^(.*?)(?:\s*,\s*|\s+and\s+|\s+)?(?:${re.source})(.*)$`), rest);
    if (!h) return null;
    rest = `${h[1]!} ${h[h.length - 1]!}`;
    return h.slice(2, -1);
  };
  if (take(/case\s+and\s+white\s*space[-\s]insensitive(?:ly)?|ignoring\s+(?:both\s+)?case\s+and\s+(?:extra\s+|surrounding\s+|leading\s+(?:and|or)\s+trailing\s+)?(?:white\s*space|spaces)|ignoring\s+(?:extra\s+|surrounding\s+)?(?:white\s*space|spaces)\s+and\s+case|(?:white\s*space|space)\s+and\s+case[-\s]insensitive(?:ly)?/)) {
    ignoreCase = true;
    ignoreWhitespace = true;
  }
  if (take(/\(?(?:case[-\s]?insensitive(?:ly)?|ignoring\s+(?:letter\s+)?case|regardless\s+of\s+case|ignore\s+case|not\s+case[-\s]sensitive)\)?/)) ignoreCase = true;
  if (take(/\(?(?:white\s*space[-\s]insensitive(?:ly)?|ignoring\s+(?:extra\s+|surrounding\s+|leading\s+(?:and|or)\s+trailing\s+)?(?:white\s*space|spaces)|ignore\s+(?:white\s*space|spaces))\)?/)) ignoreWhitespace = true;
  const LOW = 'lowest|smallest|minimum|min|least|earliest|oldest|first';
  const HIGH = 'highest|largest|biggest|maximum|max|greatest|latest|newest|most\\s+recent|last';
  const byCol = take(new RegExp(String.raw`(?:keep(?:ing)?|retain(?:ing)?|prefer(?:ring)?|choos(?:e|ing)|pick(?:ing)?|tak(?:e|ing)|favou?r(?:ing)?)\s+(?:only\s+)?(?:the\s+)?(?:(?:row|record|entry|one)\s+)?(?:with\s+the\s+)?(${LOW}|${HIGH})\s+(?:(?:one|row|record|entry|value)\s+)?(?:(?:by|of|in|according\s+to|based\s+on|on)\s+)?(?!(?:one|row|record|entry|occurrence)\b)([\w"\`'.-]+)`));
  if (byCol) {
    const col = column(byCol[1]!, ctx);
    keep = { rule: new RegExp(`^(?:${LOW})$`, 'i').test(byCol[0]!) ? 'lowest' : 'highest', column: col };
  } else {
    const plain = take(new RegExp(String.raw`(?:keep(?:ing)?|retain(?:ing)?|prefer(?:ring)?|tak(?:e|ing))\s+(?:only\s+)?(?:the\s+)?(first|earliest|last|latest|most\s+recent)(?:\s+(?:one|row|record|entry|occurrence|seen))?`));
    if (plain) keep = { rule: /first|earliest/i.test(plain[0]!) ? 'first' : 'last' };
  }
  let keyText = rest.trim().replace(/^,\s*/, '').replace(/\s*,$/, '').trim();
  let keys: string[];
  if (impliedKeys !== null) {
    if (keyText !== '' && !/^(?:by|on|using|based\s+on|per)\b/i.test(keyText)) throw new Unmappable(`"${keyText}" is not understood in a deduplication`);
    keys = keyText === '' ? [column(impliedKeys, ctx)] : columnList(keyText.replace(/^(?:by|on|using|based\s+on|per)\s+/i, ''), ctx);
    if (keyText !== '') keys = [...new Set([column(impliedKeys, ctx), ...keys])];
  } else if (keyText === '' || /^(?:rows|records|lines)$/i.test(keyText)) {
    keys = ctx.columns.map((c) => c.name);
  } else {
    const k = match(/^(?:(?:the\s+)?(?:rows|records|customers|orders|users|entries|contacts|\w+)\s+)?(?:by|on|using|based\s+on|over|per|of|across|for)\s+(?:the\s+)?(?:key\s+|keys\s+|columns?\s+)?(.+)$/, keyText);
    if (!k) throw new Unmappable(`"${keyText}" is not understood in a deduplication`);
    keyText = k[1]!;
    keys = columnList(keyText, ctx);
  }
  return [{ op: 'dedupe', keys, ignoreCase, ignoreWhitespace, keep }];
};

const selectRule: Rule = (t, ctx) => {
  const g = match(/^(?:only\s+)?(?:keep|select|retain|output|return|include|project|pick)\s+(?:only\s+)?(?:the\s+)?(?:columns?|fields?)?\s*:?\s*(.+?)(?:\s+(?:columns?|fields?))?(?:\s+only)?$/, t);
  if (!g) return null;
  return [{ op: 'select', columns: columnList(g[1]!, ctx) }];
};

const noOpRule: Rule = (t, ctx) => {
  if (!match(/^(?:(?:drop|remove|discard)\s+(?:all\s+)?(?:the\s+)?(?:other|remaining|rest\s+of\s+the)\s+(?:columns|fields)|(?:drop|remove)\s+everything\s+else|nothing\s+else)$/, t)) return null;
  if (ctx.previous?.op !== 'select') throw new Unmappable('"other columns" needs a list of columns to keep just before it');
  return [];
};

const dropColumnsRule: Rule = (t, ctx) => {
  const g =
    match(/^(?:drop|remove|delete|exclude|discard|omit|get\s+rid\s+of|hide)\s+(?:the\s+)?(?:columns?|fields?)\s*:?\s+(.+)$/, t) ??
    match(/^(?:drop|remove|delete|exclude|discard|omit|get\s+rid\s+of|hide)\s+(?:the\s+)?(.+?)\s+(?:columns?|fields?)$/, t) ??
    match(/^(?:drop|remove|delete|omit|discard)\s+(?:the\s+)?(.+)$/, t);
  if (!g) return null;
  return [{ op: 'drop', columns: columnList(g[1]!, ctx) }];
};

const renameRule: Rule = (t, ctx) => {
  let g = match(/^rename\s+(?:the\s+)?(?:column\s+|field\s+)?(.+?)\s+(?:to|as|into|->|→)\s+(.+)$/, t) ?? match(/^(.+?)\s+(?:should\s+be|is|gets)\s+renamed\s+(?:to|as)\s+(.+)$/, t);
  if (!g && ctx.previous?.op === 'rename') g = match(/^(.+?)\s+(?:to|as|->|→)\s+(.+)$/, t);
  if (!g) return null;
  return [{ op: 'rename', from: column(g[1]!, ctx), to: newName(g[2]!) }];
};

const CAST_TYPES: [RegExp, CastTarget][] = [
  [/^(?:timestamp\s+with\s+time\s*zone|timestamptz|timestamps?|date\s*-?\s*times?|datetimes?|instants?)/i, 'timestamp'],
  [/^(?:integers?|int(?:eger)?s?|bigint|int[248]|whole\s+numbers?)/i, 'integer'],
  [/^(?:numeric|decimals?|numbers?|money|amounts?|currency)/i, 'numeric'],
  [/^(?:booleans?|bool|true\s*\/\s*false|yes\s*\/\s*no|flags?)/i, 'boolean'],
  [/^(?:dates?)/i, 'date'],
];
const FILLER = new Set(['and', 'with', 'values', 'value', 'rows', 'row', 'records', 'that', 'which', 'where', 'if', 'they', 'it', 'do', 'does', 'not', "don't", "doesn't", 'parse', 'fail', 'fails', 'to', 'the', 'any', 'those', 'invalid', 'bad', 'unparseable', 'be', 'can', 'cannot', "can't", 'parsed', 'are', 'is', 'as', 'a', 'an', 'of', 'type', 'format', 'otherwise', 'ones', 'entries', 'possible', 'when', 'in', 'place', 'setting', 'set', 'making', 'make', 'turning', 'dates', 'date', 'numbers', 'number', 'for', 'times', 'time', 'without', 'offset', 'offsets', 'no', 'zone', 'timezone', 'them', 'all', 'into', 'anything', 'everything', 'else', 'garbage']);

function castRule(t: string, ctx: Ctx): Operation[] | null {
  const g =
    match(/^(?:cast|convert|parse|change|turn|coerce|make|read|interpret|store)\s+(?:the\s+)?(?:columns?\s+)?(.+?)\s+(?:(?:to|into|as)\s+(?:an?\s+|the\s+)?|an?\s+)(?:proper\s+|valid\s+|real\s+)?((?:timestamp|timestamptz|datetime|date|integer|int|bigint|int[248]|whole|numeric|decimal|number|money|amount|currency|boolean|bool|true|yes|flag|instant)\b.*)$/, t) ??
    match(/^(.+?)\s+(?:should|must)\s+be\s+(?:an?\s+)?(?:proper\s+|valid\s+)?((?:timestamp|timestamptz|datetime|date|integer|int|bigint|whole|numeric|decimal|number|boolean|bool)\b.*)$/, t);
  if (!g) return null;
  const cols = columnList(g[1]!, ctx);
  let phrase = g[2]!.trim();
  let to: CastTarget | null = null;
  for (const [re, target] of CAST_TYPES) {
    const m = re.exec(phrase);
    if (m) {
      to = target;
      phrase = phrase.slice(m[0].length);
      break;
    }
  }
  if (to === null) return null;
  let scale: number | null = null;
  let timezone = 'UTC';
  let dayFirst: boolean | null = null;
  let onError: 'null' | 'drop' = 'null';
  const strip = (re: RegExp): (string | undefined)[] | null => {
    const h = match(new RegExp(String.raw`^(.*?)(?:${re.source})(.*)$`), phrase);
    if (!h) return null;
    phrase = `${h[1]!} ${h[h.length - 1]!}`;
    return h.slice(2, -1);
  };
  let s = strip(/\(\s*\d+\s*,\s*(\d+)\s*\)/);
  if (s) scale = Number(s[0]);
  s = strip(new RegExp(String.raw`(?:with|to|at|rounded\s+to|round(?:ed|ing)?\s+to|of|having|scale)?\s*${NUM}\s+(?:decimals|decimal\s+places|decimal\s+digits|decimal|digits?\s+after\s+the\s+(?:decimal\s+)?point|dp|places)`));
  if (s) scale = toInt(s[0]!);
  s = strip(/scale\s+(\d+)/);
  if (s) scale = Number(s[0]);
  s = strip(/\(?(?:format\s+|formatted\s+(?:as\s+)?|in\s+|as\s+|using\s+)?\b(dd[/.-]mm[/.-](?:yyyy|yy)|mm[/.-]dd[/.-](?:yyyy|yy)|day[-\s]first|month[-\s]first|european|us|american)\b(?:\s+(?:format|order|dates?|style))?\)?/);
  if (s) dayFirst = /^(?:dd|day|european)/i.test(s[0]!);
  s = strip(/\(?(?:(?:in|as|assuming|from|interpreted\s+as|interpreting\s+(?:naive\s+|local\s+)?(?:values|times)\s+as|with\s+(?:time\s*zone|tz)|(?:naive|local)\s+times?\s+(?:are|in)|(?:where|when)\s+no\s+(?:offset|zone|time\s*zone)\s+is\s+given\s*,?\s*(?:use|assume)?|default(?:ing)?\s+(?:time\s*zone\s+)?(?:to)?)\s+)?(?:the\s+)?(UTC|GMT|UTC\s*[+-]\s*\d{1,2}(?::?\d{2})?|GMT\s*[+-]\s*\d{1,2}(?::?\d{2})?|[+-]\d{2}(?::?\d{2})?|(?:Africa|America|Antarctica|Asia|Atlantic|Australia|Europe|Indian|Pacific|Etc)\/[A-Za-z_]+(?:\/[A-Za-z_]+)?)(?:\s+(?:time\s*zone|time|tz))?\)?/);
  if (s) timezone = normaliseZone(s[0]!);
  s = strip(/\b(?:and\s+)?(?:drop|dropping|remove|removing|skip|skipping|discard|discarding|exclude|excluding|filter(?:ing)?\s+out|delete|deleting|reject|rejecting)\b/);
  if (s) onError = 'drop';
  else if (strip(/\b(?:and\s+)?(?:null(?:ing)?\b|set(?:ting)?\s+(?:them\s+|it\s+)?(?:to\s+)?null|use\s+null|(?:become|becomes|as|to)\s+null|blank(?:ing)?|leav(?:e|ing)\s+(?:them\s+|it\s+)?(?:empty|null|blank))/)) onError = 'null';
  const leftover = phrase.replace(/[(),.;:]/g, ' ').split(/\s+/).filter((w) => w && !FILLER.has(w.toLowerCase()));
  if (leftover.length > 0) throw new Unmappable(`"${leftover.join(' ')}" is not understood in a conversion`);
  if (to !== 'numeric' && scale !== null) throw new Unmappable('decimal places apply to numeric conversions only');
  return cols.map((c) => ({ op: 'cast', column: c, to: to, scale, timezone, dayFirst, onError }));
}

function normaliseZone(raw: string): string {
  const t = raw.replace(/\s+/g, '');
  const m = /^(?:UTC|GMT)?([+-])(\d{1,2})(?::?(\d{2}))?$/i.exec(t);
  if (m) return `${m[1]}${m[2]!.padStart(2, '0')}:${m[3] ?? '00'}`;
  if (/^(?:utc|gmt)$/i.test(t)) return 'UTC';
  return raw.trim();
}

const ALL_TEXT = /^(?:all|every|each)\s+(?:the\s+)?(?:text|string|varchar)?\s*(?:columns|fields|values|column|field)$|^everything$|^all$/i;

function textColumns(raw: string, ctx: Ctx): string[] {
  if (ALL_TEXT.test(raw.trim())) {
    const cols = ctx.columns.filter((c) => typeKind(c.type) === 'text').map((c) => c.name);
    if (cols.length === 0) throw new Unmappable('there are no text columns');
    return cols;
  }
  return columnList(raw, ctx);
}

const TEXT_VERBS: [RegExp, 'trim' | 'lower' | 'upper' | 'title' | 'collapse'][] = [
  [/^(?:trim|strip)$/i, 'trim'],
  [/^(?:lower[-\s]?case|lower|downcase)$/i, 'lower'],
  [/^(?:upper[-\s]?case|upper|upcase|capitali[sz]e)$/i, 'upper'],
  [/^(?:title[-\s]?case)$/i, 'title'],
  [/^(?:collapse\s+(?:the\s+)?(?:white\s*space|spaces)\s+(?:in|of))$/i, 'collapse'],
];

const textRule: Rule = (t, ctx) => {
  const VERB = String.raw`(?:trim|strip|lower[-\s]?case|lower|downcase|upper[-\s]?case|upper|upcase|title[-\s]?case|collapse\s+(?:the\s+)?(?:white\s*space|spaces)\s+(?:in|of))`;
  const multi = match(new RegExp(String.raw`^(${VERB}(?:\s*(?:,|and|&|then|,\s*and)\s*${VERB})+)\s+(?:the\s+)?(.+)$`), t);
  if (multi) {
    const cols = textColumns(multi[2]!, ctx);
    return splitList(multi[1]!).map((v) => ({ op: 'text', columns: cols, fn: TEXT_VERBS.find(([re]) => re.test(v))![1] }));
  }
  const WS = String.raw`(?:(?:leading\s+and\s+trailing|leading\/trailing|surrounding|extra|excess|outer)\s+)?(?:white\s*space|spaces|blanks)`;
  let g = match(new RegExp(String.raw`^(?:trim|strip)\s+(?:${WS}\s+(?:from|in|on|of|around)\s+)?(?:the\s+)?(?:values?\s+(?:of|in)\s+)?(.+?)$`), t) ??
    match(new RegExp(String.raw`^(?:remove|strip|drop|cut)\s+${WS}\s+(?:from|in|on|of|around)\s+(?:the\s+)?(.+)$`), t);
  if (g) {
    if (/^(?:white\s*space|spaces)$/i.test(g[1]!.trim())) return [{ op: 'text', columns: textColumns('all', ctx), fn: 'trim' }];
    return [{ op: 'text', columns: textColumns(g[1]!, ctx), fn: 'trim' }];
  }
  g = match(new RegExp(String.raw`^(?:trim|strip)\s+${WS}(?:\s+everywhere)?$`), t);
  if (g) return [{ op: 'text', columns: textColumns('all', ctx), fn: 'trim' }];
  g = match(/^(?:collapse|squeeze|squash|condense|normali[sz]e|clean(?:\s+up)?|tidy(?:\s+up)?)\s+(?:(?:repeated|multiple|internal|extra|double|consecutive|runs\s+of)\s+)?(?:the\s+)?(?:white\s*space|spaces|blanks)\s+(?:in|of|on|within|inside|across)\s+(?:the\s+)?(.+)$/, t) ??
    match(/^replace\s+(?:multiple|repeated|consecutive|runs\s+of)\s+(?:white\s*space|spaces)\s+(?:in\s+(.+?)\s+)?with\s+(?:a\s+)?(?:single|one)\s+space$/, t);
  if (g) return [{ op: 'text', columns: textColumns(g[1] ?? 'all', ctx), fn: 'collapse' }];
  const CASES: [string, 'lower' | 'upper' | 'title'][] = [
    [String.raw`lower[-\s]?case(?:d)?|lower|downcase`, 'lower'],
    [String.raw`upper[-\s]?case(?:d)?|upper|upcase|capitals|capital\s+letters|all\s+caps|caps`, 'upper'],
    [String.raw`title[-\s]?case(?:d)?|proper\s+case|capitali[sz]e(?:d)?(?:\s+(?:each|every)\s+word)?`, 'title'],
  ];
  for (const [words, fn] of CASES) {
    g = match(new RegExp(String.raw`^(?:${words})\s+(?:the\s+)?(?:values?\s+(?:of|in)\s+)?(.+)$`), t) ??
      match(new RegExp(String.raw`^(?:make|convert|turn|normali[sz]e|standardi[sz]e|put|change|set|transform|format)\s+(?:the\s+)?(?:values?\s+(?:of|in)\s+)?(.+?)\s+(?:to\s+|into\s+|in\s+|as\s+)?(?:all\s+)?(?:${words})$`), t) ??
      match(new RegExp(String.raw`^(.+?)\s+(?:should\s+be|must\s+be|in|to)\s+(?:all\s+)?(?:${words})$`), t);
    if (g) return [{ op: 'text', columns: textColumns(g[1]!, ctx), fn }];
  }
  return null;
};

const NULLS = String.raw`(?:null|nulls|missing|empty|blank|blanks|nil|none|null\s+values|missing\s+values|empty\s+values|blank\s+values|NaNs?)`;

const fillRule: Rule = (t, ctx) => {
  const V = String.raw`('[^']*'|"[^"]*"|“[^”]*”|[^\s,]+)`;
  let g = match(new RegExp(String.raw`^(?:fill|replace|set|default|populate)\s+(?:in\s+)?(?:any\s+|all\s+|the\s+)?${NULLS}\s+(?:values\s+)?(?:in|of|for|from)\s+(?:the\s+)?(.+?)\s+(?:with|to|as|by|=|using)\s+(?:the\s+value\s+|a\s+|an\s+)?${V}$`), t);
  let colText: string | undefined;
  let valText: string | undefined;
  if (g) [colText, valText] = [g[1], g[2]];
  else {
    g = match(new RegExp(String.raw`^(?:fill|default|populate)\s+(?:in\s+)?(?:the\s+)?(?:(?:null|missing|empty|blank)\s+)?(.+?)\s+(?:nulls\s+|values\s+|blanks\s+)?(?:with|to|as|using)\s+(?:the\s+value\s+|a\s+|an\s+)?${V}$`), t) ??
      match(new RegExp(String.raw`^(?:set|replace)\s+(?:null|missing|empty|blank)\s+(.+?)\s+(?:to|with|by)\s+${V}$`), t) ??
      match(new RegExp(String.raw`^(?:when|where|if)\s+(.+?)\s+is\s+(?:null|missing|empty|blank)\s*,?\s+(?:use|set\s+it\s+to|put|fill\s+(?:in\s+)?)\s*${V}$`), t) ??
      match(new RegExp(String.raw`^(.+?)\s+(?:defaults?\s+to|should\s+default\s+to|falls?\s+back\s+to)\s+${V}$`), t);
    if (g) [colText, valText] = [g[1], g[2]];
    else {
      g = match(new RegExp(String.raw`^(?:use|put)\s+${V}\s+(?:for|when|where|if|in\s+place\s+of)\s+(?:(?:null|missing|empty|blank)\s+)?(.+?)(?:\s+(?:is|are)\s+(?:null|missing|empty|blank))?$`), t);
      if (!g) return null;
      [valText, colText] = [g[1], g[2]];
    }
  }
  const cols = colText!.trim().toLowerCase() === 'everything' ? ctx.columns.map((c) => c.name) : columnList(colText!, ctx);
  return cols.map((c) => ({ op: 'fill_null', column: c, value: value(valText!, c, ctx, false, true) }));
};

const maskRule: Rule = (t, ctx) => {
  let g = match(new RegExp(String.raw`^(?:mask|redact|hide|obfuscate|star\s+out|blank\s+out)\s+all\s+but\s+the\s+first\s+${NUM}\s+(?:characters?|chars?|letters?|digits?)\s+(?:of|in)\s+(?:the\s+)?(.+)$`), t);
  if (g) return columnList(g[2]!, ctx).map((c) => ({ op: 'mask', column: c, style: { kind: 'keep_prefix', n: toInt(g![1]!) } }));
  g = match(/^replace\s+(?:the\s+values?\s+(?:of|in)\s+|every\s+value\s+in\s+|all\s+values\s+in\s+)?(?:the\s+)?(.+?)\s+with\s+('[^']*'|"[^"]*"|“[^”]*”)$/, t);
  if (g) return columnList(g[1]!, ctx).map((c) => ({ op: 'mask', column: c, style: { kind: 'token', token: unquote(g![2]!)! } }));
  g = match(/^(?:mask|redact|obfuscate|hide|star\s+out|blank\s+out|censor)\s+(?:the\s+)?(.+)$/, t);
  if (!g) return null;
  let rest = g[1]!;
  let style: MaskStyle = { kind: 'token', token: '***' };
  let h = match(new RegExp(String.raw`^(.+?)\s*,?\s*(?:keeping|leaving|showing|but\s+keep|but\s+leave|except(?:\s+for)?|preserving|to\s+keep|so\s+that\s+only|so\s+only|with\s+only)\s+(?:only\s+)?(?:the\s+)?first\s+${NUM}\s+(?:characters?|chars?|letters?|digits?)(?:\s+(?:visible|intact|unmasked|shown|are\s+visible|remain))?$`), rest);
  if (h) {
    rest = h[1]!;
    style = { kind: 'keep_prefix', n: toInt(h[2]!) };
  } else if ((h = match(/^(.+?)\s*,?\s*(?:keeping|leaving|showing|but\s+keep|but\s+leave|except(?:\s+for)?|preserving|to\s+keep|so\s+that\s+only|so\s+only|with\s+only)\s+(?:only\s+)?(?:the\s+)?(?:e-?mail\s+)?domain(?:\s+(?:name|part))?(?:\s+(?:visible|intact|unmasked|shown|is\s+visible|remains))?$/, rest))) {
    rest = h[1]!;
    style = { kind: 'email_domain' };
  } else if ((h = match(/^(.+?)\s+(?:with|as|using|by|to)\s+(?:the\s+)?(?:token\s+|string\s+|text\s+|value\s+)?('[^']*'|"[^"]*"|“[^”]*”|\S+)$/, rest))) {
    rest = h[1]!;
    style = { kind: 'token', token: unquote(h[2]!) ?? h[2]! };
  }
  return columnList(rest, ctx).map((c) => ({ op: 'mask', column: c, style }));
};

const hashRule: Rule = (t, ctx) => {
  let g = match(/^(?:add|create)\s+(?:a\s+)?(?:new\s+)?(?:column\s+)?(\S+)\s+(?:column\s+)?(?:with|containing|holding|as|=)\s+(?:the\s+|a\s+)?(?:sha-?256|hash)\s+(?:hash\s+|digest\s+)?of\s+(?:the\s+)?(?:(?:normali[sz]ed|lower-?cased|trimmed)\s*,?\s*(?:and\s+)?)*(.+)$/, t);
  if (g) return [{ op: 'hash', column: column(g[2]!, ctx), target: newName(g[1]!) }];
  g = match(/^replace\s+(?:the\s+)?(.+?)\s+(?:with|by)\s+(?:its|their|a|the)\s+(?:sha-?256\s+)?(?:hash|digest)(?:es)?(?:\s+\(?sha-?256\)?)?$/, t);
  if (g) return columnList(g[1]!, ctx).map((c) => ({ op: 'hash', column: c, target: c }));
  g = match(/^(?:hash|pseudonymi[sz]e|tokeni[sz]e|sha-?256(?:-hash)?)\s+(?:the\s+)?(.+)$/, t);
  if (!g) return null;
  let rest = g[1]!;
  const strip = (re: RegExp): (string | undefined)[] | null => {
    const h = match(new RegExp(String.raw`^(.*?)\s*,?\s*(?:${re.source})(.*)$`), rest);
    if (!h) return null;
    rest = `${h[1]!}${h[h.length - 1]!}`;
    return h.slice(2, -1);
  };
  strip(/\(?(?:(?:with|using)\s+)?sha-?256\)?(?:\s+hash)?/);
  strip(/\s+in\s+place/);
  strip(/\s*\(?(?:after\s+)?(?:trimm(?:ed|ing)\s+and\s+lower-?cas(?:ed|ing)|lower-?cas(?:ed|ing)\s+and\s+trimm(?:ed|ing)|normali[sz](?:ed|ing)(?:\s+first)?)\)?/);
  const target = strip(/\s+(?:into|as|to|(?:and\s+)?(?:store|put|save|write)\s+(?:it|the\s+result|the\s+hash|the\s+digest)\s+(?:in|into|as)|in(?:to)?\s+(?:a\s+)?(?:new\s+)?column(?:\s+(?:called|named))?)\s+(\S+)$/);
  if (target) return [{ op: 'hash', column: column(rest, ctx), target: newName(target[0]!) }];
  return columnList(rest, ctx).map((c) => ({ op: 'hash', column: c, target: c }));
};

const COUNTRIES: [RegExp, string][] = [
  [/^(?:US|USA|U\.S\.A?\.?|united\s+states(?:\s+of\s+america)?|america|american)$/i, 'US'],
  [/^(?:CA|canada|canadian)$/i, 'CA'],
  [/^(?:GB|UK|U\.K\.|united\s+kingdom|great\s+britain|britain|british|england)$/i, 'GB'],
  [/^(?:DE|germany|german)$/i, 'DE'],
  [/^(?:FR|france|french)$/i, 'FR'],
  [/^(?:NL|netherlands|the\s+netherlands|holland|dutch)$/i, 'NL'],
  [/^(?:ES|spain|spanish)$/i, 'ES'],
  [/^(?:IT|italy|italian)$/i, 'IT'],
  [/^(?:IN|india|indian)$/i, 'IN'],
  [/^(?:AU|australia|australian)$/i, 'AU'],
];

const phoneRule: Rule = (t, ctx) => {
  const g = match(/^(?:normali[sz]e|format|convert|standardi[sz]e|clean(?:\s+up)?|reformat|rewrite|put)\s+(?:the\s+|all\s+)?(?:phone\s+numbers?\s+(?:in\s+)?)?(.+?)\s+(?:to|as|in(?:to)?)\s+(?:the\s+)?(?:international\s+)?e\.?\s?164(?:\s+format)?(.*)$/, t);
  if (!g) return null;
  const col = column(g[1]!.replace(/\s+phone\s+numbers?$/i, ''), ctx);
  let tail = g[2]!;
  let target = col;
  const into = match(/^(.*?)\s*,?\s*(?:into|as|in\s+(?:a\s+)?(?:new\s+)?column(?:\s+(?:called|named))?)\s+(?!(?:the|a|an|default|country|region|national|local)\b)(\S+)(.*)$/, tail);
  if (into) {
    target = newName(into[2]!);
    tail = `${into[1]!} ${into[3]!}`;
  }
  let country: string | null = null;
  const words = tail.replace(/[(),:;=]/g, ' ').trim();
  if (words !== '') {
    const c = match(/^(?:(?:with|using|assuming|for|in|as|and|treat(?:ing)?|national|local|numbers?|default(?:ing)?|to|the|a|an|country|region|calling|code|of|by|is|when|without|no|prefix|from)\s+)*(.+?)(?:\s+(?:as\s+(?:the\s+)?)?(?:default|by\s+default|numbers|as\s+default|country|default\s+country|is\s+the\s+default))?$/, words);
    const name = c?.[1]?.trim() ?? '';
    country = COUNTRIES.find(([re]) => re.test(name))?.[1] ?? null;
    if (country === null) throw new Unmappable(`"${tail.trim()}": the default country must be one of US, CA, GB, DE, FR, NL, ES, IT, IN, AU`);
  }
  return [{ op: 'phone', column: col, country, target }];
};

const SEPARATORS: Record<string, string> = {
  comma: ',', commas: ',', space: ' ', spaces: ' ', hyphen: '-', hyphens: '-', dash: '-', dashes: '-', slash: '/', semicolon: ';', pipe: '|',
  underscore: '_', 'at sign': '@', '@': '@', dot: '.', period: '.', colon: ':', tab: '\t', '-': '-', ',': ',', '/': '/', '|': '|', ';': ';', ':': ':',
};

function separator(raw: string): string | null {
  const t = raw.trim().replace(/^(?:a|an|the|single|first)\s+/i, '').replace(/^(?:single|first)\s+/i, '');
  const q = unquote(t);
  if (q !== null) return q;
  if (/^(?:white\s*space|blanks?)$/i.test(t)) return null;
  const s = SEPARATORS[t.toLowerCase()];
  if (s === undefined) throw new Unmappable(`"${raw.trim()}" is not a separator I know (quote it)`);
  return s;
}

const splitRule: Rule = (t, ctx) => {
  const SEP = String.raw`((?:the\s+|a\s+)?(?:first\s+)?(?:'[^']*'|"[^"]*"|“[^”]*”|white\s*space|comma|space|hyphen|dash|slash|semicolon|pipe|underscore|at\s+sign|@|dot|period|colon|tab|[-,/|;:]))`;
  let g = match(new RegExp(String.raw`^split\s+(?:the\s+)?(?:column\s+)?(.+?)\s+(?:on|by|at|using|around)\s+${SEP}\s+(?:in)?to\s+(.+)$`), t);
  let colText: string, sepText: string | undefined, names: string;
  if (g) [colText, sepText, names] = [g[1]!, g[2], g[3]!];
  else {
    g = match(new RegExp(String.raw`^split\s+(?:the\s+)?(?:column\s+)?(.+?)\s+(?:in)?to\s+(.+?)(?:\s*,?\s*(?:on|by|at|using|separated\s+by|splitting\s+on)\s+${SEP})?$`), t);
    if (!g) return null;
    [colText, names, sepText] = [g[1]!, g[2]!, g[3]];
  }
  const into = splitList(names).map(newName);
  if (into.length < 2) throw new Unmappable('a split needs at least two new columns');
  return [{ op: 'split', column: column(colText, ctx), separator: sepText === undefined ? null : separator(sepText), into }];
};

const concatRule: Rule = (t, ctx) => {
  let g = match(/^(?:concatenate|concat|combine|join|merge|glue(?:\s+together)?|put\s+together)\s+(?:the\s+)?(.+)$/, t);
  let rest: string;
  let target: string | null = null;
  if (g) rest = g[1]!;
  else {
    g = match(/^(?:create|add|make|build|derive)\s+(?:a\s+)?(?:new\s+)?(?:column\s+)?(?:called\s+|named\s+)?(\S+)\s+(?:column\s+)?(?:by\s+)?(?:concatenating|combining|joining|from|as\s+the\s+concatenation\s+of|=)\s+(?:the\s+)?(.+)$/, t);
    if (!g) return null;
    target = newName(g[1]!);
    rest = g[2]!;
  }
  let sep = ' ';
  const SEPWORDS = String.raw`('[^']*'|"[^"]*"|“[^”]*”|(?:a\s+|an\s+|the\s+)?(?:single\s+)?(?:space|comma|hyphen|dash|slash|semicolon|pipe|underscore|dot|period|colon))`;
  const s = match(new RegExp(String.raw`^(.*?)\s*,?\s*(?:separated|delimited|joined)\s+(?:by|with)\s+${SEPWORDS}(.*)$`), rest) ??
    match(new RegExp(String.raw`^(.*?)\s*,?\s*(?:with|using)\s+${SEPWORDS}(?:\s+(?:in\s+between|between(?:\s+them)?|as\s+(?:the\s+)?separator|as\s+(?:a\s+)?delimiter))?(.*)$`), rest);
  if (s) {
    sep = separator(s[2]!) ?? ' ';
    rest = `${s[1]!}${s[3]!}`;
  } else if (match(/\s+with\s+no\s+separator|\s+without\s+(?:a\s+)?separator/, rest)) {
    sep = '';
    rest = rest.replace(/\s*,?\s+with\s+no\s+separator|\s*,?\s+without\s+(?:a\s+)?separator/i, '');
  }
  if (target === null) {
    const h = match(/^(.+?)\s+(?:into|as|to\s+(?:make|form|create|build))\s+(?:a\s+)?(?:new\s+)?(?:column\s+)?(?:called\s+|named\s+)?(\S+)$/, rest.trim());
    if (!h) return null;
    target = newName(h[2]!);
    rest = h[1]!;
  }
  const cols = splitList(rest.trim()).map((c) => column(c, ctx));
  if (cols.length < 2) throw new Unmappable('a concatenation needs at least two columns');
  return [{ op: 'concat', columns: cols, separator: sep, target }];
};

const PARTS: [RegExp, DatePart][] = [
  [/^years?$/i, 'year'],
  [/^quarters?$/i, 'quarter'],
  [/^months?$/i, 'month'],
  [/^(?:weekday|week\s*day|day\s+of\s+(?:the\s+)?week|dow)$/i, 'weekday'],
  [/^(?:day|day\s+of\s+(?:the\s+)?month)$/i, 'day'],
  [/^hours?$/i, 'hour'],
  [/^minutes?$/i, 'minute'],
];

const datePartRule: Rule = (t, ctx) => {
  const PART = String.raw`(?:years?|quarters?|months?|weekday|week\s*day|day\s+of\s+(?:the\s+)?(?:week|month)|dow|day|hours?|minutes?)`;
  const g = match(new RegExp(String.raw`^(?:extract|get|take|pull(?:\s+out)?|derive|compute|add|split\s+out)\s+(?:the\s+)?(${PART}(?:\s*(?:,|and|&)\s*(?:the\s+)?${PART})*)\s+(?:number\s+)?(?:from|of|out\s+of|in)\s+(?:the\s+)?(.+?)(?:\s+(?:into|as|in(?:to)?\s+(?:a\s+)?(?:new\s+)?(?:column\s+)?(?:called\s+|named\s+)?)\s*(\S+))?$`), t);
  if (!g) return null;
  const col = column(g[2]!, ctx);
  const parts = splitList(g[1]!).map((p) => PARTS.find(([re]) => re.test(p.replace(/^the\s+/i, '')))![1]);
  if (g[3] !== undefined && parts.length > 1) throw new Unmappable('one output name for several date parts');
  return parts.map((part) => ({ op: 'date_part', column: col, part, target: g[3] !== undefined ? newName(g[3]) : `${col}_${part}` }));
};

const truncRule: Rule = (t, ctx) => {
  const g = match(/^(?:truncate|trunc|round(?:\s+down)?|floor|bucket)\s+(?:the\s+)?(.+?)\s+(?:to|by|at|down\s+to)\s+(?:the\s+)?(?:start\s+of\s+(?:the\s+|its\s+)?|beginning\s+of\s+(?:the\s+|its\s+)?|first\s+day\s+of\s+(?:the\s+|its\s+)?)?(day|month)s?(?:\s*\(?\s*(?:in\s+)?utc\s*\)?)?(?:\s+(?:into|as)\s+(\S+))?$/, t);
  if (!g) return null;
  const col = column(g[1]!, ctx);
  return [{ op: 'date_trunc', column: col, unit: g[2]!.toLowerCase() as 'day' | 'month', target: g[3] !== undefined ? newName(g[3]) : col }];
};

const FUNCS: [RegExp, AggregateFunction][] = [
  [/^(?:sum|total|sum\s+total)$/i, 'sum'],
  [/^(?:count|number|num|#|how\s+many)$/i, 'count'],
  [/^(?:avg|average|mean)$/i, 'avg'],
  [/^(?:min|minimum|lowest|smallest|earliest|first)$/i, 'min'],
  [/^(?:max|maximum|highest|largest|biggest|latest|last)$/i, 'max'],
];

function measure(raw: string, ctx: Ctx): Measure {
  let t = raw.trim().replace(/^(?:computing|compute|calculating|calculate|with|giving|showing|to\s+get|get|and|plus|the)\s+/i, '').trim();
  let as: string | null = null;
  const named = match(/^(.+?)\s+(?:as|named|called|into|->|→|in\s+a\s+column)\s+(\S+)$/, t);
  if (named) {
    t = named[1]!;
    as = newName(named[2]!);
  } else {
    const eq = match(/^(\w+)\s*(?:=|:)\s*(.+)$/, t);
    if (eq) {
      as = newName(eq[1]!);
      t = eq[2]!;
    }
  }
  t = t.replace(/^the\s+/i, '');
  if (/\b(?:distinct|unique|median|percentile|mode|stddev|variance)\b/i.test(t)) throw new Unmappable(`"${t}" is not an aggregate the offline planner supports (sum, count, avg, min, max)`);
  const g = match(/^(sum|count|avg|average|mean|min|max)\s*\(\s*(.+?)\s*\)$/, t) ??
    match(/^(sum\s+total|sum|total|count|number|num|#|how\s+many|avg|average|mean|min|minimum|lowest|smallest|earliest|max|maximum|highest|largest|biggest|latest)\s+(?:of\s+)?(?:the\s+)?(?:number\s+of\s+)?(.+)$/, t);
  if (!g) {
    if (/^(?:count|row\s+count|number\s+of\s+rows)$/i.test(t)) return { fn: 'count', column: null, as: as ?? 'count' };
    throw new Unmappable(`"${raw.trim()}" is not an aggregate (sum, count, avg, min or max of a column)`);
  }
  const fn = FUNCS.find(([re]) => re.test(g[1]!.replace(/\s+/g, ' ')))![1];
  const target = g[2]!.trim();
  let col: string | null;
  if (fn === 'count' && /^(?:\*|rows|records|lines|entries|\w+s)$/i.test(target)) {
    try {
      col = column(target, ctx);
      if (/^\w+s$/i.test(target) && !ctx.columns.some((c) => c.name === target)) col = null;
    } catch {
      col = null;
    }
  } else col = column(target, ctx);
  return { fn, column: col, as: as ?? (col === null ? 'count' : `${fn}_${col}`) };
}

/** Measures of a list; a bare column inherits the previous function ("sum price and qty"). */
function measuresOf(items: string[], ctx: Ctx): Measure[] {
  const out: Measure[] = [];
  for (const item of items) {
    const previous = out[out.length - 1];
    const bare = previous && !/^(?:sum|total|count|number|num|#|how|avg|average|mean|min|minimum|lowest|smallest|earliest|max|maximum|highest|largest|biggest|latest|the)\b|\(/i.test(item.trim());
    out.push(bare && previous.column !== null ? measure(`${previous.fn} ${item}`, ctx) : measure(item, ctx));
  }
  return out;
}

const aggregateRule: Rule = (t, ctx) => {
  let g = match(/^(?:group|aggregate|summari[sz]e|roll\s+up|rollup)\s+(?:the\s+)?(?:rows\s+|data\s+|records\s+|results\s+|it\s+)?(?:by|per|on|over)\s+(.+)$/, t);
  let keys: string[] = [];
  let measures: Measure[] = [];
  if (g) {
    const items = splitList(g[1]!.replace(/\s*:\s*|\s+(?:and\s+)?(?:compute|computing|calculate|calculating|with|giving|showing|to\s+get|get)\s+/i, ', '));
    let i = 0;
    for (; i < items.length; i += 1) {
      try {
        keys.push(column(items[i]!, ctx));
      } catch (err) {
        if (!(err instanceof UnknownColumn)) throw err;
        break;
      }
    }
    measures = measuresOf(items.slice(i), ctx);
  } else {
    g = match(/^(?:compute|calculate|get|show|report|find|give\s+me|produce|output|return)\s+(.+?)\s+(?:per|by|for\s+each|for\s+every|grouped\s+by|group(?:ed)?\s+by|across)\s+(.+)$/, t) ??
      match(/^((?:count|sum|total|average)\s+.+?)\s+(?:per|by|for\s+each|for\s+every|grouped\s+by)\s+(.+)$/, t);
    if (!g) {
      g = match(/^(?:compute|calculate|count|sum)\s+(.+)$/, t);
      if (!g) return null;
      const text = /^count\b/i.test(t) ? `count ${g[1]!}` : /^sum\b/i.test(t) ? `sum ${g[1]!}` : g[1]!;
      return [{ op: 'aggregate', groupBy: [], measures: measuresOf(splitList(text), ctx) }];
    }
    let keyText = g[2]!;
    const named = match(/^(.+?)\s+(?:as|named|called|into)\s+(\S+)$/, keyText);
    let lastName: string | null = null;
    if (named) {
      keyText = named[1]!;
      lastName = named[2]!;
    }
    keys = columnList(keyText, ctx);
    const items = splitList(g[1]!);
    if (lastName !== null) items[items.length - 1] = `${items[items.length - 1]!} as ${lastName}`;
    measures = measuresOf(items, ctx);
  }
  if (measures.length === 0) throw new Unmappable('a grouping needs at least one aggregate (sum, count, avg, min, max)');
  return [{ op: 'aggregate', groupBy: keys, measures }];
};

const sortRule: Rule = (t, ctx) => {
  const previous = ctx.previous;
  const more = previous?.op === 'sort' ? match(/^(?:and\s+)?(?:then\s+)?by\s+(.+)$/, t) : null;
  if (more && previous?.op === 'sort') {
    previous.keys.push(...sortKeys(more[1]!, ctx));
    return [];
  }
  const g = match(/^(?:sort|order|rank|arrange)\s+(?:the\s+)?(?:rows\s+|results\s+|output\s+|data\s+|records\s+|it\s+|them\s+)?(?:by|on)\s+(.+)$/, t);
  if (!g) return null;
  return [{ op: 'sort', keys: sortKeys(g[1]!, ctx) }];
};

function sortKeys(text: string, ctx: Ctx): { column: string; descending: boolean }[] {
  return splitList(text).map((item) => {
    const h = match(/^(.+?)(?:\s+(?:in\s+)?(asc|ascending|desc|descending|increasing|decreasing|highest\s+first|largest\s+first|newest\s+first|latest\s+first|lowest\s+first|smallest\s+first|oldest\s+first|earliest\s+first)(?:\s+order)?)?$/, item)!;
    const dir = (h[2] ?? 'asc').toLowerCase();
    return { column: column(h[1]!, ctx), descending: /^(?:desc|descending|decreasing|highest|largest|newest|latest)/.test(dir) };
  });
}

/** Rules, most specific first. */
const RULES: Rule[] = [noOpRule, dropNullRule, filterRule, dedupeRule, fillRule, castRule, phoneRule, hashRule, maskRule, splitRule, concatRule, datePartRule, truncRule, aggregateRule, sortRule, renameRule, textRule, selectRule, dropColumnsRule];

/** The operations of one clause, or null when no rule matches it. Throws UnknownColumn / Unmappable. */
export function parseClause(clause: string, columns: Column[], previous?: Operation): Operation[] | null {
  const ctx: Ctx = { columns, previous };
  let firstError: Error | null = null;
  for (const rule of RULES) {
    try {
      const ops = rule(clause, ctx);
      if (ops !== null) return ops;
    } catch (err) {
      if (!(err instanceof UnknownColumn || err instanceof Unmappable)) throw err;
      firstError ??= err;
    }
  }
  if (firstError) throw firstError;
  return null;
}

// ------------------------------------------------------------------ clauses

const SENTENCE = /\.(?=\s|$)|;|\n+|!(?=\s|$)|\s*,?\s*\b(?:and\s+)?(?:then|after\s+that|afterwards|finally|lastly|next)\b\s*,?/i;
const SEPARATOR = /\s*,\s*(?:and\s+)?|\s+and\s+|\s+&\s+|\s+plus\s+/i;
const LEADING = /^(?:(?:and|then|also|please|first|firstly|second|secondly|third|next|finally|lastly|now|just|step\s+\d+\s*:?|\d+[.)]|-|\*|i\s+(?:want|need)\s+to|i'd\s+like\s+to|we\s+need\s+to|need\s+to|you\s+should|can\s+you|could\s+you|we\s+want\s+to|let's)\b[\s,:]*|[-*•]\s*)+/i;

function cleanClause(text: string): string {
  return text.trim().replace(LEADING, '').replace(/[\s.!?,;:]+$/, '').trim();
}

export interface ParseOk {
  ok: true;
  plan: Operation[];
  columns: Column[];
}
export interface ParseRefusal {
  ok: false;
  clause: string;
  reason: string;
}

interface Failure {
  clause: string;
  error: Error;
  end: number;
}

/** Parses the whole instruction: sentences, then the longest run of comma/"and" pieces each clause can take. */
export function parseInstruction(text: string, inputColumns: readonly Column[]): ParseOk | ParseRefusal {
  let columns: Column[] = [...inputColumns];
  const plan: Operation[] = [];
  const sentences = splitSpans(text, SENTENCE);
  for (const sentence of sentences) {
    const body = text.slice(sentence.start, sentence.end);
    const pieces = splitSpans(body, SEPARATOR).filter((p) => body.slice(p.start, p.end).trim() !== '');
    const covering: Failure[] = [];
    let i = 0;
    while (i < pieces.length) {
      let done = false;
      let own: Failure | null = null;
      for (let j = pieces.length - 1; j >= i && !done; j -= 1) {
        const raw = body.slice(pieces[i]!.start, pieces[j]!.end);
        const clause = cleanClause(raw);
        if (clause === '') {
          done = true;
          i = j + 1;
          break;
        }
        try {
          const ops = parseClause(clause, columns, plan[plan.length - 1]);
          if (ops === null) {
            if (j === i) own = { clause: raw.trim(), error: new Unmappable('the offline planner has no rule for this clause'), end: j };
            continue;
          }
          let next = columns;
          for (const op of ops) next = applySchema(op, next);
          plan.push(...ops);
          columns = next;
          i = j + 1;
          done = true;
        } catch (err) {
          if (!(err instanceof UnknownColumn || err instanceof Unmappable || err instanceof InputError)) throw err;
          const failure = { clause: raw.trim(), error: err, end: j };
          if (j === i) own = failure;
          else if (err instanceof UnknownColumn) covering.push(failure);
        }
      }
      if (!done) {
        // A longer clause that failed on one unknown word (a typo such as "idd") explains the failure better.
        const cover = covering.filter((c) => c.end >= i && c.error instanceof UnknownColumn && !/\s/.test(c.error.column));
        const f = own && !(own.error.message.startsWith('the offline planner has no rule') && cover.length > 0) ? own : cover[0] ?? own!;
        return { ok: false, clause: f.clause, reason: f.error.message };
      }
    }
  }
  if (plan.length === 0) return { ok: false, clause: text.trim(), reason: 'the instruction contains no operation' };
  return { ok: true, plan, columns };
}
