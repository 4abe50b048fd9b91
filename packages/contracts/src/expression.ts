/**
 * The safe form of a custom quality assertion, until the SQL guard (libpg-query) can vet full SQL: a boolean
 * expression over the row's columns, with literals, comparisons, arithmetic, AND/OR/NOT, IS [NOT] NULL,
 * [NOT] IN (…) and [NOT] BETWEEN … AND …. No function calls, casts, subqueries, comments or other statements:
 * the grammar has none, and the SQL is generated from the parsed tree (names quoted, text as parameters), never
 * from the text. A row passes when the expression is true; false or NULL fails it.
 */
export type Expr =
  | { kind: 'column'; name: string }
  | { kind: 'number'; value: string }
  | { kind: 'string'; value: string }
  | { kind: 'bool'; value: boolean }
  | { kind: 'null' }
  | { kind: 'neg'; arg: Expr }
  | { kind: 'arith'; op: '+' | '-' | '*' | '/'; left: Expr; right: Expr }
  | { kind: 'cmp'; op: '=' | '<>' | '<' | '<=' | '>' | '>='; left: Expr; right: Expr }
  | { kind: 'and' | 'or'; left: Expr; right: Expr }
  | { kind: 'not'; arg: Expr }
  | { kind: 'isnull'; arg: Expr; negated: boolean }
  | { kind: 'in'; arg: Expr; list: Expr[]; negated: boolean }
  | { kind: 'between'; arg: Expr; low: Expr; high: Expr; negated: boolean };

export type ParsedExpression = { ok: true; expr: Expr } | { ok: false; message: string; position: number };

export const MAX_EXPRESSION = 2000;
const KEYWORDS = new Set(['and', 'or', 'not', 'is', 'null', 'in', 'between', 'true', 'false']);
/** SQL words that start a statement or a subquery: never a column here. */
const STATEMENT_WORDS = new Set([
  'select', 'from', 'where', 'union', 'with', 'values', 'table', 'insert', 'update', 'delete', 'drop', 'create', 'alter',
  'grant', 'revoke', 'copy', 'do', 'call', 'set', 'into', 'execute', 'exists', 'case', 'cast', 'array', 'row', 'lateral',
]);
const MAX_DEPTH = 50;

interface Token {
  t: 'num' | 'str' | 'id' | 'op' | 'end';
  v: string;
  at: number;
}

class ParseError extends Error {
  constructor(
    message: string,
    readonly position: number,
  ) {
    super(message);
  }
}

function tokenize(text: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (/\s/.test(c)) {
      i += 1;
      continue;
    }
    const rest = text.slice(i);
    const num = /^[0-9]+(\.[0-9]+)?/.exec(rest);
    const id = /^[A-Za-z_][A-Za-z0-9_]*/.exec(rest);
    const op = /^(<>|!=|<=|>=|[=<>+\-*/(),])/.exec(rest);
    if (num) out.push({ t: 'num', v: num[0], at: i });
    else if (id) out.push({ t: 'id', v: id[0], at: i });
    else if (c === "'") {
      let j = i + 1;
      let value = '';
      for (;;) {
        if (j >= text.length) throw new ParseError('unterminated string', i);
        if (text[j] === "'") {
          if (text[j + 1] === "'") {
            value += "'";
            j += 2;
            continue;
          }
          break;
        }
        value += text[j];
        j += 1;
      }
      out.push({ t: 'str', v: value, at: i });
      i = j + 1;
      continue;
    } else if (op && !rest.startsWith('--') && !rest.startsWith('/*')) out.push({ t: 'op', v: op[0] === '!=' ? '<>' : op[0], at: i });
    else throw new ParseError(`unexpected '${c}' (only columns, literals, comparisons, arithmetic, AND/OR/NOT, IS NULL, IN, BETWEEN)`, i);
    i += (num ?? id ?? op)![0].length;
  }
  out.push({ t: 'end', v: '', at: text.length });
  return out;
}

class Parser {
  private i = 0;
  private depth = 0;
  constructor(private readonly tokens: Token[]) {}

  private get tok(): Token {
    return this.tokens[this.i]!;
  }
  private kw(word: string): boolean {
    return this.tok.t === 'id' && this.tok.v.toLowerCase() === word;
  }
  private eatKw(word: string): boolean {
    if (!this.kw(word)) return false;
    this.i += 1;
    return true;
  }
  private eatOp(op: string): boolean {
    if (this.tok.t !== 'op' || this.tok.v !== op) return false;
    this.i += 1;
    return true;
  }
  private expect(op: string): void {
    if (!this.eatOp(op)) throw new ParseError(`expected '${op}'`, this.tok.at);
  }
  private nested<T>(f: () => T): T {
    if (++this.depth > MAX_DEPTH) throw new ParseError('nested too deeply', this.tok.at);
    try {
      return f();
    } finally {
      this.depth -= 1;
    }
  }

  parse(): Expr {
    const e = this.or();
    if (this.tok.t !== 'end') throw new ParseError(`unexpected '${this.tok.v}'`, this.tok.at);
    return e;
  }
  private or(): Expr {
    let left = this.and();
    while (this.eatKw('or')) left = { kind: 'or', left, right: this.and() };
    return left;
  }
  private and(): Expr {
    let left = this.not();
    while (this.eatKw('and')) left = { kind: 'and', left, right: this.not() };
    return left;
  }
  private not(): Expr {
    if (this.eatKw('not')) return this.nested(() => ({ kind: 'not', arg: this.not() }));
    return this.predicate();
  }
  private predicate(): Expr {
    // A parenthesis opens a boolean group when it does not parse as arithmetic followed by a comparison.
    if (this.tok.t === 'op' && this.tok.v === '(') {
      const start = this.i;
      try {
        this.i += 1;
        const inner = this.nested(() => this.or());
        this.expect(')');
        if (!this.startsComparison()) return inner;
      } catch (err) {
        if (!(err instanceof ParseError)) throw err;
      }
      this.i = start;
    }
    const arg = this.sum();
    if (this.eatKw('is')) {
      const negated = this.eatKw('not');
      if (!this.eatKw('null')) throw new ParseError('expected NULL', this.tok.at);
      return { kind: 'isnull', arg, negated };
    }
    const negated = this.eatKw('not');
    if (this.eatKw('in')) {
      this.expect('(');
      const list = [this.sum()];
      while (this.eatOp(',')) list.push(this.sum());
      this.expect(')');
      if (list.length > 1000) throw new ParseError('at most 1000 values in IN', this.tok.at);
      return { kind: 'in', arg, list, negated };
    }
    if (this.eatKw('between')) {
      const low = this.sum();
      if (!this.eatKw('and')) throw new ParseError('expected AND', this.tok.at);
      return { kind: 'between', arg, low, high: this.sum(), negated };
    }
    if (negated) throw new ParseError('expected IN or BETWEEN after NOT', this.tok.at);
    const op = this.tok.t === 'op' && ['=', '<>', '<', '<=', '>', '>='].includes(this.tok.v) ? (this.tok.v as '=') : null;
    if (op === null) {
      if (arg.kind === 'column' || arg.kind === 'bool') return arg; // a boolean column or literal
      throw new ParseError('expected a comparison', this.tok.at);
    }
    this.i += 1;
    return { kind: 'cmp', op, left: arg, right: this.sum() };
  }
  private startsComparison(): boolean {
    const t = this.tok;
    return (t.t === 'op' && ['=', '<>', '<', '<=', '>', '>=', '+', '-', '*', '/'].includes(t.v)) ||
      (t.t === 'id' && ['is', 'in', 'between', 'not'].includes(t.v.toLowerCase()));
  }
  private sum(): Expr {
    let left = this.product();
    while (this.tok.t === 'op' && (this.tok.v === '+' || this.tok.v === '-')) {
      const op = this.tok.v as '+';
      this.i += 1;
      left = { kind: 'arith', op, left, right: this.product() };
    }
    return left;
  }
  private product(): Expr {
    let left = this.unary();
    while (this.tok.t === 'op' && (this.tok.v === '*' || this.tok.v === '/')) {
      const op = this.tok.v as '*';
      this.i += 1;
      left = { kind: 'arith', op, left, right: this.unary() };
    }
    return left;
  }
  private unary(): Expr {
    if (this.eatOp('-')) return this.nested(() => ({ kind: 'neg', arg: this.unary() }));
    if (this.eatOp('(')) {
      const inner = this.nested(() => this.sum());
      this.expect(')');
      return inner;
    }
    const t = this.tok;
    if (t.t === 'num') {
      this.i += 1;
      return { kind: 'number', value: t.v };
    }
    if (t.t === 'str') {
      this.i += 1;
      return { kind: 'string', value: t.v };
    }
    if (t.t === 'id') {
      const word = t.v.toLowerCase();
      if (word === 'true' || word === 'false') {
        this.i += 1;
        return { kind: 'bool', value: word === 'true' };
      }
      if (word === 'null') {
        this.i += 1;
        return { kind: 'null' };
      }
      if (KEYWORDS.has(word)) throw new ParseError(`unexpected ${t.v.toUpperCase()}`, t.at);
      if (STATEMENT_WORDS.has(word)) throw new ParseError(`subqueries, statements and ${t.v.toUpperCase()} are not allowed`, t.at);
      this.i += 1;
      if (this.tok.t === 'op' && this.tok.v === '(') throw new ParseError(`function calls are not allowed ('${t.v}')`, t.at);
      return { kind: 'column', name: t.v };
    }
    throw new ParseError(t.t === 'end' ? 'unexpected end of the expression' : `unexpected '${t.v}'`, t.at);
  }
}

/** Parses an assertion; a refusal says why and where (0-based character position). */
export function parseExpression(text: string): ParsedExpression {
  if (text.length > MAX_EXPRESSION) return { ok: false, message: `longer than ${MAX_EXPRESSION} characters`, position: MAX_EXPRESSION };
  try {
    return { ok: true, expr: new Parser(tokenize(text)).parse() };
  } catch (err) {
    if (err instanceof ParseError) return { ok: false, message: err.message, position: err.position };
    throw err;
  }
}

/** The columns an expression reads. */
export function expressionColumns(e: Expr): string[] {
  switch (e.kind) {
    case 'column':
      return [e.name];
    case 'neg':
    case 'not':
    case 'isnull':
      return expressionColumns(e.arg);
    case 'arith':
    case 'cmp':
    case 'and':
    case 'or':
      return [...expressionColumns(e.left), ...expressionColumns(e.right)];
    case 'in':
      return [...expressionColumns(e.arg), ...e.list.flatMap(expressionColumns)];
    case 'between':
      return [...expressionColumns(e.arg), ...expressionColumns(e.low), ...expressionColumns(e.high)];
    default:
      return [];
  }
}

/**
 * The SQL of a parsed expression: columns as `alias."name"`, strings as parameters appended to `params`, numbers
 * (digits only, by the grammar) inline. Every node is parenthesized, so precedence is the tree's.
 */
export function expressionSql(e: Expr, alias: string, params: unknown[]): string {
  const q = (x: Expr) => expressionSql(x, alias, params);
  switch (e.kind) {
    case 'column':
      return `${alias}."${e.name.replace(/"/g, '""')}"`;
    case 'number':
      return e.value;
    case 'string':
      // Untyped: the database types it from its context (a date column makes it a date).
      return `$${params.push(e.value)}`;
    case 'bool':
      return e.value ? 'true' : 'false';
    case 'null':
      return 'NULL';
    case 'neg':
      return `(-${q(e.arg)})`;
    case 'arith':
    case 'cmp':
      return `(${q(e.left)} ${e.op} ${q(e.right)})`;
    case 'and':
    case 'or':
      return `(${q(e.left)} ${e.kind.toUpperCase()} ${q(e.right)})`;
    case 'not':
      return `(NOT ${q(e.arg)})`;
    case 'isnull':
      return `(${q(e.arg)} IS ${e.negated ? 'NOT ' : ''}NULL)`;
    case 'in':
      return `(${q(e.arg)} ${e.negated ? 'NOT ' : ''}IN (${e.list.map(q).join(', ')}))`;
    case 'between':
      return `(${q(e.arg)} ${e.negated ? 'NOT ' : ''}BETWEEN ${q(e.low)} AND ${q(e.high)})`;
  }
}
