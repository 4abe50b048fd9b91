import { isSpanContextValid, trace } from '@opentelemetry/api';
import pino, { type Logger, type LoggerOptions } from 'pino';

/** Paths pino redacts before a line is written. */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  '*.password',
  '*.token',
  '*.secret',
  '*.secretId',
  '*.clientSecret',
  'password',
  'token',
  'secret',
  'secretId',
  'credentials',
  '*.credentials',
  'client_token',
  '*.client_token',
  'secret_id',
  '*.secret_id',
  'jwt',
  '*.jwt',
  '*.roleId',
];

/** Shortest secret the scrubber accepts: shorter values would redact ordinary words and still leak by guessing. */
export const MIN_SECRET_LENGTH = 8;

/** A secret too short to be scrubbed from logs safely; at boot this means "refuse to start". */
export class SecretTooShortError extends Error {
  readonly code = 'secret_too_short';

  constructor(readonly length: number) {
    super(
      `a secret value (a password, token or key in the configuration or from the secret store) is ${length} ` +
        `characters long; secrets shorter than ${MIN_SECRET_LENGTH} characters cannot be scrubbed from logs safely: use a longer value`,
    );
    this.name = 'SecretTooShortError';
  }
}

/** Every registered secret → the forms in which it can appear in a log line (raw, JSON-escaped once and twice). */
const seenSecrets = new Map<string, readonly string[]>();

/** `value` as it appears inside a JSON string literal (quotes, backslashes and control characters escaped). */
function jsonEscaped(value: string): string {
  return JSON.stringify(value).slice(1, -1);
}

function formsOf(value: string): readonly string[] {
  const once = jsonEscaped(value);
  // Longest first, so that a longer form is replaced before a shorter one inside it.
  return [...new Set([jsonEscaped(once), once, value])].sort((a, b) => b.length - a.length);
}

/**
 * Registers a secret value (a password, a token, a dynamic credential) so that no log line ever contains it,
 * wherever it hides (an error message, a URL), raw or in its JSON-escaped form (a value with `"`, `\` or
 * control characters is written escaped by pino, once more when it sat in a JSON string that was logged).
 * Throws SecretTooShortError for a non-empty value shorter than MIN_SECRET_LENGTH: services register their
 * secret configuration at boot, so such a value stops the start with a clear error instead of leaking.
 * The value itself never appears in the error.
 */
export function registerSecret(value: string | undefined): void {
  if (!value) return;
  if (value.length < MIN_SECRET_LENGTH) throw new SecretTooShortError(value.length);
  if (!seenSecrets.has(value)) seenSecrets.set(value, formsOf(value));
}

export function forgetSecret(value: string | undefined): void {
  if (value) seenSecrets.delete(value);
}

/** Replaces every registered secret in `text`, in each of its forms. */
export function scrub(text: string): string {
  let out = text;
  for (const forms of seenSecrets.values()) {
    for (const form of forms) if (out.includes(form)) out = out.split(form).join('[redacted]');
  }
  return out;
}

export interface LoggerConfig {
  name: string;
  level?: string;
  destination?: pino.DestinationStream;
}

/** The active span's ids for a log line (none outside a trace). */
export function traceFields(): Record<string, string> {
  const span = trace.getActiveSpan()?.spanContext();
  return span && isSpanContextValid(span) ? { trace_id: span.traceId, span_id: span.spanId } : {};
}

export function createLogger(config: LoggerConfig): Logger {
  const options: LoggerOptions = {
    name: config.name,
    level: config.level ?? 'info',
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    hooks: { streamWrite: scrub },
    base: { service: config.name },
    // Every line written inside a trace (a consumed message, a traced request) names it: trace_id, span_id.
    mixin: traceFields,
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return config.destination ? pino(options, config.destination) : pino(options);
}

export type { Logger };
