/**
 * Helpers for the secrets integration tests: the real OpenBao of the local stack (root token from test.env),
 * throw-away auth mounts and roles, loggers that capture their output.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
// The built packages, as the services load them (one module instance for errors and the scrubber).
import { createLogger } from '@aoetl/observability';
import { Collector, stackEnv, vaultRequest } from '@aoetl/testing';
import { VaultSecretStore, type AuditRecord, type VaultAuth, type VaultOptions } from '../../dist/index.js';

export const env = stackEnv('test');
export const stackEnvOf = stackEnv;
export const VAULT = env.AOETL_VAULT_ADDR!;
export const CA_FILE = env.AOETL_VAULT_CACERT!;
const ROOT = env.AOETL_VAULT_TOKEN!;
if (!VAULT || !CA_FILE || !ROOT) throw new Error('AOETL_VAULT_* missing from .state/env/test.env: OpenBao is not up (make up)');

export const rand = () => randomBytes(4).toString('hex');

/** A request to OpenBao as root (or as `token`). */
export const root = vaultRequest;

/** A logger whose scrubbed output is kept in memory. */
export function memoryLogger(): { logger: Logger; text: () => string } {
  const destination = new Collector();
  return { logger: createLogger({ name: 'secrets-test', level: 'debug', destination }), text: () => destination.text() };
}

export interface TestStore {
  store: VaultSecretStore;
  audits: AuditRecord[];
  logins: () => number;
  failedLogins: () => number;
  logText: () => string;
  logger: Logger;
}

export function newStore(auth: VaultAuth, opts: Partial<VaultOptions> = {}): TestStore {
  const { logger, text } = memoryLogger();
  const audits: AuditRecord[] = [];
  const store = new VaultSecretStore({
    endpoint: VAULT,
    caFile: CA_FILE,
    auth,
    logger,
    actor: 'secrets-it',
    onAudit: (r) => audits.push(r),
    ...opts,
  });
  return {
    store,
    audits,
    logins: () => audits.filter((a) => a.event === 'vault.login').length,
    failedLogins: () => audits.filter((a) => a.event === 'vault.login_failed').length,
    logText: text,
    logger,
  };
}

/** A throw-away AppRole mount with one role; `close()` disables the mount (revoking its tokens). */
export async function approleMount(role: Record<string, unknown>) {
  const mount = `aoetl-test-approle-${rand()}`;
  await root('POST', `sys/auth/${mount}`, { type: 'approle' });
  await root('POST', `auth/${mount}/role/it`, { token_policies: ['etl-agent'], ...role });
  const roleId = (await root('GET', `auth/${mount}/role/it/role-id`)).data.role_id as string;
  const secretId = (await root('POST', `auth/${mount}/role/it/secret-id`, {})).data.secret_id as string;
  return {
    mount,
    auth: { method: 'approle' as const, roleId, secretId, mount },
    close: () => root('DELETE', `sys/auth/${mount}`),
  };
}

/** A CA and a server certificate for 127.0.0.1 made with openssl in a temporary folder. */
export function tlsFixture(): { caPem: string; key: string; cert: string; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'aoetl-secrets-it-'));
  const run = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  run('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt',
    '-days', '1', '-subj', '/CN=aoetl test CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign');
  run('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1');
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n');
  run('x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '1',
    '-extfile', 'server.ext');
  return { dir, caPem: readFileSync(join(dir, 'ca.crt'), 'utf8'), key: readFileSync(join(dir, 'server.key'), 'utf8'), cert: readFileSync(join(dir, 'server.crt'), 'utf8') };
}
