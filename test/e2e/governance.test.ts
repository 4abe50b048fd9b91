/**
 * The audit ledger and GDPR erasure through the four running services, after a demo-like run:
 * - every PII value loaded (e-mails, names, phones of the target rows) and every secret value of the stack (generated
 *   passwords, env secrets, tokens, the dynamic credentials OpenBao issued) is absent from the ledger: 0 hits;
 * - the ledger records the run's transitions and the agent's credential accesses (the secrets audit hook);
 * - erasing one e-mail removes that person from every table written, reports the counts, and verify still passes.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { REPO, STATE, api, psqlAdmin, stackEnv, token, waitForRun } from '@aoetl/testing';

jest.setTimeout(300_000);

const MIN_LEN = 6;

/** Secret values of the stack: .state/secrets, secret-named env values, and what OpenBao handed out (raw audit log). */
function secretValues(extra: string[]): Map<string, string> {
  const out = new Map<string, string>();
  const add = (v: unknown, label: string) => {
    if (typeof v === 'string' && v.trim().length >= MIN_LEN) out.set(v.trim(), label);
  };
  for (const f of readdirSync(join(STATE, 'secrets'))) if (!f.endsWith('-role-id')) add(readFileSync(join(STATE, 'secrets', f), 'utf8'), `.state/secrets/${f}`);
  for (const f of readdirSync(join(STATE, 'env')).filter((n) => n.endsWith('.env'))) {
    for (const [k, v] of Object.entries(stackEnv(f.replace(/\.env$/, '')))) if (/(PASSWORD|TOKEN|SECRET|SECRET_ID|_KEY)$/.test(k)) add(v, `${f}:${k}`);
  }
  const walk = (node: unknown, where: string): void => {
    if (Array.isArray(node)) node.forEach((n) => walk(n, where));
    else if (node && typeof node === 'object') {
      for (const [k, v] of Object.entries(node)) {
        if (typeof v === 'string' && /^(client_token|secret_id|password|token)$/.test(k) && !v.startsWith('hmac-')) add(v, `${where}.${k}`);
        else walk(v, `${where}.${k}`);
      }
    }
  };
  const auditLog = stackEnv('test').AOETL_VAULT_AUDIT_LOG ?? join(STATE, 'openbao', 'audit.log');
  readFileSync(auditLog, 'utf8').split('\n').filter(Boolean).forEach((l, i) => walk(JSON.parse(l), `openbao audit line ${i + 1}`));
  extra.forEach((v, i) => add(v, `extra secret ${i}`));
  return out;
}

describe('audit ledger and erasure after a demo run', () => {
  const alice = token('alice');
  const admin = token('admin');
  let runId: string;
  let target: string;

  beforeAll(async () => {
    target = `silver.gov_${randomBytes(4).toString('hex')}`;
    psqlAdmin('warehouse', `CREATE TABLE ${target} (LIKE silver.customers INCLUDING ALL); ALTER TABLE ${target} OWNER TO warehouse_load;`);
    const created = await api('POST', '/v1/pipelines', {
      token: alice,
      body: {
        name: `gov-${randomBytes(4).toString('hex')}`,
        source: { connection: 'crm-source', table: 'crm.customers' },
        target: { connection: 'warehouse', table: target, mode: 'merge', keys: ['email'] },
        transform: { kind: 'python', code: readFileSync(join(REPO, 'examples/customers_transform.py'), 'utf8') },
      },
    });
    expect(created.status).toBe(201);
    const accepted = await api('POST', `/v1/pipelines/${created.body.id}/runs`, { token: alice });
    expect(accepted.status).toBe(202);
    runId = accepted.body.runId;
    expect((await waitForRun(runId, alice)).status).toBe('succeeded');
  });

  afterAll(() => {
    psqlAdmin('warehouse', `DROP TABLE IF EXISTS ${target}`);
  });

  test('the ledger holds the run and its credential accesses, and no secret or PII value: 0 hits', async () => {
    const ledger = psqlAdmin('aoetl', `SELECT coalesce(json_agg(l ORDER BY seq), '[]') FROM audit_ledger l WHERE tenant = 'acme'`);
    const entries = JSON.parse(ledger) as { action: string; object: string }[];
    const ofRun = entries.filter((e) => e.object === `run:${runId}`).map((e) => e.action);
    expect(ofRun).toEqual(expect.arrayContaining(['run.submitted', 'run.running', 'run.succeeded', 'lineage.recorded', 'credential.issued', 'credential.revoked']));

    const pii = psqlAdmin('warehouse', `SELECT string_agg(concat_ws(E'\\n', email, first_name, last_name, phone), E'\\n') FROM (SELECT * FROM ${target} ORDER BY email LIMIT 2000) t`)
      .split('\n')
      .filter((v) => v.length >= MIN_LEN);
    expect(pii.length).toBeGreaterThan(1000);
    const secrets = secretValues([alice, admin]);
    expect(secrets.size).toBeGreaterThan(20);

    const api1 = await api('GET', `/v1/audit?object=run:${runId}&limit=100`, { token: admin });
    expect(api1.status).toBe(200);
    const haystacks = { 'audit_ledger rows (acme)': ledger, 'GET /v1/audit': JSON.stringify(api1.body) };
    const hits: string[] = [];
    for (const [where, text] of Object.entries(haystacks)) {
      for (const v of pii) if (text.includes(v)) hits.push(`a PII value of ${target} in ${where}`);
      for (const [v, label] of secrets) if (text.includes(v)) hits.push(`${label} in ${where}`);
    }
    expect(hits).toEqual([]);
  });

  test('erasing one e-mail removes that person from every table written, reports counts, and verify still passes', async () => {
    const email = psqlAdmin('warehouse', `SELECT email FROM ${target} ORDER BY email OFFSET 7 LIMIT 1`);
    expect(email).toContain('@');
    // Earlier runs of this suite against the same stack may have erased this subject before: read only this erasure's entry.
    const since = new Date(Date.now() - 1000).toISOString();
    const res = await api('POST', '/v1/erasure', { token: admin, body: { subject: { column: 'email', value: email } } });
    expect(res.status).toBe(200);
    expect(res.body.tables).toEqual(expect.arrayContaining([{ connection: 'warehouse', table: target, deleted: 1 }]));
    expect(psqlAdmin('warehouse', `SELECT count(*) FROM ${target} WHERE email = '${email.replace(/'/g, "''")}'`)).toBe('0');
    for (const t of res.body.tables as { table: string; deleted: number | null }[]) {
      if (t.deleted === null) continue;
      expect(psqlAdmin('warehouse', `SELECT count(*) FROM ${t.table} WHERE email = '${email.replace(/'/g, "''")}'`)).toBe('0');
    }
    const audit = await api('GET', `/v1/audit?object=subject:${res.body.subjectHash}&since=${encodeURIComponent(since)}`, { token: admin });
    expect(audit.body.items).toHaveLength(1);
    expect(JSON.stringify(audit.body)).not.toContain(email);

    const bad = await api('POST', '/v1/erasure', { token: admin, body: { subject: { column: 'no_such_column', value: email } } });
    expect(bad.status).toBe(400);
    expect(bad.body.errors).toEqual([expect.objectContaining({ field: 'body/subject/column' })]);

    const verify = await api('GET', '/v1/audit/verify', { token: admin });
    expect(verify.status).toBe(200);
    expect(verify.body).toMatchObject({ ok: true });
  });
});
