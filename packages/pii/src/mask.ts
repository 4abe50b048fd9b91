import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import { findPii, ibanRemainder, kindOfColumn, luhnValid, type PiiKind } from './detect.js';

export interface SampleColumn {
  name: string;
  /** PostgreSQL type name, when known; kept as is. */
  type?: string;
}

export type SampleRow = Record<string, unknown>;

/** What was masked in one column: counts per kind, never a value. */
export interface ColumnPiiReport {
  column: string;
  /** The kind the column's name announces (every non-null value is masked whole), if any. */
  semanticKind?: PiiKind;
  /** Values of the column that were changed. */
  maskedValues: number;
  /** Pieces of personal data masked, per kind (a free-text value may hold several). */
  kinds: Partial<Record<PiiKind, number>>;
}

export interface MaskedSample {
  rows: SampleRow[];
  report: ColumnPiiReport[];
}

/** A small deterministic generator (mulberry32) seeded per distinct value: placeholders never derive from the value. */
function generator(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const seedOf = (kind: string, n: number): number => createHash('sha256').update(`${kind}:${n}`).digest().readUInt32BE(0);
const IS_LETTER = /\p{L}/u;

/** Digits become digits and letters letters of the same case; everything else (separators, '+', spaces) stays. */
function shapeMask(original: string, next: () => number): string {
  let out = '';
  for (const ch of original) {
    if (ch >= '0' && ch <= '9') out += String(Math.floor(next() * 10));
    else if (IS_LETTER.test(ch)) {
      const letter = String.fromCharCode(97 + Math.floor(next() * 26));
      out += ch !== ch.toLowerCase() ? letter.toUpperCase() : letter;
    } else out += ch;
  }
  return out;
}

/** Sets the last digit of a masked card number so it passes the Luhn check, as the original did. */
function fixLuhn(masked: string): string {
  const last = masked.search(/\d(?=\D*$)/);
  for (let d = 0; d < 10; d++) {
    const candidate = masked.slice(0, last) + String(d) + masked.slice(last + 1);
    if (luhnValid(candidate.replace(/\D/g, ''))) return candidate;
  }
  return masked;
}

/** Keeps the country code, sets the check digits so the masked IBAN passes mod-97 as the original did. */
function fixIban(original: string, masked: string): string {
  const country = original.slice(0, 2).toUpperCase();
  const body = masked.slice(2);
  const digitsAt = [...body.matchAll(/\d/g)].slice(0, 2).map((m) => m.index);
  const [i, j] = digitsAt;
  if (i === undefined || j === undefined) return country + body;
  const withZeros = body.slice(0, i) + '0' + body.slice(i + 1, j) + '0' + body.slice(j + 1);
  const alnum = (country + withZeros).replace(/[^A-Za-z0-9]/g, '');
  const check = String(98 - ibanRemainder(alnum)).padStart(2, '0');
  return country + withZeros.slice(0, i) + check[0] + withZeros.slice(i + 1, j) + check[1] + withZeros.slice(j + 1);
}

function caseLike(original: string, placeholder: string): string {
  const letters = original.replace(/[^\p{L}]/gu, '');
  if (letters && letters === letters.toUpperCase()) return placeholder.toUpperCase();
  return placeholder;
}

/** The key two values share when a transform would treat them as the same (case, spacing, separators). */
function keyOf(kind: PiiKind, value: string): string {
  switch (kind) {
    case 'phone':
    case 'card':
    case 'iban':
    case 'national_id':
      return value.replace(/[^A-Za-z0-9]/g, '').toUpperCase();
    default:
      return value.trim().replace(/\s+/g, ' ').toLowerCase();
  }
}

/**
 * Masks values for one sample. The same value (up to case, spacing or separators) always gets the same placeholder
 * within a sample, so duplicates stay visible; a placeholder is never one of the sample's own raw values.
 */
export class Masker {
  private readonly byKey = new Map<string, string>();
  private readonly counters = new Map<PiiKind, number>();

  /** `avoid`: lowercased, trimmed raw values that no placeholder may equal. */
  constructor(private readonly avoid: ReadonlySet<string> = new Set()) {}

  placeholder(kind: PiiKind, value: string): string {
    const key = `${kind}\u0000${keyOf(kind, value)}`;
    let masked = this.byKey.get(key);
    if (masked === undefined) {
      do masked = this.generate(kind, value, this.nextIndex(kind));
      while (this.avoid.has(masked.trim().toLowerCase()));
      this.byKey.set(key, masked);
    }
    return this.reshape(kind, value, masked);
  }

  private nextIndex(kind: PiiKind): number {
    const n = (this.counters.get(kind) ?? 0) + 1;
    this.counters.set(kind, n);
    return n;
  }

  /** The placeholder of the first spelling seen; `reshape` gives it this spelling's case and spacing. */
  private generate(kind: PiiKind, value: string, n: number): string {
    switch (structured(kind, value) ? kind : 'shape') {
      case 'email':
        return `user${n}@example.invalid`;
      case 'ipv4': {
        const nets = ['192.0.2', '198.51.100', '203.0.113'];
        const net = nets[Math.floor((n - 1) / 254)];
        return net ? `${net}.${((n - 1) % 254) + 1}` : `240.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
      }
      case 'ipv6':
        return `2001:db8::${n.toString(16)}`;
      default: {
        const next = generator(seedOf(kind, n));
        const masked = shapeMask(value, next);
        if (kind === 'card') return fixLuhn(masked);
        if (kind === 'iban') return fixIban(value, masked);
        return masked;
      }
    }
  }

  private reshape(kind: PiiKind, value: string, masked: string): string {
    if (structured(kind, value)) {
      const lead = /^\s*/.exec(value)?.[0] ?? '';
      const trail = /\s*$/.exec(value)?.[0] ?? '';
      return lead + caseLike(value, masked) + trail;
    }
    if (kind === 'iban' || kind === 'card' || kind === 'phone' || kind === 'national_id') {
      // Same characters, this spelling's separators: walk the original and take masked letters/digits in order.
      const chars = masked.replace(/[^A-Za-z0-9]/g, '');
      let i = 0;
      let out = '';
      for (const ch of value) out += /[A-Za-z0-9]/.test(ch) ? caseOfChar(ch, chars[i++] ?? ch) : ch;
      return out;
    }
    // Names and addresses: this spelling's spacing and case, the first spelling's letters.
    const letters = [...masked].filter((c) => /[\p{L}\p{N}]/u.test(c));
    let i = 0;
    let out = '';
    for (const ch of value) out += /[\p{L}\p{N}]/u.test(ch) ? caseOfChar(ch, letters[i++] ?? 'x') : ch;
    return out;
  }

  /** Masks every piece of personal data found in free text; `seen` counts them per kind. */
  scrub(text: string, seen?: Partial<Record<PiiKind, number>>): string {
    let out = '';
    let at = 0;
    for (const m of findPii(text)) {
      out += text.slice(at, m.start) + this.placeholder(m.kind, m.text);
      at = m.end;
      if (seen) seen[m.kind] = (seen[m.kind] ?? 0) + 1;
    }
    return out + text.slice(at);
  }
}

/** Emails and IP addresses get a placeholder of their own kind; anything else (`n/a` in an email column) its shape. */
function structured(kind: PiiKind, value: string): boolean {
  if (kind === 'email') return value.includes('@');
  if (kind === 'ipv4' || kind === 'ipv6') return isIP(value.trim()) !== 0;
  return false;
}

function caseOfChar(original: string, replacement: string): string {
  if (/\d/.test(original) !== /\d/.test(replacement)) return replacement;
  return original !== original.toLowerCase() ? replacement.toUpperCase() : replacement.toLowerCase();
}

/** Masks the personal data of free text (an error message, a log line). Names and addresses need column names: not found here. */
export function scrubText(text: string): string {
  return new Masker(new Set(findPii(text).map((m) => m.text.trim().toLowerCase()))).scrub(text);
}

const asJson = (v: unknown): string => JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x));
const changed = (a: unknown, b: unknown): boolean => (typeof a === 'object' && a !== null ? asJson(a) !== asJson(b) : a !== b);

function collectStrings(value: unknown, into: Set<string>): void {
  if (typeof value === 'string') into.add(value.trim().toLowerCase());
  else if (typeof value === 'number' || typeof value === 'bigint') into.add(String(value));
  else if (Array.isArray(value)) for (const v of value) collectStrings(v, into);
  else if (value !== null && typeof value === 'object') for (const v of Object.values(value)) collectStrings(v, into);
}

/**
 * Profiles and masks a sample before it goes anywhere near a prompt. Every string is scanned for emails, phone
 * numbers, IBANs, card numbers, IP addresses and national-ID-like numbers (masked inside free text too); a column
 * whose name announces personal data (first_name, street, zip, phone, ssn, …) has every non-null value masked whole.
 * Placeholders keep the shape (an email stays an email, digits stay digits of the same length, case and
 * separators stay), and equal values get equal placeholders. The report gives counts and kinds, never values.
 */
export function maskSample(columns: readonly SampleColumn[], rows: readonly SampleRow[]): MaskedSample {
  const avoid = new Set<string>();
  for (const row of rows) collectStrings(row, avoid);
  const masker = new Masker(avoid);
  const reports = new Map<string, ColumnPiiReport>();
  const names = [...new Set([...columns.map((c) => c.name), ...rows.flatMap((r) => Object.keys(r))])];
  for (const name of names) {
    const semanticKind = kindOfColumn(name);
    reports.set(name, { column: name, ...(semanticKind ? { semanticKind } : {}), maskedValues: 0, kinds: {} });
  }

  const maskValue = (value: unknown, report: ColumnPiiReport): unknown => {
    if (typeof value === 'string') {
      if (report.semanticKind && value.trim() !== '') {
        const found = findPii(value);
        const whole = found.length === 1 && found[0]!.text === value.trim() ? found[0]!.kind : report.semanticKind;
        report.kinds[whole] = (report.kinds[whole] ?? 0) + 1;
        return masker.placeholder(whole, value);
      }
      return masker.scrub(value, report.kinds);
    }
    if ((typeof value === 'number' && Number.isFinite(value)) || typeof value === 'bigint') {
      const text = String(value);
      const kind = report.semanticKind ?? (/^\d{9,}$/.test(text) ? findPii(text)[0]?.kind : undefined);
      if (!kind) return value;
      report.kinds[kind] = (report.kinds[kind] ?? 0) + 1;
      let masked = masker.placeholder(kind === 'phone' || kind === 'card' ? kind : 'national_id', text);
      if (/^0\d/.test(masked) && !/^0/.test(text)) masked = `1${masked.slice(1)}`;
      return typeof value === 'bigint' ? BigInt(masked) : Number(masked);
    }
    if (Array.isArray(value)) return value.map((v) => maskValue(v, report));
    if (value !== null && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, maskValue(v, report)]));
    }
    return value;
  };

  const masked = rows.map((row) => {
    const out: SampleRow = {};
    for (const [name, value] of Object.entries(row)) {
      const report = reports.get(name)!;
      const next = maskValue(value, report);
      if (changed(value, next)) report.maskedValues++;
      out[name] = next;
    }
    return out;
  });
  return { rows: masked, report: [...reports.values()] };
}
