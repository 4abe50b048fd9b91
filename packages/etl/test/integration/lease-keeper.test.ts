/**
 * The LeaseKeeper against the real OpenBao and PostgreSQL of the local stack: it keeps a short-lived dynamic
 * credential alive past its first TTL while the run lasts, and reports a lease revoked behind the run's back.
 */
import { randomUUID } from 'node:crypto';
import { VaultSecretStore, type AuditRecord } from '@aoetl/secrets';
import { canLogIn, connectAs as connect, roleExists, stackEnv, vaultRequest as root } from '@aoetl/testing';
import pino from 'pino';
import { LeaseKeeper } from '../../src/leases.js';

jest.setTimeout(60_000);

const env = stackEnv('test');
const rand = () => randomUUID().slice(0, 8);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const silent = pino({ level: 'silent' });

describe('lease renewal while the run lasts (LeaseKeeper)', () => {
  const role = `aoetl-test-short-${rand()}`;
  const audits: AuditRecord[] = [];
  const root_ = {
    audits,
    store: new VaultSecretStore({
      endpoint: env.AOETL_VAULT_ADDR!,
      caFile: env.AOETL_VAULT_CACERT!,
      auth: { method: 'token', token: env.AOETL_VAULT_TOKEN! },
      logger: silent,
      actor: 'etl-it',
      onAudit: (r) => audits.push(r),
    }),
  };

  beforeAll(() =>
    // A test-only role on the source connection (openbao.sh allows aoetl-test-*): 3 s TTL.
    root('POST', `database/roles/${role}`, {
      db_name: 'source',
      creation_statements: [`CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}' IN ROLE source_read;`],
      renew_statements: [`ALTER ROLE "{{name}}" VALID UNTIL '{{expiration}}';`],
      revocation_statements: ['DROP ROLE IF EXISTS "{{name}}";'],
      default_ttl: '3s',
      max_ttl: '60s',
    }),
  );
  afterAll(async () => {
    root_.store.close();
    await root('DELETE', `database/roles/${role}`);
  });

  test('renewal keeps a run alive past the first TTL; without it the credential dies at its TTL', async () => {
    const runId = randomUUID();
    const kept = await root_.store.databaseCredential(`database/creds/${role}`, { runId });
    const unkept = await root_.store.databaseCredential(`database/creds/${role}`, { runId });
    expect(kept.leaseDurationSec).toBe(3);
    const lost: string[] = [];
    const keeper = new LeaseKeeper(root_.store, silent, (reason) => lost.push(reason), { checkEveryMs: 1_000 });
    keeper.keep(kept, 'crm-source', { runId });
    const session = await connect(kept);
    try {
      // The "run": 8 s of work on the session, well past the 3 s TTL.
      for (let i = 0; i < 8; i++) {
        await sleep(1_000);
        expect(Number((await session.query('SELECT count(*) AS n FROM crm.customers')).rows[0].n)).toBeGreaterThan(0);
      }
      expect(await canLogIn(kept)).toBe(true); // the lease and the role's VALID UNTIL were extended
      expect(roleExists(kept.username)).toBe(true);
      expect(await canLogIn(unkept)).toBe(false); // Vault revoked the credential nobody renewed
      expect(roleExists(unkept.username)).toBe(false);
      expect(lost).toEqual([]);
      expect(root_.audits.filter((a) => a.event === 'credential.renewed' && a.leaseId === kept.leaseId).length).toBeGreaterThanOrEqual(3);
    } finally {
      expect(keeper.stop()).toBeNull();
      await session.end();
      await root_.store.revoke(kept.leaseId, { runId });
    }
    expect(await canLogIn(kept)).toBe(false);
  });

  test('a lease revoked behind the run\'s back is reported lost, with a reason naming the connection', async () => {
    const runId = randomUUID();
    const cred = await root_.store.databaseCredential(`database/creds/${role}`, { runId });
    const lost: string[] = [];
    const keeper = new LeaseKeeper(root_.store, silent, (reason) => lost.push(reason), { checkEveryMs: 300 });
    keeper.keep(cred, 'crm-source', { runId });
    await root('POST', 'sys/leases/revoke', { lease_id: cred.leaseId });
    for (let i = 0; i < 20 && lost.length === 0; i++) await sleep(100);
    expect(lost).toEqual(['the crm-source credential was revoked or lost by Vault']);
    expect(keeper.stop()).toBe(lost[0]);
  });
});
