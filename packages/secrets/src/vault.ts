import { readFileSync } from 'node:fs';
import nodeVault from 'node-vault';
import type { Logger } from 'pino';
import { NotAllowedError, UpstreamError } from '@aoetl/contracts';
import type { CredentialContext, DatabaseCredential, SecretStore } from './secret-store.js';

export type VaultAuth =
  | { method: 'token'; token: string }
  | { method: 'approle'; roleId: string; secretId: string; mount?: string }
  | { method: 'kubernetes'; role: string; jwtFile: string; mount?: string };

export interface VaultOptions {
  endpoint: string;
  caFile: string;
  auth: VaultAuth;
  logger: Logger;
  /** Called with every secret value the adapter sees, so the log scrubber can hide it. */
  onSecret?: (value: string) => void;
  requestTimeoutMs?: number;
}

interface VaultHttpError {
  response?: { statusCode?: number };
  code?: string;
  message?: string;
}

/** Maps a node-vault failure to a typed error. Messages never carry request bodies (which may hold secrets). */
export function toTypedError(err: unknown, what: string): Error {
  const e = err as VaultHttpError;
  const status = e.response?.statusCode;
  if (status === 403 || status === 401) return new NotAllowedError(`vault denied ${what}`, { cause: status });
  if (status === 503) return new UpstreamError(`vault is sealed or unavailable (${what})`, { retryable: true });
  if (status !== undefined) return new UpstreamError(`vault answered ${status} to ${what}`, { retryable: status >= 500 });
  return new UpstreamError(`vault unreachable for ${what}${e.code ? ` (${e.code})` : ''}`, { retryable: true });
}

/** Vault / OpenBao adapter over node-vault, with one login in flight per process. */
export class VaultSecretStore implements SecretStore {
  private readonly client: nodeVault.client;
  private login: Promise<void> | null = null;
  private loggedIn = false;

  constructor(private readonly opts: VaultOptions) {
    this.client = nodeVault({
      apiVersion: 'v1',
      endpoint: opts.endpoint,
      requestOptions: { ca: readFileSync(opts.caFile), timeout: opts.requestTimeoutMs ?? 10_000 },
    });
    if (opts.auth.method === 'token') {
      this.client.token = opts.auth.token;
      this.loggedIn = true;
    }
  }

  async ping(): Promise<void> {
    try {
      const health = (await this.client.health()) as { sealed?: boolean };
      if (health.sealed) throw new UpstreamError('vault is sealed');
    } catch (err) {
      throw err instanceof UpstreamError ? err : toTypedError(err, 'health');
    }
  }

  async databaseCredential(path: string, ctx: CredentialContext): Promise<DatabaseCredential> {
    const res = (await this.call(`read ${path}`, () => this.client.read(path))) as {
      lease_id: string;
      lease_duration: number;
      renewable: boolean;
      data: { username: string; password: string };
    };
    this.opts.onSecret?.(res.data.password);
    this.opts.logger.info(
      { audit: 'credential.issued', path, runId: ctx.runId, taskId: ctx.taskId, leaseId: res.lease_id, username: res.data.username },
      'credential issued',
    );
    return {
      username: res.data.username,
      password: res.data.password,
      leaseId: res.lease_id,
      leaseDurationSec: res.lease_duration,
      renewable: res.renewable,
    };
  }

  async renew(leaseId: string, incrementSec?: number): Promise<number> {
    const res = (await this.call('lease renew', () =>
      this.client.write('sys/leases/renew', { lease_id: leaseId, ...(incrementSec ? { increment: incrementSec } : {}) }),
    )) as { lease_duration: number };
    return res.lease_duration;
  }

  async revoke(leaseId: string, ctx: CredentialContext): Promise<void> {
    await this.call('lease revoke', () => this.client.write('sys/leases/revoke', { lease_id: leaseId }));
    this.opts.logger.info({ audit: 'credential.revoked', runId: ctx.runId, taskId: ctx.taskId, leaseId }, 'credential revoked');
  }

  /** Runs a request, logging in first if needed and once more after a 403 (expired token). */
  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    await this.ensureLogin();
    try {
      return await fn();
    } catch (err) {
      const status = (err as VaultHttpError).response?.statusCode;
      if (status === 403 && this.opts.auth.method !== 'token') {
        this.loggedIn = false;
        await this.ensureLogin();
        try {
          return await fn();
        } catch (again) {
          throw toTypedError(again, what);
        }
      }
      throw toTypedError(err, what);
    }
  }

  private ensureLogin(): Promise<void> {
    if (this.loggedIn) return Promise.resolve();
    this.login ??= this.doLogin().finally(() => {
      this.login = null;
    });
    return this.login;
  }

  private async doLogin(): Promise<void> {
    const auth = this.opts.auth;
    try {
      let res: { auth?: { client_token?: string } };
      if (auth.method === 'approle') {
        res = (await this.client.approleLogin({
          role_id: auth.roleId,
          secret_id: auth.secretId,
          ...(auth.mount ? { mount_point: auth.mount } : {}),
        })) as typeof res;
      } else if (auth.method === 'kubernetes') {
        const jwt = readFileSync(auth.jwtFile, 'utf8').trim();
        res = (await this.client.kubernetesLogin({ role: auth.role, jwt, ...(auth.mount ? { mount_point: auth.mount } : {}) })) as typeof res;
      } else {
        return;
      }
      const token = res.auth?.client_token;
      if (!token) throw new UpstreamError('vault login returned no token', { retryable: false });
      this.opts.onSecret?.(token);
      this.client.token = token;
      this.loggedIn = true;
      this.opts.logger.info({ audit: 'vault.login', method: auth.method }, 'logged in to vault');
    } catch (err) {
      throw err instanceof UpstreamError ? err : toTypedError(err, `${auth.method} login`);
    }
  }
}
