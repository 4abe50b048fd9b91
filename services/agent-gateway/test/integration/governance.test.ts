/**
 * Audit ledger reads, verify (with checkpoints signed by the real OpenBao transit key) and GDPR erasure through
 * buildApp + inject, over a throwaway control database migrated from this tree, the real warehouse database (target
 * credentials from Vault) and real tokens. Bad input answers 400 problem+json naming the field, changing nothing.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CheckpointFile, signCheckpoint, transitSigner } from '@aoetl/audit';
import { createLogger } from '@aoetl/observability';
import { VaultSecretStore } from '@aoetl/secrets';
import { Store } from '@aoetl/store';
import { STATE, bearer, freshControlDb, psqlAdmin, stackEnv, token as realToken } from '@aoetl/testing';
import { vaultGovernance } from '../../src/governance.js';
import { buildTestGateway, type TestGateway } from '../support/gateway.js';

jest.setTimeout(120_000);

const sfx = randomUUID().slice(0, 8);
const db = freshControlDb(`aoetl_governance_it_${sfx}`);
const gatewayStore = new Store(db.pool('aoetl_gateway'), 'governance-it');
const orchestrator = new Store(db.pool('aoetl_orchestrator'), 'governance-it-orchestrator');
const env = stackEnv('test');
const logger = createLogger({ name: 'governance-it', level: 'silent' });
// The gateway's own AppRole, with the tenant scope the local stack configures: erasure reads acme's writer role
// through acme's tenant token (deploy/local/openbao.sh).
const gatewayEnv = stackEnv('agent-gateway');
const vault = new VaultSecretStore({
  endpoint: env.AOETL_VAULT_ADDR!,
  caFile: env.AOETL_VAULT_CACERT!,
  auth: { method: 'approle', roleId: gatewayEnv.AOETL_VAULT_ROLE_ID!, secretId: gatewayEnv.AOETL_VAULT_SECRET_ID! },
  tenantTokenRole: 'aoetl-tenant',
  logger,
});
// The orchestrator signs checkpoints (the gateway only verifies): the test signs as root.
const signerVault = new VaultSecretStore({ endpoint: env.AOETL_VAULT_ADDR!, caFile: env.AOETL_VAULT_CACERT!, auth: { method: 'token', token: env.AOETL_VAULT_TOKEN! }, logger });
const dir = mkdtempSync(join(tmpdir(), 'aoetl-checkpoints-'));
const checkpointFile = new CheckpointFile(join(dir, 'checkpoints.jsonl'));
const as = (identity: string) => ({ authorization: bearer(realToken(identity)) });
const tables = [`silver.erasure_it_${sfx}`, `silver.erasure_notes_${sfx}`, `silver.erasure_ids_${sfx}`];
const EMAIL = `erase.me.${sfx}@example.com`;
let gw: TestGateway;

const count = (table: string, where = `email = '${EMAIL}'`) => psqlAdmin('warehouse', `SELECT count(*) FROM ${table} WHERE ${where}`);

async function writtenBy(table: string): Promise<void> {
  const p = await gatewayStore.pipelines.create('acme', {
    name: `erasure-${table.replace(/\W/g, '-')}`.slice(0, 60),
    source: { connection: 'crm-source', table: 'crm.customers' },
    target: { connection: 'warehouse', table, mode: 'append' },
    transform: { kind: 'python', code: 'def transform(rows):\n    return rows\n' },
  } as never, 'https://issuer.test|alice', { approvalRequired: false });
  const { run } = await gatewayStore.runs.create({ tenant: 'acme', pipelineId: p.id, pipelineVersion: p.version, submittedBy: 'https://issuer.test|alice', approvalRequired: false, ctx: { requestId: 'governance-it' } });
  for (const [from, to] of [['queued', 'planning'], ['planning', 'running'], ['running', 'succeeded']] as const) {
    await orchestrator.runs.transition(run.id, [from], to);
  }
}

beforeAll(async () => {
  // The erasure HMAC key, as deploy/local/openbao.sh provisions it (written here only when absent: cas=0).
  await fetch(`${env.AOETL_VAULT_ADDR}/v1/secret/data/aoetl-governance/erasure-hmac`, {
    method: 'POST',
    headers: { 'x-vault-token': env.AOETL_VAULT_TOKEN!, 'content-type': 'application/json' },
    body: JSON.stringify({ options: { cas: 0 }, data: { key: randomUUID() + randomUUID() } }),
  });
  psqlAdmin('warehouse', `CREATE TABLE ${tables[0]} (email text PRIMARY KEY, customer_id bigint, name text);
    INSERT INTO ${tables[0]} VALUES ('${EMAIL}', 1, 'Erase Me'), ('keep.${sfx}@example.com', 2, 'Keep Me');
    CREATE TABLE ${tables[1]} (email text, note text);
    INSERT INTO ${tables[1]} VALUES ('${EMAIL}', 'a'), ('${EMAIL}', 'b'), ('other.${sfx}@example.com', 'c');
    CREATE TABLE ${tables[2]} (id bigint);
    ALTER TABLE ${tables[0]} OWNER TO warehouse_load; ALTER TABLE ${tables[1]} OWNER TO warehouse_load; ALTER TABLE ${tables[2]} OWNER TO warehouse_load;`);
  await gatewayStore.connections.put('acme', { name: 'warehouse', kind: 'postgres', host: '127.0.0.1', port: 5433, database: 'warehouse', vaultRole: 'database/creds/acme-warehouse-writer', allowedSchemas: ['bronze', 'silver', 'gold'] }, 'deploy');
  for (const t of tables) await writtenBy(t);
  const governance = vaultGovernance(vault, {
    checkpointFile: checkpointFile.path,
    signingKey: 'aoetl-signing',
    hmacKvPath: 'aoetl-governance/erasure-hmac',
    dbCaFile: join(STATE, 'certs', 'ca.crt'),
    logger,
  });
  gw = await buildTestGateway({}, { store: gatewayStore, governance });
});

afterAll(async () => {
  await gw?.close();
  vault.close();
  signerVault.close();
  psqlAdmin('warehouse', `DROP TABLE IF EXISTS ${tables.join(', ')}`);
  rmSync(dir, { recursive: true, force: true });
  await db.drop();
});

describe('erasure', () => {
  it('refuses callers without admin, an unknown column, a malformed subject and a value the column cannot hold, changing nothing', async () => {
    const body = { subject: { column: 'email', value: EMAIL } };
    expect((await gw.call('POST', '/v1/erasure', { ...as('alice'), body })).status).toBe(403);

    const unknown = await gw.call('POST', '/v1/erasure', { ...as('admin'), body: { subject: { column: 'nope', value: EMAIL } } });
    expect(unknown.status).toBe(400);
    expect(unknown.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(unknown.json().errors).toEqual([expect.objectContaining({ field: 'body/subject/column' })]);

    for (const bad of [{ subject: { column: 'email' } }, { subject: { column: 'e-mail', value: 'x' } }, { subject: 'x' }, { subject: { column: 'email', value: EMAIL, extra: 1 } }]) {
      const res = await gw.call('POST', '/v1/erasure', { ...as('admin'), body: bad });
      expect(res.status).toBe(400);
      expect(JSON.stringify(res.json().errors)).toMatch(/body\/subject/);
    }

    const typed = await gw.call('POST', '/v1/erasure', { ...as('admin'), body: { subject: { column: 'customer_id', value: 'not-a-number' } } });
    expect(typed.status).toBe(400);
    expect(typed.json().errors).toEqual([expect.objectContaining({ field: 'body/subject/value' })]);

    expect([count(tables[0]!), count(tables[1]!)]).toEqual(['1', '2']);
    const ledger = (await gw.call('GET', '/v1/audit?action=erasure.completed', as('admin'))).json();
    expect(ledger.items).toEqual([]);
  });

  it('deletes the subject from every table written, answers per-table counts, audits a keyed hash only (verify below still passes)', async () => {
    const res = await gw.call('POST', '/v1/erasure', { ...as('admin'), body: { subject: { column: 'email', value: EMAIL } } });
    expect(res.status).toBe(200);
    const { subjectHash, tables: counts, ledgerSeq } = res.json();
    expect(subjectHash).toMatch(/^[0-9a-f]{64}$/);
    expect(counts).toEqual(expect.arrayContaining([
      { connection: 'warehouse', table: tables[0], deleted: 1 },
      { connection: 'warehouse', table: tables[1], deleted: 2 },
      { connection: 'warehouse', table: tables[2], deleted: null },
    ]));
    expect([count(tables[0]!), count(tables[1]!), count(tables[0]!, 'true'), count(tables[1]!, 'true')]).toEqual(['0', '0', '1', '1']);

    const audit = await gw.call('GET', '/v1/audit?action=erasure.completed', as('admin'));
    expect(audit.json().items).toEqual([expect.objectContaining({ seq: ledgerSeq, object: `subject:${subjectHash}`, actor: expect.stringMatching(/\|admin$/) })]);
    const all = await gw.call('GET', '/v1/audit?limit=100', as('admin'));
    expect(all.text).not.toContain(EMAIL);
    expect(all.text).not.toContain(EMAIL.split('@')[0]);

    // The same subject hashes the same (the key is stable), so a second request is recognisable in the ledger.
    const again = await gw.call('POST', '/v1/erasure', { ...as('admin'), body: { subject: { column: 'email', value: EMAIL } } });
    expect(again.json()).toMatchObject({ subjectHash, tables: expect.arrayContaining([{ connection: 'warehouse', table: tables[0], deleted: 0 }]) });
  });
});

describe('audit query', () => {
  it('answers 400 problem+json naming the field for a forged cursor or a bad filter', async () => {
    const cursor = await gw.call('GET', '/v1/audit?cursor=bm90LWEtY3Vyc29y', as('admin'));
    expect(cursor.status).toBe(400);
    expect(cursor.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(cursor.json().errors).toEqual([expect.objectContaining({ field: 'querystring/cursor' })]);
    const since = await gw.call('GET', '/v1/audit?since=yesterday', as('admin'));
    expect(since.status).toBe(400);
    expect(JSON.stringify(since.json().errors)).toContain('querystring/since');
    expect((await gw.call('GET', '/v1/audit?tenant=globex', as('admin'))).status).toBe(400);
  });
});

describe('audit verify', () => {
  it('is ok against checkpoints signed by transit, and names the first bad entry after a tampering', async () => {
    const signer = transitSigner(signerVault.transit(), 'aoetl-signing');
    const head = (await orchestrator.ledger.heads()).find((h) => h.tenant === 'acme')!;
    await checkpointFile.append(await signCheckpoint(signer, head));

    const ok = await gw.call('GET', '/v1/audit/verify', as('admin'));
    expect(ok.status).toBe(200);
    expect(ok.json()).toEqual({ ok: true, entries: head.seq, checkpoints: 1, head: { seq: head.seq, hash: head.hash } });
    expect((await gw.call('GET', '/v1/audit/verify', as('alice'))).status).toBe(403);

    // Someone with the owner's rights disables the guard and edits entry 2.
    psqlAdmin(db.name, `ALTER TABLE audit_ledger DISABLE TRIGGER audit_ledger_no_change;
      UPDATE audit_ledger SET actor = 'https://issuer.test|mallory' WHERE tenant = 'acme' AND seq = 2;
      ALTER TABLE audit_ledger ENABLE TRIGGER audit_ledger_no_change;`);
    const bad = await gw.call('GET', '/v1/audit/verify', as('admin'));
    expect(bad.status).toBe(200);
    expect(bad.json()).toMatchObject({ ok: false, entries: 1, firstBad: { seq: 2, reason: expect.stringContaining('hash does not match') } });
  });
});
