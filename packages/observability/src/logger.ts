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

const seenSecrets = new Set<string>();

/**
 * Registers a secret value (a password, a token, a dynamic credential) so that no log line ever contains it,
 * wherever it hides (an error message, a URL). Short values are ignored to avoid redacting ordinary words.
 */
export function registerSecret(value: string | undefined): void {
  if (value && value.length >= 8) seenSecrets.add(value);
}

export function forgetSecret(value: string | undefined): void {
  if (value) seenSecrets.delete(value);
}

/** Replaces every registered secret in `text`. */
export function scrub(text: string): string {
  let out = text;
  for (const s of seenSecrets) if (out.includes(s)) out = out.split(s).join('[redacted]');
  return out;
}

export interface LoggerConfig {
  name: string;
  level?: string;
  destination?: pino.DestinationStream;
}

export function createLogger(config: LoggerConfig): Logger {
  const options: LoggerOptions = {
    name: config.name,
    level: config.level ?? 'info',
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    hooks: { streamWrite: scrub },
    base: { service: config.name },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return config.destination ? pino(options, config.destination) : pino(options);
}

export type { Logger };
