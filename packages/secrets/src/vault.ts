import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import nodeVault from 'node-vault';
import type { Logger } from 'pino';
import { InputError, NotFoundError } from '@aoetl/contracts';
import { forgetSecret, MIN_SECRET_LENGTH, registerSecret } from '@aoetl/observability';
import { emitAudit, type AuditEvent, type AuditRecord, type AuditSink } from './audit.js';
import { backoffMs, sleep } from '@aoetl/timing';
import { LeaseNotFoundError, VaultLoginRefusedError, VaultPermissionError, VaultUnavailableError, httpStatusOf, toTypedError } from './errors.js';
import type { CredentialContext, DatabaseCredential, KvReadOptions, KvSecret, LeaseInfo, SecretStore, Transit } from './secret-store.js';
import { VaultTransit } from './transit.js';

export { toTypedError } from './errors.js';

export type VaultAuth =
  | { method: 'token'; token: string }
  | { method: 'approle'; roleId: string; secretId: string; mount?: string }
  | { method: 'kubernetes'; role: string; jwtFile: string; mount?: string };

export interface VaultOptions {
  endpoint: string;
  caFile: string;
  auth: VaultAuth;
  logger: Logger;
  /** Called with every secret value the adapter sees, so the log scrubber can hide it. Default: registerSecret. */
  onSecret?: (value: string) => void;
  /**
   * Called a minute after a database credential is revoked, with its password: a dead credential need not be
   * scrubbed forever (the scrubber's cost grows with every value it holds). Default: forgetSecret.
   */
  onForget?: (value: string) => void;
  /** Receives every audit record (also written as an `audit` log line). */
  onAudit?: AuditSink;
  /** Who we are in audit records (agent id). Default: host/pid. */
  actor?: string;
  requestTimeoutMs?: number;
  /** Retries of a request Vault could not answer (down, sealed, 5xx, timeout) or a refused login. Default 4. */
  retries?: number;
  /** First retry delay; doubles per attempt (with jitter), at most 5 s. Default 500 ms: 4 retries span ~4-8 s. */
  retryBaseMs?: number;
  /** Longest wait between failed logins. Default 30 s. */
  loginBackoffMaxMs?: number;
  /** How long a KV read is served from memory. Default 30 s; 0 disables the cache. */
  kvCacheMs?: number;
  /** Fraction of the token's TTL after which it is renewed. Default 2/3. */
  renewFraction?: number;
  /**
   * Tenant scope in Vault (`forTenant`): the token role (`auth/token/create/<role>`) that mints a child token per
   * tenant carrying only the tenant's policy, so Vault itself refuses another tenant's credentials. Unset: off.
   */
  tenantTokenRole?: string;
  /** The tenant's policy name; `{tenant}` is replaced. Default `aoetl-tenant-{tenant}`. */
  tenantPolicy?: string;
  /** Lifetime asked for a tenant token (seconds); it is minted again when less than half is left. Default 4 h. */
  tenantTokenTtlSec?: number;
}

/** A tenant name that can be part of a Vault policy name. */
export const TENANT_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;

interface AuthBlock {
  client_token?: string;
  accessor?: string;
  lease_duration?: number;
  renewable?: boolean;
  metadata?: Record<string, string> | null;
}
interface TokenLookup {
  data?: { ttl?: number; renewable?: boolean; display_name?: string; accessor?: string };
}
interface LeaseResponse {
  lease_id: string;
  lease_duration: number;
  renewable: boolean;
  data?: { username?: string; password?: string };
}
interface KvResponse {
  data?: { data?: Record<string, unknown> | null; metadata?: { version?: number; created_time?: string } };
}

type Method = 'GET' | 'POST';

const CREDS_PATH = /^[a-z0-9][a-z0-9_-]*(\/[a-z0-9][a-z0-9_-]*)*\/creds\/[a-z0-9][a-z0-9_.-]*$/;
const KV_PATH = /^[A-Za-z0-9_-][A-Za-z0-9._/-]{0,400}$/;
const MOUNT = /^[a-z0-9][a-z0-9_/-]{0,100}$/;
const MAX_KV_CACHE = 256;

/**
 * Vault / OpenBao adapter over node-vault.
 *
 * - Logs in lazily (token, AppRole or Kubernetes) with one login in flight per process and exponential backoff
 *   after failures; renews the token at 2/3 of its TTL and logs in again before a non-renewable token ends.
 * - A 403 first asks Vault whether our token is still valid (one lookup in flight): a dead token (revoked,
 *   expired, Vault restarted) is replaced by exactly one login, whatever the number of callers; a valid one
 *   means a real permission denial, which fails at once without a login.
 * - Requests Vault cannot answer (down, sealed, 5xx, timeout) are retried a bounded number of times.
 * - Every credential access emits an audit record (never a value); every secret value seen goes to `onSecret`.
 */
export class VaultSecretStore implements SecretStore {
  private readonly client: nodeVault.client;
  private readonly log: Logger;
  private readonly onSecret: (value: string) => void;
  private readonly actor: string;
  private readonly retries: number;
  private readonly retryBaseMs: number;
  private readonly kvCacheMs: number;
  private readonly renewFraction: number;

  private token = '';
  /** Changes whenever the token is replaced or dropped; tells a caller whether its 403 is already handled. */
  private generation = 0;
  private identity: string | undefined;
  private accessor: string | undefined;
  private loginTtlSec = 0;
  private expiresAt = 0;
  private loginInFlight: Promise<void> | null = null;
  private recovering: Promise<boolean> | null = null;
  private loginFailures = 0;
  private nextLoginAt = 0;
  private renewTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly kvCache = new Map<string, { at: number; value: KvSecret }>();
  private readonly leases = new Map<string, { ctx: CredentialContext; password: string }>();
  /** Child tokens per tenant (only the tenant's policy), and the mint in flight per tenant. */
  private readonly tenantTokens = new Map<string, { token: string; renewAt: number }>();
  private readonly tenantMints = new Map<string, Promise<string>>();

  constructor(private readonly opts: VaultOptions) {
    this.client = nodeVault({
      apiVersion: 'v1',
      endpoint: opts.endpoint,
      requestOptions: { ca: readFileSync(opts.caFile), timeout: opts.requestTimeoutMs ?? 10_000 },
      // node-vault's debug output prints request bodies (secret ids, passwords): never enable it.
      debug: () => undefined,
    });
    // Never pick up VAULT_TOKEN from the environment: every request carries the token we chose.
    this.client.token = '';
    this.log = opts.logger;
    this.onSecret = opts.onSecret ?? registerSecret;
    this.actor = opts.actor ?? `${hostname()}/${process.pid}`;
    this.retries = opts.retries ?? 4;
    this.retryBaseMs = opts.retryBaseMs ?? 500;
    this.kvCacheMs = opts.kvCacheMs ?? 30_000;
    this.renewFraction = opts.renewFraction ?? 2 / 3;
    const auth = opts.auth;
    if (auth.method === 'token') this.onSecret(auth.token);
    if (auth.method === 'approle') {
      this.onSecret(auth.secretId);
      this.onSecret(auth.roleId);
    }
  }

  // ---------------------------------------------------------------- public API

  async ping(): Promise<void> {
    let health: { sealed?: boolean; initialized?: boolean };
    try {
      health = (await this.client.health()) as typeof health;
    } catch (err) {
      throw toTypedError(err, 'health');
    }
    if (health.sealed) throw new VaultUnavailableError('sealed', 'vault is sealed');
    if (health.initialized === false) throw new VaultUnavailableError('server_error', 'vault is not initialised');
  }

  async databaseCredential(path: string, ctx: CredentialContext): Promise<DatabaseCredential> {
    return this.issue(path, ctx, () => this.call<LeaseResponse>(`read ${path}`, 'GET', path));
  }

  /**
   * This store as seen by one tenant: database credentials are read with a child token that carries only the
   * tenant's Vault policy (minted through `tenantTokenRole`), so Vault refuses any role outside the tenant's
   * scope whatever the caller asks; renew, revoke and KV reads go through the agent's own token. Without
   * `tenantTokenRole` the store itself (no Vault-side tenant scope).
   */
  forTenant(tenant: string): SecretStore {
    const role = this.opts.tenantTokenRole;
    if (!role) return this;
    if (!TENANT_NAME.test(tenant)) throw new InputError(`tenant '${tenant.slice(0, 80)}' cannot name a Vault policy (${TENANT_NAME.source})`);
    return {
      databaseCredential: (path, ctx) =>
        this.issue(path, { ...ctx, tenant }, () => this.call<LeaseResponse>(`read ${path} as tenant ${tenant}`, 'GET', path, undefined, tenant)),
      renew: (leaseId, incrementSec, ctx) => this.renew(leaseId, incrementSec, ctx),
      lookupLease: (leaseId) => this.lookupLease(leaseId),
      revoke: (leaseId, ctx) => this.revoke(leaseId, ctx),
      readKv: (path, opts) => this.readKv(path, opts),
      ping: () => this.ping(),
      close: () => undefined,
    };
  }

  private issue(path: string, ctx: CredentialContext, read: () => Promise<LeaseResponse>): Promise<DatabaseCredential> {
    if (!CREDS_PATH.test(path)) return Promise.reject(new InputError(`not a database credentials path: ${path}`));
    return this.audited('credential.issued', { path, ctx }, async (record) => {
      const res = await read();
      const username = res.data?.username;
      const password = res.data?.password;
      if (!username || !password || !res.lease_id) throw new InputError(`${path} did not answer a database credential`);
      this.onSecret(password);
      this.leases.set(res.lease_id, { ctx, password });
      record.leaseId = res.lease_id;
      record.username = username;
      return { username, password, leaseId: res.lease_id, leaseDurationSec: res.lease_duration, renewable: res.renewable };
    });
  }

  async renew(leaseId: string, incrementSec?: number, ctx?: CredentialContext): Promise<number> {
    return this.audited('credential.renewed', { path: 'sys/leases/renew', leaseId, ctx: ctx ?? this.leases.get(leaseId)?.ctx }, async () => {
      const res = await this.call<LeaseResponse>('lease renew', 'POST', 'sys/leases/renew', {
        lease_id: leaseId,
        ...(incrementSec ? { increment: incrementSec } : {}),
      });
      return res.lease_duration;
    });
  }

  async lookupLease(leaseId: string): Promise<LeaseInfo> {
    const res = await this.call<{ data?: { ttl?: number; renewable?: boolean } }>('lease lookup', 'POST', 'sys/leases/lookup', {
      lease_id: leaseId,
    });
    return { ttlSec: res.data?.ttl ?? 0, renewable: res.data?.renewable ?? false };
  }

  async revoke(leaseId: string, ctx: CredentialContext): Promise<void> {
    await this.audited('credential.revoked', { path: 'sys/leases/revoke', leaseId, ctx }, async () => {
      await this.call('lease revoke', 'POST', 'sys/leases/revoke', { lease_id: leaseId });
      const password = this.leases.get(leaseId)?.password;
      this.leases.delete(leaseId);
      if (password) setTimeout(() => (this.opts.onForget ?? forgetSecret)(password), 60_000).unref();
    });
  }

  /**
   * The accessor of the token this process holds now (logging in first when it holds none): what the monitor's
   * quarantine revokes. An accessor can look up or revoke its token, never act with it.
   */
  async tokenAccessor(): Promise<string | undefined> {
    if (!this.token) await this.login();
    return this.accessor;
  }

  /**
   * Revokes the token an accessor names, with its child tokens and every lease it was issued (the dynamic database
   * credentials of an agent): the monitor's quarantine (policy: update on auth/token/revoke-accessor only).
   * Throws when Vault refused or could not answer; revoking an unknown or already revoked token is an error from Vault.
   */
  async revokeTokenAccessor(accessor: string): Promise<void> {
    await this.audited('vault.token_revoked', { path: 'auth/token/revoke-accessor' }, async () => {
      await this.call('token revoke-accessor', 'POST', 'auth/token/revoke-accessor', { accessor });
    });
  }

  /** Whether the token an accessor names is still valid (policy: update on auth/token/lookup-accessor). */
  async tokenAccessorValid(accessor: string): Promise<boolean> {
    try {
      await this.call('token lookup-accessor', 'POST', 'auth/token/lookup-accessor', { accessor });
      return true;
    } catch (err) {
      // Vault answers an unknown (revoked) accessor with 400 "invalid accessor" (toTypedError: NotFoundError).
      if (err instanceof NotFoundError) return false;
      throw err;
    }
  }

  /** Leases this process was issued and has not revoked: what a shutdown should revoke. */
  outstandingLeases(): Array<{ leaseId: string } & CredentialContext> {
    return [...this.leases].map(([leaseId, { ctx }]) => ({ leaseId, ...ctx }));
  }

  /** Revokes every outstanding lease (shutdown); failures are logged, the leases then expire on their TTL. */
  async revokeOutstanding(): Promise<void> {
    await Promise.allSettled(
      this.outstandingLeases().map(({ leaseId, ...ctx }) =>
        this.revoke(leaseId, ctx).catch((err: unknown) => this.log.warn({ err, leaseId }, 'lease revoke failed; it will expire')),
      ),
    );
  }

  async readKv(path: string, opts: KvReadOptions = {}): Promise<KvSecret> {
    const mount = opts.mount ?? 'secret';
    if (!KV_PATH.test(path) || path.includes('..') || !MOUNT.test(mount)) throw new InputError(`not a KV path: ${mount}/${path}`);
    if (opts.version !== undefined && (!Number.isInteger(opts.version) || opts.version < 1)) {
      throw new InputError('a KV version is a positive integer');
    }
    const full = `${mount}/${path}`;
    const key = `${full}@${opts.version ?? 'latest'}`;
    const hit = this.kvCache.get(key);
    if (hit && Date.now() - hit.at < this.kvCacheMs) {
      emitAudit(this.log, this.opts.onAudit, this.auditFields('kv.read', { path: full, version: hit.value.version, cached: true, ctx: opts.ctx }));
      return structuredClone(hit.value);
    }
    return this.audited('kv.read', { path: full, ctx: opts.ctx }, async (record) => {
      const query = opts.version ? `?version=${opts.version}` : '';
      const res = await this.call<KvResponse>(`kv read ${full}`, 'GET', `${mount}/data/${path}${query}`);
      const data = res.data?.data;
      const version = res.data?.metadata?.version;
      if (!data || version === undefined) throw new InputError(`${full} holds no readable KV v2 version`);
      if (opts.sensitive !== false) this.registerValues(data);
      const value: KvSecret = { data, version, createdTime: res.data?.metadata?.created_time ?? '' };
      record.version = version;
      if (this.kvCacheMs > 0) {
        const at = Date.now();
        if (this.kvCache.size >= MAX_KV_CACHE) this.kvCache.delete(this.kvCache.keys().next().value as string);
        this.kvCache.set(key, { at, value });
        this.kvCache.set(`${full}@${version}`, { at, value });
      }
      return structuredClone(value);
    });
  }

  /** The Transit engine at `mount` (default `transit`). */
  transit(mount = 'transit'): Transit {
    if (!MOUNT.test(mount)) throw new InputError(`not a mount: ${mount}`);
    return new VaultTransit(mount, {
      call: (what, method, path, body) => this.call(what, method, path, body),
      audited: (event, fields, fn) => this.audited(event, fields, fn),
    });
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.renewTimer);
    this.tenantTokens.clear();
  }

  // ---------------------------------------------------------------- requests

  /** One request with the current token: logs in first when needed, recovers once from a dead token, and
   * retries what Vault could not answer a bounded number of times. Throws typed errors only. */
  private async call<T>(what: string, method: Method, path: string, body?: unknown, tenant?: string): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await (tenant === undefined ? this.authed<T>(method, path, body) : this.asTenant<T>(tenant, method, path, body));
      } catch (err) {
        const typed = toTypedError(err, what);
        const transient = typed instanceof VaultUnavailableError || typed instanceof VaultLoginRefusedError;
        if (!transient || attempt >= this.retries || this.closed) throw typed;
        const reason = typed instanceof VaultUnavailableError ? typed.reason : 'login_refused';
        this.log.warn({ op: what, attempt: attempt + 1, reason }, 'vault unavailable; retrying');
        await sleep(backoffMs(attempt + 1, this.retryBaseMs, 5_000));
      }
    }
  }

  private async authed<T>(method: Method, path: string, body: unknown): Promise<T> {
    if (!this.token) await this.login();
    const gen = this.generation;
    try {
      return await this.raw<T>(method, path, this.token, body);
    } catch (err) {
      if (httpStatusOf(err) !== 403) throw err;
      if (!(await this.recover(gen))) throw err; // our token is fine: a real permission denial
      if (!this.token) await this.login();
      return await this.raw<T>(method, path, this.token, body); // a 403 now is a real denial
    }
  }

  /**
   * One request with the tenant's child token. A 403 asks whether that token is still valid: a dead one (expired,
   * revoked with its parent) is minted again once; a valid one means Vault refuses the path to this tenant.
   */
  private async asTenant<T>(tenant: string, method: Method, path: string, body: unknown): Promise<T> {
    const token = await this.tenantToken(tenant);
    try {
      return await this.raw<T>(method, path, token, body);
    } catch (err) {
      if (httpStatusOf(err) !== 403) throw err;
      try {
        await this.raw('GET', 'auth/token/lookup-self', token);
      } catch (lookupErr) {
        if (httpStatusOf(lookupErr) !== 403) throw lookupErr;
        if (this.tenantTokens.get(tenant)?.token === token) this.tenantTokens.delete(tenant);
        return await this.raw<T>(method, path, await this.tenantToken(tenant), body);
      }
      throw new VaultPermissionError(`vault refused ${path} to tenant ${tenant} (outside the tenant's Vault policy)`, { cause: 403 });
    }
  }

  /** The tenant's child token: minted with the agent's token through the token role, one mint in flight per tenant. */
  private tenantToken(tenant: string): Promise<string> {
    const held = this.tenantTokens.get(tenant);
    if (held && Date.now() < held.renewAt) return Promise.resolve(held.token);
    let minting = this.tenantMints.get(tenant);
    if (!minting) {
      minting = this.mintTenantToken(tenant).finally(() => this.tenantMints.delete(tenant));
      this.tenantMints.set(tenant, minting);
    }
    return minting;
  }

  private async mintTenantToken(tenant: string): Promise<string> {
    const role = this.opts.tenantTokenRole ?? '';
    if (!MOUNT.test(role)) throw new InputError(`not a token role: ${role}`);
    const ttlSec = this.opts.tenantTokenTtlSec ?? 4 * 3600;
    const policy = (this.opts.tenantPolicy ?? 'aoetl-tenant-{tenant}').replaceAll('{tenant}', tenant);
    const path = `auth/token/create/${role}`;
    return this.audited('vault.tenant_token', { path, ctx: { runId: '', tenant } }, async () => {
      const res = await this.authed<{ auth?: AuthBlock }>('POST', path, {
        policies: [policy],
        ttl: `${ttlSec}s`,
        renewable: false,
        display_name: `tenant-${tenant}`,
        meta: { tenant },
      });
      const token = res.auth?.client_token;
      if (!token) throw new VaultPermissionError(`vault minted no token for tenant ${tenant}`);
      this.onSecret(token);
      const lifeMs = (res.auth?.lease_duration || ttlSec) * 1000;
      // Minted again when half its life is gone: a credential issued under it has at least that long to live.
      this.tenantTokens.set(tenant, { token, renewAt: Date.now() + lifeMs / 2 });
      return token;
    }).catch((err: unknown) => {
      throw toTypedError(err, `tenant token for ${tenant}`);
    });
  }

  private raw<T>(method: Method, path: string, token: string | null, body?: unknown): Promise<T> {
    const requestOptions = { headers: token ? { 'X-Vault-Token': token } : {} };
    return (method === 'GET' ? this.client.read(path, requestOptions) : this.client.write(path, body ?? {}, requestOptions)) as Promise<T>;
  }

  // ---------------------------------------------------------------- token lifecycle

  /** After a 403 with token generation `gen`: true when that token was dead and has been replaced. */
  private recover(gen: number): Promise<boolean> {
    if (gen !== this.generation) return Promise.resolve(true);
    this.recovering ??= this.checkToken().finally(() => {
      this.recovering = null;
    });
    return this.recovering;
  }

  private async checkToken(): Promise<boolean> {
    try {
      await this.raw('GET', 'auth/token/lookup-self', this.token);
      return false;
    } catch (err) {
      if (httpStatusOf(err) !== 403) throw err;
    }
    this.log.warn({ identity: this.identity }, 'vault token rejected (revoked, expired or vault restarted); logging in again');
    this.dropToken();
    await this.login();
    return true;
  }

  private dropToken(): void {
    this.token = '';
    this.generation++;
    clearTimeout(this.renewTimer);
  }

  /** One login in flight per process; after failures, the next attempt waits (exponential backoff). */
  private login(): Promise<void> {
    this.loginInFlight ??= this.loginWithBackoff().finally(() => {
      this.loginInFlight = null;
    });
    return this.loginInFlight;
  }

  private async loginWithBackoff(): Promise<void> {
    const wait = this.nextLoginAt - Date.now();
    if (wait > 0) await sleep(wait);
    try {
      await this.doLogin();
      this.loginFailures = 0;
      this.nextLoginAt = 0;
    } catch (err) {
      this.loginFailures++;
      this.nextLoginAt = Date.now() + backoffMs(this.loginFailures, 250, this.opts.loginBackoffMaxMs ?? 30_000);
      throw err;
    }
  }

  private async doLogin(): Promise<void> {
    const auth = this.opts.auth;
    const path = auth.method === 'token' ? 'auth/token' : `auth/${auth.mount ?? auth.method}`;
    await this.audited('vault.login', { path }, async (record) => {
      if (auth.method === 'token') {
        let res: TokenLookup;
        try {
          res = await this.raw<TokenLookup>('GET', 'auth/token/lookup-self', auth.token);
        } catch (err) {
          throw toTypedError(err, 'token lookup');
        }
        const identity = res.data?.display_name ?? 'token';
        record.identity = identity;
        this.accessor = res.data?.accessor;
        this.install(auth.token, res.data?.ttl ?? 0, res.data?.renewable ?? false, identity);
        return;
      }
      let body: Record<string, string>;
      if (auth.method === 'approle') {
        body = { role_id: auth.roleId, secret_id: auth.secretId };
      } else {
        const jwt = readFileSync(auth.jwtFile, 'utf8').trim();
        this.onSecret(jwt);
        body = { role: auth.role, jwt };
      }
      if (!MOUNT.test(path.slice(5))) throw new InputError(`not an auth mount: ${path}`);
      let res: { auth?: AuthBlock };
      try {
        res = await this.raw<{ auth?: AuthBlock }>('POST', `${path}/login`, null, body);
      } catch (err) {
        // A refused login is a 400 ("invalid role or secret ID") or a 403: either way, not ours to retry.
        const status = httpStatusOf(err);
        if (status === 400 || status === 401 || status === 403) throw new VaultLoginRefusedError(`vault refused the ${auth.method} login`);
        throw toTypedError(err, `${auth.method} login`);
      }
      const token = res.auth?.client_token;
      if (!token) throw new VaultPermissionError(`vault ${auth.method} login returned no token`);
      this.onSecret(token);
      const meta = res.auth?.metadata ?? {};
      const identity = `${auth.method}:${meta.role_name ?? meta.role ?? ''}${
        meta.service_account_name ? `:${meta.service_account_namespace}/${meta.service_account_name}` : ''
      }`;
      record.identity = identity;
      this.accessor = res.auth?.accessor;
      this.install(token, res.auth?.lease_duration ?? 0, res.auth?.renewable ?? false, identity);
    });
  }

  private install(token: string, ttlSec: number, renewable: boolean, identity: string): void {
    this.token = token;
    this.generation++;
    this.identity = identity;
    this.loginTtlSec = ttlSec;
    this.schedule(ttlSec, renewable);
  }

  /** Renews the token at `renewFraction` of its TTL, or logs in again then when it cannot be renewed. */
  private schedule(ttlSec: number, renewable: boolean, delayMs?: number): void {
    clearTimeout(this.renewTimer);
    if (this.closed || ttlSec <= 0) return; // ttl 0: a token that never expires (root)
    if (!renewable && this.opts.auth.method === 'token') return; // nothing we can do for a fixed token
    this.expiresAt = Date.now() + ttlSec * 1000;
    const after = delayMs ?? Math.max(500, ttlSec * 1000 * this.renewFraction);
    this.renewTimer = setTimeout(() => void this.refresh(renewable), after);
    this.renewTimer.unref();
  }

  private async refresh(renewable: boolean): Promise<void> {
    const gen = this.generation;
    const token = this.token;
    if (!token || this.closed) return;
    try {
      if (!renewable) {
        await this.login(); // a fresh token replaces this one before it ends
        return;
      }
      const res = await this.raw<{ auth?: AuthBlock }>('POST', 'auth/token/renew-self', token, {});
      if (gen !== this.generation) return;
      const ttl = res.auth?.lease_duration ?? 0;
      emitAudit(this.log, this.opts.onAudit, this.auditFields('vault.token_renewed', { path: 'auth/token/renew-self' }));
      if (ttl >= this.loginTtlSec || this.opts.auth.method === 'token') {
        this.schedule(ttl, true);
      } else if (ttl <= 1) {
        await this.login(); // at its max TTL: replace it now
      } else {
        this.schedule(ttl, false); // capped by its max TTL: log in again at 2/3 of what is left
      }
    } catch (err) {
      if (gen !== this.generation) return;
      if (httpStatusOf(err) === 403) {
        this.log.warn({ identity: this.identity }, 'vault token could not be renewed; logging in again on next use');
        this.dropToken();
        return;
      }
      const left = this.expiresAt - Date.now();
      this.log.warn({ err: toTypedError(err, 'token renewal'), leftMs: left }, 'vault token renewal failed; retrying');
      if (left > 0) this.schedule(left / 1000, renewable, Math.max(500, Math.min(10_000, left / 3)));
    }
  }

  // ---------------------------------------------------------------- audit and redaction

  private auditFields(
    event: AuditEvent,
    fields: Partial<Omit<AuditRecord, 'event' | 'actor' | 'at' | 'runId' | 'taskId'>> & { path: string; ctx?: CredentialContext | undefined },
  ): Omit<AuditRecord, 'at' | 'outcome' | 'runId' | 'taskId'> & { ctx?: CredentialContext } {
    const { ctx, ...rest } = fields;
    return { event, actor: this.actor, ...(this.identity ? { identity: this.identity } : {}), ...rest, ...(ctx ? { ctx } : {}) };
  }

  /** Runs `fn` and emits one audit record for it, `ok` or `error` (with the error code, never a value). */
  private async audited<T>(
    event: AuditEvent,
    fields: { path: string; leaseId?: string; ctx?: CredentialContext | undefined },
    fn: (record: Partial<AuditRecord>) => Promise<T>,
  ): Promise<T> {
    const record: Partial<AuditRecord> = {};
    try {
      const out = await fn(record);
      emitAudit(this.log, this.opts.onAudit, this.auditFields(event, { ...fields, ...record }));
      return out;
    } catch (err) {
      const code = (err as { code?: string }).code;
      emitAudit(this.log, this.opts.onAudit, {
        ...this.auditFields(event === 'vault.login' ? 'vault.login_failed' : event, { ...fields, ...record }),
        outcome: 'error',
        error: typeof code === 'string' && /^[a-z_]{1,40}$/.test(code) ? code : 'upstream',
      });
      throw err instanceof LeaseNotFoundError && fields.leaseId ? new LeaseNotFoundError(`vault does not know lease ${fields.leaseId}`) : err;
    }
  }

  private registerValues(value: unknown): void {
    // KV entries mix secrets with short descriptors ("source", a port); only values long enough to scrub are registered.
    if (typeof value === 'string') {
      if (value.length >= MIN_SECRET_LENGTH) this.onSecret(value);
    }
    else if (Array.isArray(value)) value.forEach((v) => this.registerValues(v));
    else if (value && typeof value === 'object') Object.values(value).forEach((v) => this.registerValues(v));
  }
}
