/** Row-to-record helpers shared by every aggregate module. */
export type Row = Record<string, unknown>;

/** A timestamp column as ISO 8601 text (null stays null). */
export const iso = (v: unknown): string | null => (v instanceof Date ? v.toISOString() : typeof v === 'string' ? v : null);
/** A numeric column (bigint arrives as text) as a number (null stays null). */
export const num = (v: unknown): number | null => (v == null ? null : Number(v));
/** A nullable text column. */
export const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
