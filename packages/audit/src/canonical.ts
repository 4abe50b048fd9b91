/**
 * Canonical JSON, the byte form every ledger hash and checkpoint signature is computed over:
 *
 * - no whitespace anywhere;
 * - object keys sorted by Unicode code point (the byte order of their UTF-8 form, as PostgreSQL's `COLLATE "C"`);
 *   keys whose value is `undefined` are left out;
 * - strings escaped as `JSON.stringify` does (`\"`, `\\`, `\b \f \n \r \t`, other control characters as
 *   lower-case `\u00xx`, nothing else), which is also what PostgreSQL prints for a jsonb string;
 * - numbers are safe integers only (no floats, no exponents: their text differs between implementations);
 * - `true`, `false`, `null`; arrays keep their order.
 *
 * The control database computes the same form in SQL (`audit_canonical(jsonb)`, migration 1765100000000), so an
 * entry hashed by a trigger verifies here byte for byte.
 */
export type Canonical = null | boolean | number | string | Canonical[] | { [key: string]: Canonical | undefined };

const byCodePoint = (a: string, b: string) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));

export function canonicalJson(value: unknown, path = '$'): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isSafeInteger(value)) throw new TypeError(`${path}: canonical JSON holds safe integers only, not ${value}`);
      return String(value);
    case 'string':
      return JSON.stringify(value);
    case 'object': {
      if (Array.isArray(value)) return `[${value.map((v, i) => canonicalJson(v, `${path}[${i}]`)).join(',')}]`;
      const obj = value as Record<string, unknown>;
      const keys = Object.keys(obj).filter((k) => obj[k] !== undefined).sort(byCodePoint);
      return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k], `${path}.${k}`)}`).join(',')}}`;
    }
    default:
      throw new TypeError(`${path}: ${typeof value} has no canonical JSON form`);
  }
}
