import { isIPv6 } from 'node:net';

/** The kinds of personal data this package finds. `person_name` and `address` come from column names only. */
export type PiiKind = 'email' | 'phone' | 'iban' | 'card' | 'ipv4' | 'ipv6' | 'national_id' | 'person_name' | 'address';

export interface PiiMatch {
  kind: PiiKind;
  start: number;
  end: number;
  text: string;
}

/** Luhn checksum (card numbers): `digits` holds digits only. */
export function luhnValid(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return digits.length > 0 && sum % 10 === 0;
}

/** ISO 13616 mod-97 remainder of an IBAN (letters and digits only, any case); a valid IBAN gives 1. */
export function ibanRemainder(iban: string): number {
  const s = iban.toUpperCase();
  const rearranged = s.slice(4) + s.slice(0, 4);
  let rem = 0;
  for (const ch of rearranged) {
    const code = ch.charCodeAt(0);
    const value = code >= 65 ? String(code - 55) : ch;
    for (const digit of value) rem = (rem * 10 + (digit.charCodeAt(0) - 48)) % 97;
  }
  return rem;
}

const digitsOf = (s: string): string => s.replace(/\D/g, '');
const alnumOf = (s: string): string => s.replace(/[^A-Za-z0-9]/g, '');
const DATE_LIKE = /\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{4}/;

interface Detector {
  kind: PiiKind;
  pattern: RegExp;
  accept: (text: string) => boolean;
}

/**
 * In priority order: where two candidates overlap, the earlier detector wins (an email's digits are not a
 * phone number; a Luhn-valid digit run is a card, not a generic id). Boundaries keep a match from starting or
 * ending inside a longer word or number.
 */
const DETECTORS: readonly Detector[] = [
  { kind: 'email', pattern: /[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}/g, accept: () => true },
  {
    kind: 'iban',
    pattern: /(?<![A-Za-z0-9])[A-Za-z]{2}\d{2}(?: ?[A-Za-z0-9]){11,30}(?![A-Za-z0-9])/g,
    accept: (t) => ibanRemainder(alnumOf(t)) === 1,
  },
  {
    kind: 'card',
    pattern: /(?<![\d.,-])\d(?:[ -]?\d){12,18}(?![\d.,]\d|\d)/g,
    accept: (t) => luhnValid(digitsOf(t)),
  },
  {
    kind: 'ipv6',
    pattern: /(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])/g,
    accept: (t) => isIPv6(t),
  },
  {
    kind: 'ipv4',
    pattern: /(?<![\d.])(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}(?![\d.]*\d)/g,
    accept: () => true,
  },
  { kind: 'national_id', pattern: /(?<![\d-])\d{3}-\d{2}-\d{4}(?![\d-]*\d)/g, accept: () => true },
  {
    kind: 'phone',
    pattern: /(?<![\w+])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?\d{2,4}(?:[ .-]\d{2,8}){1,4}(?![\w.]*\d)/g,
    accept: (t) => {
      const n = digitsOf(t).length;
      return n >= 7 && n <= 15 && !DATE_LIKE.test(t) && (/^[+(]/.test(t) || /[ .-]/.test(t));
    },
  },
  { kind: 'phone', pattern: /\+\d{7,15}(?!\d)/g, accept: () => true },
  { kind: 'national_id', pattern: /(?<![\d.,])\d{9,}(?![.,]?\d)/g, accept: () => true },
];

/** Every piece of personal data found in free text, non-overlapping, in order of position. */
export function findPii(text: string): PiiMatch[] {
  const taken: PiiMatch[] = [];
  const overlaps = (start: number, end: number) => taken.some((m) => start < m.end && m.start < end);
  for (const detector of DETECTORS) {
    for (const found of text.matchAll(detector.pattern)) {
      const start = found.index;
      const end = start + found[0].length;
      if (detector.accept(found[0]) && !overlaps(start, end)) taken.push({ kind: detector.kind, start, end, text: found[0] });
    }
  }
  return taken.sort((a, b) => a.start - b.start);
}

/**
 * The kind a column name announces: names and addresses are only recognisable this way; a column called
 * `phone` or `ssn` is masked whole even when its values do not look like one.
 */
export function kindOfColumn(name: string): PiiKind | undefined {
  const n = name
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_');
  const has = (re: RegExp) => re.test(n);
  if (has(/(^|_)e?_?mail(_address)?($|_)/)) return 'email';
  if (has(/(^|_)(phone|telephone|tel|mobile|cell|fax|msisdn)($|_)/)) return 'phone';
  if (has(/(^|_)iban($|_)/)) return 'iban';
  if (has(/(^|_)(card|cc|pan)_?(number|no|num)?($|_)|(^|_)credit_?card/)) return 'card';
  if (has(/(^|_)ip(_?v[46])?(_address|_addr)?($|_)/)) return 'ipv4';
  if (has(/(^|_)(ssn|sin|nin|tin|social_security|national_id|passport|tax_id|tax_number|id_number|driver_licen[cs]e)/)) {
    return 'national_id';
  }
  if (
    has(/^(name|names|surname|forename|firstname|lastname|fullname|middlename|maiden_name)$/) ||
    has(/(^|_)(first|last|middle|full|given|family|sur|maiden|display|contact|customer|client|person|employee|owner|holder|patient|member|user)_?name($|_)/)
  ) {
    return 'person_name';
  }
  if (has(/(^|_)(address|addr|street|city|town|zip|zipcode|zip_code|postcode|postal_code|house_number|apartment)($|_|\d)/)) {
    return 'address';
  }
  return undefined;
}
