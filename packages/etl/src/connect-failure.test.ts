import { createServer } from 'node:net';
import { randomUUID } from 'node:crypto';
import pino from 'pino';
import { UpstreamError } from '@aoetl/contracts';
import type { SecretStore } from '@aoetl/secrets';
import { commitRun } from './load.js';

/** A port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

// A credential store stand-in: the test is about what a failed connection reports, not about Vault.
const secrets = {
  databaseCredential: async () => ({ username: 'u', password: 'p', leaseId: 'lease-1', leaseDurationSec: 0, renewable: false }),
  renew: async () => 0,
  revoke: async () => undefined,
} as unknown as SecretStore;

describe('a connection that cannot be made', () => {
  test('is reported by the connection\'s name only (retryable), never the driver\'s host, port or reason', async () => {
    const port = await closedPort();
    const task = {
      taskId: randomUUID(),
      runId: randomUUID(),
      tenant: 'acme',
      action: 'commit' as const,
      target: {
        connection: { name: 'warehouse', kind: 'postgres' as const, host: '127.0.0.1', port, database: 'w', vaultRole: 'database/creds/w' },
        table: 'silver.t',
        mode: 'append' as const,
        keys: [],
      },
      chunks: 1,
    };
    const failed = commitRun(task, { secrets, runner: { run: () => Promise.reject(new Error('unused')) }, logger: pino({ level: 'silent' }), dbCaFile: '/dev/null' });
    await expect(failed).rejects.toBeInstanceOf(UpstreamError);
    const err = (await failed.catch((e: unknown) => e)) as UpstreamError;
    expect(err.message).toBe("could not connect to connection 'warehouse'");
    expect(err.retryable).toBe(true);
    expect(String((err.cause as Error).message)).toContain('ECONNREFUSED'); // the reason stays for the logs
  });
});
