/**
 * sql transforms and schema reach through buildApp + inject, over a throwaway control database migrated from this
 * tree and real tokens: a guarded SELECT is stored as a `sql` artifact and planned as one chunk carrying the source
 * connection's schemas; a refused query, a table out of reach or in a reserved schema answers 400 problem+json naming
 * the field (and, for a query, the rule and the position) and writes nothing; a connection cannot list a reserved
 * schema.
 */
import { createHash, randomUUID } from 'node:crypto';
import { envelope } from '@aoetl/contracts';
import { createLogger } from '@aoetl/observability';
import { RunMachine } from '@aoetl/runs';
import { Store } from '@aoetl/store';
import { bearer, connectionBody, freshControlDb, pipelineBody, psqlAdmin, token as realToken, unique } from '@aoetl/testing';
import { buildTestGateway, type TestGateway } from '../support/gateway.js';

jest.setTimeout(120_000);

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');
const db = freshControlDb(`aoetl_sql_it_${randomUUID().slice(0, 8)}`);
const store = new Store(db.pool('aoetl_gateway'), 'sql-it');
const as = (identity: string) => ({ authorization: bearer(realToken(identity)) });
const QUERY = 'SELECT c.customer_id, lower(c.email) AS email FROM crm.customers c JOIN sales.orders o USING (customer_id)';
const sql = (query: string) => ({ transform: { kind: 'sql', query }, approval: { required: false } });
const body = (overrides: Record<string, unknown>) =>
  pipelineBody(unique('sql'), { source: { connection: 'crm-source', table: 'crm.customers' }, ...sql(QUERY), ...overrides });
let gw: TestGateway;

beforeAll(async () => {
  await store.connections.put('acme', { name: 'crm-source', ...connectionBody(['crm', 'sales']), kind: 'postgres', database: 'source' }, 'deploy');
  await store.connections.put('acme', { name: 'warehouse', ...connectionBody(['bronze', 'silver', 'gold']), kind: 'postgres', database: 'warehouse' }, 'deploy');
  gw = await buildTestGateway({}, { store });
});
afterAll(async () => {
  await gw?.close();
  await db.drop();
});

const names = async () => ((await gw.call('GET', '/v1/pipelines?limit=100', as('reader'))).json().items as { name: string }[]).map((p) => p.name);

describe('sql transforms', () => {
  it('stores the query as a sql artifact and plans one chunk that carries the source connection\'s schemas', async () => {
    const res = await gw.call('POST', '/v1/pipelines', { ...as('alice'), body: body({ chunks: 1 }) });
    expect(res.status).toBe(201);
    const p = res.json();
    expect(p.spec.transform).toEqual({ kind: 'sql', query: QUERY });
    expect(p.artifactSha256).toBe(sha256(QUERY));
    expect(psqlAdmin(db.name, `SELECT language FROM artifacts WHERE pipeline_id = '${p.id}'`)).toBe('sql');

    const { runId } = (await gw.call('POST', `/v1/pipelines/${p.id}/runs`, as('alice'))).json();
    const orchestrator = new Store(db.pool('aoetl_orchestrator'), 'sql-it-orchestrator');
    const machine = new RunMachine(orchestrator, { limits: { timeoutMs: 60_000, memoryMb: 256, maxOutputBytes: 1 << 20 }, defaultChunks: 4 }, createLogger({ name: 'sql-it', level: 'silent' }));
    await machine.onRunRequested(envelope('run.requested', { runId, tenant: 'acme' }, { requestId: 'sql-it' }));
    const run = await orchestrator.runs.getById(runId);
    expect(run).toMatchObject({ status: 'running', chunks: 1 });
    expect(run.plan?.transform).toEqual({ language: 'sql', code: QUERY, sha256: p.artifactSha256, allowedSchemas: ['crm', 'sales'] });

    const diff = await gw.call('PUT', `/v1/pipelines/${p.id}`, { ...as('admin'), body: { ...body({}), name: p.name, ...sql(`${QUERY} WHERE o.amount IS NOT NULL`) } });
    expect(diff.status).toBe(200);
    const shown = (await gw.call('GET', `/v1/pipelines/${p.id}/versions/1/diff/2`, as('reader'))).json();
    expect(shown.code.unified).toContain('+++ v2/transform.sql');
  });

  it.each([
    ['SELECT 1; DROP TABLE crm.customers', 'multiple_statements at position 11'],
    ['SELECT * FROM crm.customers WHERE pg_sleep(1) IS NULL', 'function_denied at position 35'],
    ['WITH d AS (DELETE FROM crm.customers RETURNING *) SELECT * FROM d', 'data_modifying_cte at position 6'],
    ['SELECT * FROM pg_catalog.pg_authid', 'reserved_schema at position 15'],
    ['SELECT * FROM hr.salaries', 'schema_not_allowed at position 15'],
    ["COPY (SELECT 1) TO PROGRAM 'id'", 'not_select at position 1'],
    ['SELECT * FROM crm.customers WHERE', 'syntax at position 34'],
  ])('refuses %s with 400 naming the rule and the position, and stores nothing', async (query, expected) => {
    const b = body(sql(query));
    const res = await gw.call('POST', '/v1/pipelines', { ...as('alice'), body: b });
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.json().errors).toEqual([{ field: 'body/transform/query', message: expect.stringContaining(expected) }]);
    expect(res.json().detail).toContain(expected);
    expect(await names()).not.toContain(b.name);
  });

  it('refuses more than one chunk for a sql transform', async () => {
    const res = await gw.call('POST', '/v1/pipelines', { ...as('alice'), body: body({ chunks: 4 }) });
    expect(res.status).toBe(400);
    expect(res.json().errors).toEqual([{ field: 'body/chunks', message: expect.stringContaining('one chunk') }]);
  });
});

describe('schema reach, whatever the transform', () => {
  it.each([
    [{ source: { connection: 'crm-source', table: 'hr.salaries' } }, 'body/source/table', "schema 'hr' is not in the connection's allowed schemas (crm, sales)"],
    [{ source: { connection: 'crm-source', table: 'pg_catalog.pg_authid' } }, 'body/source/table', "schema 'pg_catalog' is reserved"],
    [{ source: { connection: 'crm-source', table: 'information_schema.tables' } }, 'body/source/table', 'is reserved'],
    [{ target: { connection: 'warehouse', table: 'aoetl_staging.load_ledger', mode: 'append' } }, 'body/target/table', "schema 'aoetl_staging' is reserved"],
    [{ target: { connection: 'warehouse', table: 'pg_temp_1.t', mode: 'append' } }, 'body/target/table', 'is reserved'],
    [{ target: { connection: 'warehouse', table: 'crm.customers', mode: 'append' } }, 'body/target/table', "schema 'crm' is not in the connection's allowed schemas (bronze, silver, gold)"],
  ])('refuses a python pipeline reaching %j with 400 naming %s', async (overrides, field, message) => {
    const b = pipelineBody(unique('reach'), overrides);
    const res = await gw.call('POST', '/v1/pipelines', { ...as('alice'), body: b });
    expect(res.status).toBe(400);
    expect(res.json().errors).toEqual([{ field, message: expect.stringContaining(message) }]);
    expect(await names()).not.toContain(b.name);
  });

  it('refuses the same on update, and a rollback to a version the connection no longer reaches', async () => {
    const p = (await gw.call('POST', '/v1/pipelines', { ...as('alice'), body: pipelineBody(unique('reach'), { source: { connection: 'crm-source', table: 'sales.orders' } }) })).json();
    const res = await gw.call('PUT', `/v1/pipelines/${p.id}`, { ...as('admin'), body: pipelineBody(p.name, { source: { connection: 'crm-source', table: 'public.secrets' } }) });
    expect(res.status).toBe(400);
    expect(res.json().errors).toEqual([{ field: 'body/source/table', message: expect.stringContaining("schema 'public'") }]);
    expect((await gw.call('PUT', `/v1/pipelines/${p.id}`, { ...as('admin'), body: pipelineBody(p.name) })).status).toBe(200);
    await store.connections.put('acme', { name: 'crm-source', ...connectionBody(['crm']), kind: 'postgres', database: 'source' }, 'deploy');
    try {
      const rolled = await gw.call('POST', `/v1/pipelines/${p.id}/rollback`, { ...as('admin'), body: { version: 1 } });
      expect(rolled.status).toBe(400);
      expect(rolled.json().errors).toEqual([{ field: 'body/source/table', message: expect.stringContaining("schema 'sales'") }]);
    } finally {
      await store.connections.put('acme', { name: 'crm-source', ...connectionBody(['crm', 'sales']), kind: 'postgres', database: 'source' }, 'deploy');
    }
  });

  it('shows a connection\'s schemas and refuses a reserved one in its list', async () => {
    const admin = as('admin');
    const name = `reach-${randomUUID().slice(0, 8)}`;
    const bad = await gw.call('PUT', `/v1/connections/${name}`, { ...admin, body: connectionBody(['crm', 'pg_catalog']) });
    expect(bad.status).toBe(400);
    expect(bad.json().errors).toEqual([{ field: 'body/allowedSchemas/1', message: "schema 'pg_catalog' is reserved and can never be reached" }]);
    // Omitted: the connection reaches no schema, so no pipeline may use it.
    const none = await gw.call('PUT', `/v1/connections/${name}`, { ...admin, body: { ...connectionBody(), allowedSchemas: undefined } });
    expect(none.status).toBe(201);
    expect(none.json().allowedSchemas).toEqual([]);
    const refused = await gw.call('POST', '/v1/pipelines', { ...as('alice'), body: pipelineBody(unique('reach'), { source: { connection: name, table: 'crm.customers' } }) });
    expect(refused.json().errors).toEqual([{ field: 'body/source/table', message: "schema 'crm' is not in the connection's allowed schemas (none)" }]);
    const ok = await gw.call('PUT', `/v1/connections/${name}`, { ...admin, body: connectionBody(['crm']) });
    expect(ok.status).toBe(200);
    expect(ok.json().allowedSchemas).toEqual(['crm']);
    expect((await gw.call('GET', `/v1/connections/${name}`, as('reader'))).json().allowedSchemas).toEqual(['crm']);
  });
});
