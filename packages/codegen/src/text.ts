// Quote-aware text utilities for the instruction parser.

const QUOTE_PAIRS: [string, string][] = [
  ['"', '"'],
  ['“', '”'],
  ['‘', '’'],
  ['`', '`'],
];
const OPAQUE = '\uE000';

/**
 * The text with the inside of every quoted value replaced by a private character (same length),
 * so that separators and keywords are never found inside quotes. A single quote opens a value only
 * after a space, an opening bracket, a comma, "=" or ":" (so "don't" and "customer's" are words).
 */
export function maskQuotes(text: string): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const ch = text[i]!;
    const pair = QUOTE_PAIRS.find(([open]) => open === ch);
    const singleOpens = ch === "'" && (i === 0 || /[\s([,=:]/.test(text[i - 1]!));
    const close = pair ? pair[1] : singleOpens ? "'" : null;
    if (close !== null) {
      const end = text.indexOf(close, i + 1);
      if (end > i) {
        out += ch + OPAQUE.repeat(end - i - 1) + close;
        i = end + 1;
        continue;
      }
    }
    out += ch;
    i += 1;
  }
  return out;
}

/** If the whole text is one quoted value, its content; else null. */
export function unquote(text: string): string | null {
  const t = text.trim();
  if (t.length < 2) return null;
  const masked = maskQuotes(t);
  const first = t[0]!;
  const pair = QUOTE_PAIRS.find(([open]) => open === first) ?? (first === "'" ? ["'", "'"] : null);
  if (!pair || t[t.length - 1] !== pair[1]) return null;
  if (masked.slice(1, -1).replace(new RegExp(OPAQUE, 'g'), '') !== '') return null;
  return t.slice(1, -1);
}

export interface Span {
  start: number;
  end: number;
}

/** Spans of `text` between the matches of `separator` (searched in the quote-masked text). */
export function splitSpans(text: string, separator: RegExp): Span[] {
  const masked = maskQuotes(text);
  const spans: Span[] = [];
  let start = 0;
  const re = new RegExp(separator.source, separator.flags.includes('g') ? separator.flags : separator.flags + 'g');
  for (let m = re.exec(masked); m !== null; m = re.exec(masked)) {
    if (m[0].length === 0) {
      re.lastIndex += 1;
      continue;
    }
    spans.push({ start, end: m.index });
    start = m.index + m[0].length;
  }
  spans.push({ start, end: text.length });
  return spans;
}

/** Quote-aware split of a list ("a, b and c", "'x', 'y' or 'z'"), trimmed, empty items dropped. */
export function splitList(text: string, withOr = false): string[] {
  const sep = withOr ? /\s*,\s*(?:and\s+|or\s+)?|\s+(?:and|or|&)\s+|\s*\/\s*/i : /\s*,\s*(?:and\s+)?|\s+(?:and|&)\s+/i;
  return splitSpans(text, sep)
    .map((s) => text.slice(s.start, s.end).trim())
    .filter((s) => s.length > 0);
}

/** Index of the first match of `re` in the quote-masked text, or -1. */
export function searchOutsideQuotes(text: string, re: RegExp): RegExpExecArray | null {
  return re.exec(maskQuotes(text));
}
