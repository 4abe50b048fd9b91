import { isReservedSchema } from '@aoetl/contracts';
import { hasSqlDetails, loadModule, parseSync, scanSync } from 'libpg-query';
import { ALLOWED_FUNCTIONS, ALLOWED_SAMPLE_METHODS, catalogType, deniedCategory, type DeniedCategory } from './functions.js';

/** The rule a refused query breaks (stable codes; docs/api/README.md lists them). */
export type GuardRule =
  | 'syntax'
  | 'empty'
  | 'multiple_statements'
  | 'not_select'
  | 'data_modifying_cte'
  | 'select_into'
  | 'locking_clause'
  | 'reserved_schema'
  | 'schema_not_allowed'
  | 'unqualified_relation'
  | 'cross_database'
  | 'function_denied'
  | 'function_not_allowed'
  | 'function_schema'
  | 'operator_schema'
  | 'type_not_allowed'
  | 'parameter'
  | 'tablesample_method';

export interface Refusal {
  rule: GuardRule;
  /** 1-based character position in the query (PostgreSQL's convention), 0 when the whole query is meant. */
  position: number;
  message: string;
  /** For `function_denied`: the family of the function. */
  category?: DeniedCategory;
}

/** What the query may read: the pipeline's source table and any relation of the connection's allowed schemas. */
export interface GuardPolicy {
  /** `schema.table` of the pipeline's source. */
  sourceTable: string;
  /** Schemas of the source connection's allow-list (reserved schemas are refused whatever this says). */
  allowedSchemas: readonly string[];
}

export type GuardResult =
  | {
      ok: true;
      /** The one statement's text, without a trailing semicolon: what to embed (on its own lines) in `COPY (…) TO STDOUT`. */
      statement: string;
      relations: string[];
      functions: string[];
    }
  | { ok: false; refusals: Refusal[] };

type Json = Record<string, unknown>;

let loaded: Promise<void> | null = null;
/** Loads the parser (WebAssembly, compiled once per process). Call before `checkQuery`; `guardQuery` does. */
export function loadSqlGuard(): Promise<void> {
  loaded ??= loadModule();
  return loaded;
}

/** Checks a query once the parser is loaded (`loadSqlGuard`). */
export function checkQuery(query: string, policy: GuardPolicy): GuardResult {
  return new Guard(query, policy).run();
}

/** Loads the parser if needed and checks the query. */
export async function guardQuery(query: string, policy: GuardPolicy): Promise<GuardResult> {
  await loadSqlGuard();
  return checkQuery(query, policy);
}

/** `rule at position N: message` — how a refusal reads in an error. */
export function describeRefusal(r: Refusal): string {
  return `${r.rule} at position ${r.position}: ${r.message}`;
}

const STATEMENT_NAMES: Record<string, string> = {
  CopyStmt: 'COPY',
  DoStmt: 'DO',
  VariableSetStmt: 'SET',
  VariableShowStmt: 'SHOW',
  CallStmt: 'CALL',
  InsertStmt: 'INSERT',
  UpdateStmt: 'UPDATE',
  DeleteStmt: 'DELETE',
  MergeStmt: 'MERGE',
  ExplainStmt: 'EXPLAIN',
  ExecuteStmt: 'EXECUTE',
  PrepareStmt: 'PREPARE',
  TransactionStmt: 'a transaction statement',
  CreateTableAsStmt: 'CREATE TABLE AS',
  LockStmt: 'LOCK',
  TruncateStmt: 'TRUNCATE',
  NotifyStmt: 'NOTIFY',
  ListenStmt: 'LISTEN',
  LoadStmt: 'LOAD',
  VacuumStmt: 'VACUUM',
  AlterSystemStmt: 'ALTER SYSTEM',
  GrantStmt: 'GRANT',
  DropStmt: 'DROP',
  CreateFunctionStmt: 'CREATE FUNCTION',
  DeclareCursorStmt: 'DECLARE CURSOR',
};
const DATA_MODIFYING = new Set(['InsertStmt', 'UpdateStmt', 'DeleteStmt', 'MergeStmt']);

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const names = (list: unknown): string[] =>
  Array.isArray(list) ? list.map((n) => (isObject(n) && isObject(n.String) && typeof n.String.sval === 'string' ? n.String.sval : '')) : [];

class Guard {
  private readonly refusals: Refusal[] = [];
  private readonly relations = new Set<string>();
  private readonly functions = new Set<string>();
  private readonly bytes: Buffer;
  private readonly allowed: Set<string>;
  private readonly source: string;

  constructor(
    private readonly query: string,
    policy: GuardPolicy,
  ) {
    this.bytes = Buffer.from(query, 'utf8');
    this.allowed = new Set(policy.allowedSchemas);
    this.source = policy.sourceTable;
  }

  run(): GuardResult {
    if (this.query.trim() === '') return this.refuse('empty', -1, 'the query is empty');
    let tree: { stmts?: Json[] };
    try {
      tree = parseSync(this.query) as { stmts?: Json[] };
    } catch (err) {
      // The parser's cursor is a 0-based character offset.
      const at = hasSqlDetails(err) && err.sqlDetails ? err.sqlDetails.cursorPosition + 1 : 0;
      const message = err instanceof Error ? err.message : String(err);
      return { ok: false, refusals: [{ rule: 'syntax', position: at, message: `the query does not parse: ${message}` }] };
    }
    const stmts = tree.stmts ?? [];
    if (stmts.length === 0) return this.refuse('empty', -1, 'the query has no statement');
    if (stmts.length > 1) {
      const second = stmts[1]!;
      return this.refuse('multiple_statements', this.tokenAt(Number(second.stmt_location ?? 0)), `exactly one statement is allowed; found ${stmts.length}`);
    }
    const stmt = stmts[0]!.stmt as Json;
    const [kind, body] = Object.entries(stmt)[0] as [string, Json];
    if (kind !== 'SelectStmt') {
      return this.refuse('not_select', Number(stmts[0]!.stmt_location ?? 0), `only a SELECT is allowed, not ${STATEMENT_NAMES[kind] ?? kind}`);
    }
    this.select(body, new Set(), 0);
    if (this.refusals.length > 0) return { ok: false, refusals: this.refusals.sort((a, b) => a.position - b.position) };
    const from = Number(stmts[0]!.stmt_location ?? 0);
    const len = Number(stmts[0]!.stmt_len ?? 0);
    const statement = this.bytes.subarray(from, len > 0 ? from + len : undefined).toString('utf8').trim();
    return { ok: true, statement, relations: [...this.relations].sort(), functions: [...this.functions].sort() };
  }

  /** 1-based character position of a byte offset of the parser (-1: the whole query, reported as 0). */
  private position(byteOffset: number): number {
    if (byteOffset < 0) return 0;
    return [...this.bytes.subarray(0, byteOffset).toString('utf8')].length + 1;
  }

  private refuse(rule: GuardRule, at: number, message: string, category?: DeniedCategory): { ok: false; refusals: Refusal[] } {
    this.refusals.push({ rule, position: this.position(at), message, ...(category ? { category } : {}) });
    return { ok: false, refusals: this.refusals };
  }

  /** One SELECT (or set operation), with the CTE names visible to it. */
  private select(s: Json, visible: ReadonlySet<string>, at: number): void {
    const loc = typeof s.location === 'number' && s.location >= 0 ? s.location : at;
    if (isObject(s.intoClause)) {
      const rel = s.intoClause.rel as Json | undefined;
      this.refuse('select_into', Number(rel?.location ?? loc), 'SELECT INTO creates a table; only a plain SELECT is allowed');
    }
    if (Array.isArray(s.lockingClause) && s.lockingClause.length > 0) {
      this.refuse('locking_clause', this.lockingOffset(loc), 'FOR UPDATE/SHARE locks rows; only a plain SELECT is allowed');
    }
    const scope = new Set(visible);
    if (isObject(s.withClause)) {
      const ctes = (s.withClause.ctes as Json[] | undefined) ?? [];
      const recursive = s.withClause.recursive === true;
      const all = ctes.map((c) => String((c.CommonTableExpr as Json).ctename));
      if (recursive) all.forEach((n) => scope.add(n));
      for (const c of ctes) {
        const cte = c.CommonTableExpr as Json;
        const cteAt = Number(cte.location ?? loc);
        const [kind, body] = Object.entries(cte.ctequery as Json)[0] as [string, Json];
        if (kind !== 'SelectStmt') {
          this.refuse('data_modifying_cte', cteAt, `the WITH query '${String(cte.ctename)}' is ${STATEMENT_NAMES[kind] ?? kind}; only SELECT is allowed`);
        } else {
          this.select(body, scope, cteAt);
        }
        // A non-recursive WITH: each query sees only the ones before it.
        scope.add(String(cte.ctename));
        this.walk(cte.aliascolnames, scope, cteAt);
      }
    }
    if (s.op && s.op !== 'SETOP_NONE') {
      if (isObject(s.larg)) this.select(s.larg, scope, loc);
      if (isObject(s.rarg)) this.select(s.rarg, scope, loc);
    }
    for (const [key, value] of Object.entries(s)) {
      if (['intoClause', 'lockingClause', 'withClause', 'larg', 'rarg'].includes(key)) continue;
      this.walk(value, scope, loc);
    }
  }

  /** The first token at or after a byte offset (a statement's location includes the blanks and comments before it). */
  private tokenAt(byteOffset: number): number {
    return scanSync(this.query).tokens.find((t) => t.start >= byteOffset)?.start ?? byteOffset;
  }

  /** Where the locking clause starts: the FOR token followed by UPDATE, SHARE, NO or KEY. */
  private lockingOffset(fallback: number): number {
    const tokens = scanSync(this.query).tokens;
    for (let i = 0; i + 1 < tokens.length; i += 1) {
      const t = tokens[i]!;
      if (t.text.toUpperCase() === 'FOR' && ['UPDATE', 'SHARE', 'NO', 'KEY'].includes(tokens[i + 1]!.text.toUpperCase())) return t.start;
    }
    return fallback;
  }

  /** Any value of the tree: nodes are `{ TypeName: {...} }`; a few fields hold their node unwrapped. */
  private walk(value: unknown, scope: ReadonlySet<string>, at: number): void {
    if (Array.isArray(value)) {
      for (const v of value) this.walk(v, scope, at);
      return;
    }
    if (!isObject(value)) return;
    for (const [key, child] of Object.entries(value)) {
      if (!isObject(child)) {
        if (Array.isArray(child)) this.walk(child, scope, at);
        continue;
      }
      if (/^[A-Z]/.test(key)) this.node(key, child, scope, at);
      else if (key === 'typeName' && Array.isArray(child.names)) this.typeName(child, at);
      else this.walk(child, scope, typeof value.location === 'number' && value.location >= 0 ? value.location : at);
    }
  }

  private node(kind: string, n: Json, scope: ReadonlySet<string>, parentAt: number): void {
    const at = typeof n.location === 'number' && n.location >= 0 ? n.location : parentAt;
    switch (kind) {
      case 'SelectStmt':
        this.select(n, scope, at);
        return;
      case 'RangeVar':
        this.rangeVar(n, scope, at);
        return;
      case 'FuncCall':
        this.funcCall(n, at);
        break;
      case 'TypeName':
        this.typeName(n, at);
        return;
      case 'A_Expr': {
        const op = names(n.name);
        if (op.length > 1 && op[0] !== 'pg_catalog') {
          this.refuse('operator_schema', at, `operator ${op.join('.')} is not a built-in operator`);
        }
        break;
      }
      case 'ParamRef':
        this.refuse('parameter', at, 'parameters ($n) are not allowed in a transform query');
        return;
      case 'RangeTableSample': {
        const method = names(n.method);
        const name = method[method.length - 1] ?? '';
        if (method.length > 1 || !ALLOWED_SAMPLE_METHODS.has(name)) {
          this.refuse('tablesample_method', at, `TABLESAMPLE ${method.join('.')} is not allowed (only BERNOULLI and SYSTEM)`);
        }
        break;
      }
      default:
        if (DATA_MODIFYING.has(kind)) {
          this.refuse('data_modifying_cte', at, `${STATEMENT_NAMES[kind]} is not allowed in a transform query`);
          return;
        }
    }
    this.walk(n, scope, at);
  }

  private rangeVar(n: Json, scope: ReadonlySet<string>, at: number): void {
    const schema = typeof n.schemaname === 'string' ? n.schemaname : null;
    const rel = String(n.relname);
    if (typeof n.catalogname === 'string') {
      this.refuse('cross_database', at, `${n.catalogname}.${schema}.${rel} names another database`);
      return;
    }
    if (schema === null) {
      if (scope.has(rel)) return;
      this.refuse('unqualified_relation', at, `relation '${rel}' must be schema-qualified (or name a WITH query)`);
      return;
    }
    const qualified = `${schema}.${rel}`;
    if (isReservedSchema(schema)) {
      this.refuse('reserved_schema', at, `schema '${schema}' is reserved (${qualified})`);
      return;
    }
    if (qualified !== this.source && !this.allowed.has(schema)) {
      this.refuse('schema_not_allowed', at, `schema '${schema}' is not in the connection's allowed schemas (${qualified})`);
      return;
    }
    this.relations.add(qualified);
  }

  private funcCall(n: Json, at: number): void {
    const parts = names(n.funcname);
    const name = parts[parts.length - 1] ?? '';
    const qualified = parts.join('.');
    if (parts.length > 2 || (parts.length === 2 && parts[0] !== 'pg_catalog')) {
      this.refuse('function_schema', at, `function ${qualified} is not a built-in function`);
      return;
    }
    const category = deniedCategory(name);
    if (category) {
      this.refuse('function_denied', at, `function ${name} is denied (${category})`, category);
      return;
    }
    if (!ALLOWED_FUNCTIONS.has(name)) {
      this.refuse('function_not_allowed', at, `function ${name} is not in the allowlist`);
      return;
    }
    this.functions.add(name);
  }

  private typeName(t: Json, parentAt: number): void {
    const at = typeof t.location === 'number' && t.location >= 0 ? t.location : parentAt;
    const parts = names(t.names);
    const name = parts[parts.length - 1] ?? '';
    if (parts.length > 2 || (parts.length === 2 && parts[0] !== 'pg_catalog') || catalogType(name)) {
      this.refuse('type_not_allowed', at, `type ${parts.join('.')} is not allowed in a transform query`);
    }
  }
}
