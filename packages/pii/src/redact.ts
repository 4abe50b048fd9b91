import { findPii } from './detect.js';

/**
 * Literal values quoted in error messages: Python reprs ('…' or "…", backslash escapes), Postgres literals ("…", with
 * doubled quotes) and Postgres key details (`Key (email)=(alice@example.com)`).
 */
const LITERALS = /'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.|"")*"|(?<=\)=\()[^)\n]*(?=\))/g;

const placeholder = (value: string) => `<text:${value.length}>`;

/**
 * An error message fit for readers who may not see row data: every quoted literal becomes its type and length
 * (`<text:17>`), every piece of personal data the detector finds outside quotes becomes `<email:17>` and the like.
 * The rest (the error's wording, type and column names in `Key (email)`) stays.
 */
export function redactValues(text: string): string {
  const quoted = text.replace(LITERALS, (m) => {
    if (m.startsWith("'") || m.startsWith('"')) return placeholder(m.slice(1, -1));
    return placeholder(m);
  });
  let out = '';
  let at = 0;
  for (const m of findPii(quoted)) {
    out += quoted.slice(at, m.start) + `<${m.kind}:${m.text.length}>`;
    at = m.end;
  }
  return out + quoted.slice(at);
}
