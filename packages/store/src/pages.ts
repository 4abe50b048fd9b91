import { InputError } from '@aoetl/contracts';
import type { Row } from './rows.js';

/** Pagination shared by every list: keyset pages behind an opaque cursor. */
export const MAX_PAGE_SIZE = 100;

export interface PageRequest {
  limit: number;
  cursor?: string | undefined;
}

export interface Page<T> {
  items: T[];
  /** Pass as `cursor` for the next page; null on the last page. */
  nextCursor: string | null;
}

// A cursor is a base64url JSON array of the sort key of the last row returned.
export type CursorPart = 'micros' | 'uuid' | 'text' | 'int';
const CURSOR_CHECK: Record<CursorPart, (v: unknown) => boolean> = {
  micros: (v) => typeof v === 'string' && /^-?\d{1,19}$/.test(v),
  uuid: (v) => typeof v === 'string' && /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(v),
  text: (v) => typeof v === 'string' && v.length <= 200,
  int: (v) => typeof v === 'number' && Number.isSafeInteger(v),
};

export function encodeCursor(parts: (string | number)[]): string {
  return Buffer.from(JSON.stringify(parts)).toString('base64url');
}

/** The sort key a cursor stands for; null without a cursor. InputError (field `cursor`) for any other text. */
export function decodeCursor(cursor: string | undefined, shape: CursorPart[]): (string | number)[] | null {
  if (cursor === undefined) return null;
  let parts: unknown;
  try {
    parts = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    parts = undefined;
  }
  if (!Array.isArray(parts) || parts.length !== shape.length || !shape.every((s, i) => CURSOR_CHECK[s](parts[i]))) {
    throw new InputError('cursor: not a cursor this list returned', {
      details: [{ field: 'cursor', message: 'is not a cursor this list returned' }],
    });
  }
  return parts as (string | number)[];
}

/** The requested page size, within 1..MAX_PAGE_SIZE. */
export function pageSize(limit: number): number {
  return Math.min(Math.max(Math.trunc(limit) || 1, 1), MAX_PAGE_SIZE);
}

/** One page from `limit + 1` rows: the extra row only says there is a next page. */
export function toPage<T>(rows: Row[], limit: number, map: (r: Row) => T, key: (r: Row) => (string | number)[]): Page<T> {
  const more = rows.length > limit;
  const kept = more ? rows.slice(0, limit) : rows;
  return { items: kept.map(map), nextCursor: more ? encodeCursor(key(kept[kept.length - 1]!)) : null };
}

/** The usual sort key: a timestamp as exact microseconds (selected `AS cursor_at`) and the row's id. */
export const atAndId = (r: Row): string[] => [r.cursor_at as string, r.id as string];

/** SQL for a timestamp column's exact microseconds since the epoch (the cursor form of a timestamp). */
export const micros = (col: string) => `(extract(epoch FROM ${col}) * 1000000)::bigint::text`;
/** SQL for the timestamp a micros cursor parameter stands for. */
export const fromMicros = (param: string) => `(timestamptz 'epoch' + ${param}::bigint * interval '1 microsecond')`;
