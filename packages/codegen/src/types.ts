/** A column of a row set: its name and its PostgreSQL type name (text, int8, numeric(12,2), date, timestamptz...). */
export interface Column {
  name: string;
  type: string;
}

/** A literal in a condition or a fill: JSON-serialisable. */
export type Literal = string | number | boolean;

export type CompareOperator = '=' | '!=' | '<' | '<=' | '>' | '>=';

export type Condition =
  | { kind: 'compare'; column: string; operator: CompareOperator; value: Literal; ignoreCase: boolean }
  | { kind: 'in'; column: string; values: Literal[]; negate: boolean; ignoreCase: boolean }
  /** `blank`: empty or whitespace-only strings count as missing too. */
  | { kind: 'null'; column: string; negate: boolean; blank: boolean }
  | { kind: 'text'; column: string; match: 'contains' | 'starts_with' | 'ends_with' | 'regex'; value: string; negate: boolean; ignoreCase: boolean }
  | { kind: 'all'; conditions: Condition[] }
  | { kind: 'any'; conditions: Condition[] };

export type CastTarget = 'integer' | 'numeric' | 'boolean' | 'date' | 'timestamp';

export type MaskStyle = { kind: 'keep_prefix'; n: number } | { kind: 'email_domain' } | { kind: 'token'; token: string };

export type KeepRule = { rule: 'first' } | { rule: 'last' } | { rule: 'lowest' | 'highest'; column: string };

export type AggregateFunction = 'sum' | 'count' | 'avg' | 'min' | 'max';

export interface Measure {
  fn: AggregateFunction;
  /** null: count(*) */
  column: string | null;
  as: string;
}

export type DatePart = 'year' | 'quarter' | 'month' | 'day' | 'hour' | 'minute' | 'weekday';

/** One step of a plan. Every variant is plain JSON (no functions, no class instances). */
export type Operation =
  /** keep: rows where the condition is true are kept; !keep: rows where it is true are dropped (null/unknown never drops). */
  | { op: 'filter'; keep: boolean; condition: Condition }
  | { op: 'select'; columns: string[] }
  | { op: 'drop'; columns: string[] }
  | { op: 'rename'; from: string; to: string }
  /** Values that do not parse become null (onError 'null') or drop their row ('drop'). timezone: assumed for timestamps without an offset. */
  | { op: 'cast'; column: string; to: CastTarget; scale: number | null; timezone: string; dayFirst: boolean | null; onError: 'null' | 'drop' }
  | { op: 'text'; columns: string[]; fn: 'trim' | 'lower' | 'upper' | 'collapse' | 'title' }
  /** Null (and, for text, blank) values become `value`. */
  | { op: 'fill_null'; column: string; value: Literal }
  /** Drop rows whose value is null or blank in any of the columns. */
  | { op: 'drop_null'; columns: string[] }
  | { op: 'dedupe'; keys: string[]; ignoreCase: boolean; ignoreWhitespace: boolean; keep: KeepRule }
  | { op: 'mask'; column: string; style: MaskStyle }
  /** SHA-256 (hex) of the trimmed, lower-cased value, into `target` (= column for in place). */
  | { op: 'hash'; column: string; target: string }
  /** E.164 (+<digits>) with a default country for national numbers; numbers that are not valid become null. */
  | { op: 'phone'; column: string; country: string | null; target: string }
  | { op: 'split'; column: string; separator: string | null; into: string[] }
  | { op: 'concat'; columns: string[]; separator: string; target: string }
  | { op: 'date_part'; column: string; part: DatePart; target: string }
  | { op: 'date_trunc'; column: string; unit: 'day' | 'month'; target: string }
  | { op: 'aggregate'; groupBy: string[]; measures: Measure[] }
  | { op: 'sort'; keys: { column: string; descending: boolean }[] };

export interface PlanOk {
  ok: true;
  plan: Operation[];
  code: string;
  language: 'python';
  explanation: string;
  outputColumns: Column[];
  plannerVersion: string;
}

export interface PlanRefusal {
  ok: false;
  /** The exact fragment of the instruction that could not be mapped. */
  clause: string;
  reason: string;
}

export type PlanResult = PlanOk | PlanRefusal;
