import { createCipheriv, createDecipheriv, randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { ConfigError, InputError, NotFoundError } from '@aoetl/contracts';
import { MIN_SECRET_LENGTH, registerSecret } from '@aoetl/observability';
import { emitAudit, type AuditSink } from './audit.js';
import type { CredentialContext, DatabaseCredential, KvReadOptions, KvSecret, LeaseInfo, SecretStore } from './secret-store.js';

/** What a dev secrets file holds once decrypted. */
export interface DevSecrets {
  /** KV secrets by `<mount>/<path>` (e.g. `secret/aoetl/x`). */
  kv?: Record<string, { data: Record<string, unknown>; version?: number }>;
  /** Static database credentials by the role path a connection names (e.g. `database/creds/source-reader`). */
  database?: Record<string, { username: string; password: string }>;
}

const AAD = Buffer.from('aoetl-dev-secrets/v1');
const WARNING =
  'DEVELOPMENT ONLY: secrets come from a local encrypted file, not from Vault. Credentials are static, never ' +
  'expire and are not revoked. Never enable this provider outside a developer machine.';

function checkKey(key: Buffer): void {
  if (key.length !== 32) throw new ConfigError('the dev secrets key must be 32 bytes (base64 of 32 random bytes)');
}

/** A fresh random key, base64 (for AOETL_DEV_SECRETS_KEY). */
export function generateDevSecretsKey(): string {
  return randomBytes(32).toString('base64');
}

/** Encrypts the contents with AES-256-GCM (random 96-bit IV, 128-bit tag); answers the file's text. */
export function sealDevSecrets(contents: DevSecrets, key: Buffer): string {
  checkKey(key);
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(AAD);
  const data = Buffer.concat([cipher.update(JSON.stringify(contents), 'utf8'), cipher.final()]);
  return JSON.stringify({ v: 1, alg: 'aes-256-gcm', iv: iv.toString('base64'), tag: cipher.getAuthTag().toString('base64'), data: data.toString('base64') });
}

/** Decrypts and authenticates a file written by sealDevSecrets; a wrong key or a changed byte fails. */
export function openDevSecrets(text: string, key: Buffer): DevSecrets {
  checkKey(key);
  let env: { v?: number; alg?: string; iv?: string; tag?: string; data?: string };
  try {
    env = JSON.parse(text) as typeof env;
  } catch {
    throw new ConfigError('the dev secrets file is not JSON');
  }
  if (env.v !== 1 || env.alg !== 'aes-256-gcm' || !env.iv || !env.tag || typeof env.data !== 'string') {
    throw new ConfigError('the dev secrets file is not an aoetl v1 AES-256-GCM file');
  }
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(env.iv, 'base64'));
    decipher.setAAD(AAD);
    decipher.setAuthTag(Buffer.from(env.tag, 'base64'));
    const plain = Buffer.concat([decipher.update(Buffer.from(env.data, 'base64')), decipher.final()]);
    return JSON.parse(plain.toString('utf8')) as DevSecrets;
  } catch {
    throw new ConfigError('cannot decrypt the dev secrets file: wrong key or tampered file');
  }
}

export interface DevFileOptions {
  file: string;
  /** The 32-byte key (from the environment, base64-decoded). */
  key: Buffer;
  /** Must be true: the provider refuses to start unless explicitly enabled. */
  enabled: boolean;
  logger: Logger;
  onSecret?: (value: string) => void;
  onAudit?: AuditSink;
  actor?: string;
}

/**
 * DEVELOPMENT ONLY. A SecretStore over an AES-256-GCM encrypted JSON file, for machines without Vault. It
 * refuses to start unless explicitly enabled and says so loudly at start and on every credential it hands out.
 */
export class DevFileSecretStore implements SecretStore {
  private readonly contents: DevSecrets;
  private readonly onSecret: (value: string) => void;
  private readonly actor: string;

  constructor(private readonly opts: DevFileOptions) {
    if (opts.enabled !== true) {
      throw new ConfigError('the dev-file secrets provider is for development only and is disabled; it must be enabled explicitly');
    }
    this.onSecret = opts.onSecret ?? registerSecret;
    this.actor = opts.actor ?? `${hostname()}/${process.pid}`;
    let text: string;
    try {
      text = readFileSync(opts.file, 'utf8');
    } catch {
      throw new ConfigError(`cannot read the dev secrets file ${opts.file}`);
    }
    this.contents = openDevSecrets(text, opts.key);
    for (const cred of Object.values(this.contents.database ?? {})) this.onSecret(cred.password);
    for (const entry of Object.values(this.contents.kv ?? {})) registerValues(entry.data, this.onSecret);
    opts.logger.warn({ devOnly: true, file: opts.file }, `!!! ${WARNING} !!!`);
  }

  async databaseCredential(path: string, ctx: CredentialContext): Promise<DatabaseCredential> {
    const cred = this.contents.database?.[path];
    if (!cred) throw new NotFoundError(`the dev secrets file has no credential for ${path}`);
    const leaseId = `devfile/${path}/${randomUUID()}`;
    this.opts.logger.warn({ devOnly: true, path }, WARNING);
    this.audit('credential.issued', path, ctx, { leaseId, username: cred.username });
    return { username: cred.username, password: cred.password, leaseId, leaseDurationSec: 0, renewable: false };
  }

  async renew(): Promise<number> {
    return 0;
  }

  async lookupLease(): Promise<LeaseInfo> {
    return { ttlSec: 0, renewable: false };
  }

  async revoke(leaseId: string, ctx: CredentialContext): Promise<void> {
    this.audit('credential.revoked', 'devfile', ctx, { leaseId });
  }

  async readKv(path: string, opts: KvReadOptions = {}): Promise<KvSecret> {
    const full = `${opts.mount ?? 'secret'}/${path}`;
    const entry = this.contents.kv?.[full];
    if (!entry) throw new NotFoundError(`the dev secrets file has nothing at ${full}`);
    const version = entry.version ?? 1;
    if (opts.version !== undefined && opts.version !== version) throw new InputError(`${full} has only version ${version}`);
    this.audit('kv.read', full, opts.ctx, { version });
    return { data: structuredClone(entry.data), version, createdTime: '' };
  }

  async ping(): Promise<void> {}

  close(): void {}

  private audit(
    event: 'credential.issued' | 'credential.revoked' | 'kv.read',
    path: string,
    ctx: CredentialContext | undefined,
    extra: { leaseId?: string; username?: string; version?: number },
  ): void {
    emitAudit(this.opts.logger, this.opts.onAudit, { event, actor: this.actor, identity: 'dev-file', path, ...extra, ...(ctx ? { ctx } : {}) });
  }
}

function registerValues(value: unknown, onSecret: (v: string) => void): void {
  // KV entries mix secrets with short descriptors; only values long enough to scrub are registered.
  if (typeof value === 'string') {
    if (value.length >= MIN_SECRET_LENGTH) onSecret(value);
  }
  else if (Array.isArray(value)) value.forEach((v) => registerValues(v, onSecret));
  else if (value && typeof value === 'object') Object.values(value).forEach((v) => registerValues(v, onSecret));
}
