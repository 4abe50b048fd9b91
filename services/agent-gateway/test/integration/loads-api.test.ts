/**
 * The API of write modes, provisioning, incremental loads and quality gates (issue 15, parts 7–9), in-process over
 * the real control database, with tokens of a test OIDC issuer (a tenant of this test's own): bad specs answer 400
 * naming the field; the run options body; a run's window and check results as readers and admins see them.
 */
import { randomBytes } from 'node:crypto';
import { LocalIssuer, makeKey, makeTestCa, psqlAdmin, signJwt } from '@aoetl/testing';
import { buildTestGateway, type TestGateway } from '../support/gateway.js';

jest.setTimeout(120_000);

const tls = makeTestCa();
const key = makeKey('ES256');
const issuer = new LocalIssuer(tls, [key]);
const tenant = `loads-${randomBytes(4).toString('hex')}`;
const as = (sub: string, roles: string[]) => {
  const now = Math.floor(Date.now() / 1000);
  const jwt = signJwt(
    { alg: 'ES256', kid: key.kid, typ: 'at+jwt' },
    { iss: issuer.issuer, sub, aud: 'aoetl-api', iat: now, exp: now + 600, tenant, roles },
    key.privateKey,
  );
  return { authorization: `Bearer ${jwt}` };
};
const alice = () => as('alice', ['submit']);
const reader = () => as('rita', ['read']);
const admin = () => as('ada', ['admin']);

let gw: TestGateway;
beforeAll(async () => {
  await issuer.start();
  gw = await buildTestGateway({ issuers: [issuer.issuer], ca: tls.caPem }, { rateLimitPerMinute: 100_000 });
  psqlAdmin(
    'aoetl',
    `INSERT INTO connections (tenant, name, kind, host, port, database, vault_role, created_by, allowed_schemas) VALUES
       ('${tenant}', 'src', 'postgres', '127.0.0.1', 5433, 'source', 'database/creds/source-read', 'test', '{crm}'),
       ('${tenant}', 'wh', 'postgres', '127.0.0.1', 5433, 'warehouse', 'database/creds/warehouse-load', 'test', '{bronze,silver,gold}')`,
  );
});
afterAll(async () => {
  await gw?.close();
  await issuer.stop();
});

const OUT = [
  { name: 'id', type: 'int8' },
  { name: 'email', type: 'text' },
  { name: 'amount', type: 'numeric(12,2)' },
];
const CODE = 'def transform(rows):\n    return rows\n';
function spec(target: Record<string, unknown> = {}, extra: Record<string, unknown> = {}, output: unknown = OUT): Record<string, unknown> {
  return {
    name: `p-${randomBytes(4).toString('hex')}`,
    source: { connection: 'src', table: 'crm.customers' },
    target: { connection: 'wh', table: 'silver.t', mode: 'append', ...target },
    transform: { kind: 'python', code: CODE, ...(output ? { output } : {}) },
    ...extra,
  };
}
const fieldsOf = (res: { json: () => { errors?: { field: string }[] } }) => (res.json().errors ?? []).map((e) => e.field);

describe('pipeline specs with modes, provisioning, watermarks and checks', () => {
  it('stores a valid spec as written', async () => {
    const body = spec(
      { mode: 'merge', keys: ['id'], create: true },
      {
        incremental: { column: 'updated_at' },
        checks: [
          { kind: 'not_null', column: 'email' },
          { kind: 'unique', columns: ['id'] },
          { kind: 'accepted_values', column: 'email', values: ['a', 'b'], name: 'emails' },
          { kind: 'range', column: 'amount', min: 0, max: '10.5' },
          { kind: 'row_count', min: 1 },
          { kind: 'row_count_change', maxPercent: 25 },
          { kind: 'expression', expression: "amount >= 0 OR email IN ('a', 'b')" },
        ],
      },
    );
    const res = await gw.call('POST', '/v1/pipelines', { headers: alice(), body });
    expect(res.status).toBe(201);
    expect(res.json().spec).toMatchObject({ target: body.target, incremental: body.incremental, checks: body.checks, transform: { output: OUT } });
    expect(res.json().approvalRequired).toBe(false);
  });

  it('answers 400 naming the field for every invalid mode, watermark and check spec', async () => {
    const cases: [unknown, string][] = [
      [spec({ create: true }, {}, null), 'body/target/create'],
      [spec({ allowBreakingDrift: true }, {}, null), 'body/target/allowBreakingDrift'],
      [spec({ mode: 'merge', keys: ['nope'] }), 'body/target/keys/0'],
      [spec({}, { incremental: { column: 'id; DROP TABLE x' } }), 'body/incremental/column'],
      [spec({}, { incremental: {} }), 'body/incremental/column'],
      [spec({}, { checks: [{ kind: 'range', column: 'amount' }] }), 'body/checks/0'],
      [spec({}, { checks: [{ kind: 'row_count', min: 5, max: 1 }] }), 'body/checks/0/min'],
      [spec({}, { checks: [{ kind: 'not_null', column: 'missing' }] }), 'body/checks/0/column'],
      [spec({}, { checks: [{ kind: 'unique', columns: ['id', 'zz'] }] }), 'body/checks/0/columns'],
      [spec({}, { checks: [{ kind: 'not_null', column: 'id' }, { kind: 'not_null', column: 'id' }] }), 'body/checks/1/name'],
      [spec({}, { checks: [{ kind: 'sql', query: 'SELECT pg_sleep(10)' }] }), 'body/checks/0'],
      [spec({}, { checks: [{ kind: 'expression', expression: 'pg_sleep(10) IS NULL' }] }), 'body/checks/0/expression'],
      [spec({}, { checks: [{ kind: 'expression', expression: 'amount > 0; DROP TABLE t' }] }), 'body/checks/0/expression'],
      [spec({}, { checks: [{ kind: 'expression', expression: 'nope > 0' }] }), 'body/checks/0/expression'],
      // PostgreSQL's jsonb cannot hold NUL: refused up front, not a 500 when the version is stored.
      [spec({}, { checks: [{ kind: 'accepted_values', column: 'email', values: ['a\u0000b'] }] }), 'body/checks/0'],
      [spec({}, { checks: [{ kind: 'range', column: 'amount', max: '1\u0000' }] }), 'body/checks/0'],
      [spec({}, {}, [{ name: 'id', type: 'int8); DROP TABLE x; --' }]), 'body/transform'],
      [spec({}, {}, [{ name: 'id', type: 'int8' }, { name: 'id', type: 'text' }]), 'body/transform/output/1/name'],
    ];
    for (const [body, field] of cases) {
      const res = await gw.call('POST', '/v1/pipelines', { headers: alice(), body });
      expect({ field, status: res.status }).toEqual({ field, status: 400 });
      expect(fieldsOf(res).some((f) => f.startsWith(field))).toBe(true);
    }
  });

  it('plans an instruction\'s output columns, so it can create its target', async () => {
    const res = await gw.call('POST', '/v1/pipelines', {
      headers: alice(),
      body: {
        ...spec({ create: true }, {}, null),
        transform: {
          kind: 'instruction',
          text: 'rename email to mail',
          columns: [
            { name: 'id', type: 'int8' },
            { name: 'email', type: 'text' },
          ],
        },
      },
    });
    expect(res.status).toBe(201);
    expect(res.json().spec.transform.output).toEqual([
      { name: 'id', type: 'int8' },
      { name: 'mail', type: 'text' },
    ]);
  });

  it('makes every run of a version that allows breaking drift wait for an approval', async () => {
    const res = await gw.call('POST', '/v1/pipelines', { headers: alice(), body: spec({ allowBreakingDrift: true }) });
    expect(res.status).toBe(201);
    expect(res.json().approvalRequired).toBe(true);
    const run = await gw.call('POST', `/v1/pipelines/${res.json().id}/runs`, { headers: alice() });
    expect(run.status).toBe(202);
    expect(run.json().status).toBe('awaiting_approval');
  });
});

describe('run options and what a run shows', () => {
  it('takes no body, or {fullRefresh} for an incremental pipeline only', async () => {
    const plain = (await gw.call('POST', '/v1/pipelines', { headers: alice(), body: spec() })).json().id as string;
    const inc = (await gw.call('POST', '/v1/pipelines', { headers: alice(), body: spec({}, { incremental: { column: 'id' } }) })).json().id as string;

    const bare = await gw.call('POST', `/v1/pipelines/${plain}/runs`, { headers: alice() });
    expect(bare.status).toBe(202);
    expect((await gw.call('GET', `/v1/runs/${bare.json().runId}`, { headers: reader() })).json()).toMatchObject({ options: {}, watermark: null, checks: null });

    const refused = await gw.call('POST', `/v1/pipelines/${plain}/runs`, { headers: alice(), body: { fullRefresh: true } });
    expect(refused.status).toBe(400);
    expect(fieldsOf(refused)).toEqual(['body/fullRefresh']);
    const unknown = await gw.call('POST', `/v1/pipelines/${inc}/runs`, { headers: alice(), body: { fullRefresh: true, since: 3 } });
    expect(unknown.status).toBe(400);

    const full = await gw.call('POST', `/v1/pipelines/${inc}/runs`, { headers: alice(), body: { fullRefresh: true } });
    expect(full.status).toBe(202);
    expect((await gw.call('GET', `/v1/runs/${full.json().runId}`, { headers: reader() })).json().options).toEqual({ fullRefresh: true });
    expect(psqlAdmin('aoetl', `SELECT options->>'fullRefresh' FROM runs WHERE id = '${full.json().runId}'`)).toBe('true');
  });

  it('shows check results without row values to readers, masked values to admins', async () => {
    const id = (await gw.call('POST', '/v1/pipelines', { headers: alice(), body: spec({}, { incremental: { column: 'id' } }) })).json().id as string;
    const runId = (await gw.call('POST', `/v1/pipelines/${id}/runs`, { headers: alice() })).json().runId as string;
    const checks = [
      { name: 'accepted_values:email', kind: 'accepted_values', passed: false, observed: 1, message: '1 rows with a value of email outside the 2 accepted values', examples: ['bob.secret@example.com'] },
      { name: 'row_count', kind: 'row_count', passed: true, observed: 3, message: '3 rows staged; expected 1…∞' },
    ];
    const error = JSON.stringify({ code: 'quality_check_failed', message: '1 of 2 quality checks failed (accepted_values:email); nothing was committed', checks });
    const window = JSON.stringify({ column: 'id', from: '5', to: '8', fullRefresh: false });
    psqlAdmin('aoetl', `UPDATE runs SET status = 'failed', error = '${error}'::jsonb, watermark = '${window}'::jsonb WHERE id = '${runId}';
                        INSERT INTO run_steps (run_id, status, detail) VALUES ('${runId}', 'failed', '{"error": ${error}}'::jsonb)`);

    const asReader = await gw.call('GET', `/v1/runs/${runId}`, { headers: reader() });
    expect(asReader.status).toBe(200);
    expect(asReader.text).not.toContain('bob.secret');
    expect(asReader.json().error.code).toBe('quality_check_failed');
    expect(asReader.json().error.checks).toEqual(checks.map(({ examples: _e, ...rest }) => rest));
    expect(asReader.json().watermark).toEqual({ column: 'id', from: '5', to: '8', fullRefresh: false });
    expect(asReader.json().steps.find((s: { status: string }) => s.status === 'failed').detail.error.checks[0].examples).toBeUndefined();

    const asAdmin = await gw.call('GET', `/v1/runs/${runId}`, { headers: admin() });
    expect(asAdmin.text).not.toContain('bob.secret@example.com');
    expect(asAdmin.json().error.checks[0].examples).toHaveLength(1);
    expect(asAdmin.json().error.checks[1].examples).toBeUndefined();
  });
});
