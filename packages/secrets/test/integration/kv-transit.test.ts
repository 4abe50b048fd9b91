/**
 * KV v2 reads (version recorded, short cache, values registered for scrubbing) and the Transit adapter, against
 * the real OpenBao of the local stack; and the audit records they leave (never a value).
 */
import { randomBytes } from 'node:crypto';
import { InputError, NotFoundError } from '@aoetl/contracts';
import { VaultPermissionError } from '../../dist/index.js';
import { newStore, rand, root, stackEnvOf } from './support';

jest.setTimeout(30_000);

const agent = stackEnvOf('etl-agent');
const agentAuth = { method: 'approle' as const, roleId: agent.AOETL_VAULT_ROLE_ID!, secretId: agent.AOETL_VAULT_SECRET_ID! };

describe('KV v2', () => {
  const path = `aoetl/it-${rand()}`;
  const v1 = `first-${randomBytes(12).toString('hex')}`;
  const v2 = `second-${randomBytes(12).toString('hex')}`;
  const v3 = `third-${randomBytes(12).toString('hex')}`;

  beforeAll(async () => {
    await root('POST', `secret/data/${path}`, { data: { password: v1 } });
    await root('POST', `secret/data/${path}`, { data: { password: v2, nested: { list: ['x'] } } });
  });
  afterAll(() => root('DELETE', `secret/metadata/${path}`));

  test('reads the latest version or a given one, with the version recorded and audited', async () => {
    const t = newStore(agentAuth);
    const latest = await t.store.readKv(path, { ctx: { runId: 'run-kv' } });
    expect(latest).toMatchObject({ version: 2, data: { password: v2, nested: { list: ['x'] } } });
    expect(latest.createdTime).toMatch(/^\d{4}-\d\d-\d\dT/);
    const first = await t.store.readKv(path, { version: 1 });
    expect(first).toMatchObject({ version: 1, data: { password: v1 } });
    expect(t.audits.filter((a) => a.event === 'kv.read')).toEqual([
      expect.objectContaining({ path: `secret/${path}`, version: 2, runId: 'run-kv', actor: 'secrets-it', outcome: 'ok', identity: 'approle:etl-agent' }),
      expect.objectContaining({ path: `secret/${path}`, version: 1 }),
    ]);
    t.store.close();
  });

  test('a short cache answers repeated reads; a new version shows once it expires', async () => {
    const t = newStore(agentAuth, { kvCacheMs: 800 });
    expect((await t.store.readKv(path)).version).toBe(2);
    await root('POST', `secret/data/${path}`, { data: { password: v3 } });
    const cached = await t.store.readKv(path);
    expect(cached).toMatchObject({ version: 2, data: { password: v2 } });
    cached.data.password = 'mutated';
    expect((await t.store.readKv(path)).data.password).toBe(v2); // callers get copies
    await new Promise((r) => setTimeout(r, 900));
    expect(await t.store.readKv(path)).toMatchObject({ version: 3, data: { password: v3 } });
    expect(t.audits.filter((a) => a.event === 'kv.read').map((a) => a.cached ?? false)).toEqual([false, true, true, false]);
    t.store.close();
  });

  test('secret values are registered with the scrubber and never appear in logs or audit records', async () => {
    const t = newStore(agentAuth, { kvCacheMs: 0 });
    const kv = await t.store.readKv(path, { version: 2 });
    // A careless log line with the value: the scrubber removes it.
    t.logger.info({ leaked: kv.data.password }, `oops ${String(kv.data.password)}`);
    expect(t.logText()).toContain('[redacted]');
    for (const v of [v1, v2, v3]) {
      expect(t.logText()).not.toContain(v);
      expect(JSON.stringify(t.audits)).not.toContain(v);
    }
    t.store.close();
  });

  test('missing paths, policy denials and bad paths are typed', async () => {
    const t = newStore(agentAuth);
    await expect(t.store.readKv(`aoetl/none-${rand()}`)).rejects.toBeInstanceOf(NotFoundError);
    await expect(t.store.readKv(`other/${rand()}`)).rejects.toBeInstanceOf(VaultPermissionError);
    await expect(t.store.readKv('aoetl/../sys/x')).rejects.toBeInstanceOf(InputError);
    t.store.close();
  });
});

describe('Transit', () => {
  let token: string;
  beforeAll(async () => {
    // A token holding only the aoetl-transit policy that openbao.sh defines.
    token = (await root('POST', 'auth/token/create', { policies: ['aoetl-transit'], ttl: '5m', no_default_policy: false })).auth.client_token;
  });
  afterAll(() => root('POST', 'auth/token/revoke', { token }));

  test('encrypt/decrypt round-trips; the ciphertext is not the plaintext', async () => {
    const t = newStore({ method: 'token', token });
    const transit = t.store.transit();
    const plaintext = `subject-${randomBytes(8).toString('hex')}@example.com`;
    const ciphertext = await transit.encrypt('aoetl-audit', plaintext, { runId: 'run-t' });
    expect(ciphertext).toMatch(/^vault:v\d+:/);
    expect(ciphertext).not.toContain(plaintext);
    expect((await transit.decrypt('aoetl-audit', ciphertext)).toString('utf8')).toBe(plaintext);
    const binary = randomBytes(64);
    expect(await transit.decrypt('aoetl-audit', await transit.encrypt('aoetl-audit', binary))).toEqual(binary);
    expect(t.audits.map((a) => `${a.event} ${a.path}`)).toEqual(
      expect.arrayContaining(['transit.encrypt transit/encrypt/aoetl-audit', 'transit.decrypt transit/decrypt/aoetl-audit']),
    );
    expect(JSON.stringify(t.audits)).not.toContain(plaintext);
    t.store.close();
  });

  test('sign/verify with the ed25519 key: a changed byte or signature does not verify', async () => {
    const t = newStore({ method: 'token', token });
    const transit = t.store.transit();
    const record = Buffer.from(JSON.stringify({ run: 'r1', rows: 113337, sha256: randomBytes(32).toString('hex') }));
    const signature = await transit.sign('aoetl-signing', record);
    expect(signature).toMatch(/^vault:v1:/);
    expect(await transit.verify('aoetl-signing', record, signature)).toBe(true);
    const tampered = Buffer.from(record);
    tampered[5] = (tampered[5] ?? 0) ^ 1;
    expect(await transit.verify('aoetl-signing', tampered, signature)).toBe(false);
    const other = await transit.sign('aoetl-signing', 'something else');
    expect(await transit.verify('aoetl-signing', record, other)).toBe(false);
    t.store.close();
  });

  test('the transit policy grants nothing else', async () => {
    const t = newStore({ method: 'token', token });
    await expect(t.store.transit().encrypt('some-other-key', 'x')).rejects.toBeInstanceOf(VaultPermissionError);
    await expect(t.store.readKv('aoetl/connections/warehouse', { sensitive: false })).rejects.toBeInstanceOf(VaultPermissionError);
    t.store.close();
  });
});
