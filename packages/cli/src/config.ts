import { homedir } from 'node:os';
import { join } from 'node:path';

export const DEFAULTS = {
  apiUrl: 'http://127.0.0.1:8080',
  issuer: 'https://127.0.0.1:9400',
  /** RFC 8707 resource the gateway's tokens are issued for. */
  resource: 'urn:aoetl-api',
  scope: 'aoetl:read aoetl:submit aoetl:approve aoetl:admin',
  /** Public client of the device authorization flow. */
  deviceClientId: 'aoetl-cli',
} as const;

export type OutputFormat = 'table' | 'json' | 'yaml';

export interface GlobalOptions {
  output?: string;
  apiUrl?: string;
  issuer?: string;
  profile?: string;
  debug?: boolean;
  color?: boolean;
}

export interface Settings {
  apiUrl: string;
  issuer: string;
  resource: string;
  scope: string;
  profile: string;
  output: OutputFormat;
  debug: boolean;
  configDir: string;
}

type Env = Record<string, string | undefined>;

/** `$XDG_CONFIG_HOME/aoetl`, else `~/.config/aoetl`; `AOETL_CONFIG_DIR` overrides both. */
export function configDir(env: Env = process.env): string {
  if (env.AOETL_CONFIG_DIR) return env.AOETL_CONFIG_DIR;
  const base = env.XDG_CONFIG_HOME || join(homedir(), '.config');
  return join(base, 'aoetl');
}

export function parseOutput(value: string | undefined): OutputFormat {
  const v = value ?? 'table';
  if (v === 'table' || v === 'json' || v === 'yaml') return v;
  throw new Error(`--output must be table, json or yaml (got "${v}")`);
}

/** Flags win over environment variables, which win over the defaults. */
export function resolveSettings(opts: GlobalOptions, env: Env = process.env): Settings {
  return {
    apiUrl: trimSlash(opts.apiUrl ?? env.AOETL_API_URL ?? DEFAULTS.apiUrl),
    issuer: trimSlash(opts.issuer ?? env.AOETL_ISSUER ?? DEFAULTS.issuer),
    resource: env.AOETL_RESOURCE ?? DEFAULTS.resource,
    scope: env.AOETL_SCOPE ?? DEFAULTS.scope,
    profile: opts.profile ?? env.AOETL_PROFILE ?? 'default',
    output: parseOutput(opts.output ?? env.AOETL_OUTPUT),
    debug: Boolean(opts.debug) || env.AOETL_DEBUG === '1',
    configDir: configDir(env),
  };
}

/** Colours only on a terminal, and never with NO_COLOR (any value) or --no-color. */
export function useColor(stream: { isTTY?: boolean }, env: Env = process.env, flag = true): boolean {
  return flag && Boolean(stream.isTTY) && env.NO_COLOR === undefined && env.TERM !== 'dumb';
}

function trimSlash(url: string): string {
  return url.replace(/\/+$/, '');
}
