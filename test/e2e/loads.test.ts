/**
 * Write modes, target provisioning and schema drift, incremental loads and quality gates (issue 15, parts 7–9),
 * on the running services and the real source and warehouse databases: every expectation is a SQL query.
 */
import { randomBytes } from 'node:crypto';
import { api, psqlAdmin, token, waitForRun } from '@aoetl/testing';

jest.setTimeout(600_000);

const alice = token('alice');
const admin = token('admin');
const hex = () => randomBytes(4).toString('hex');

/** A fresh source table in crm (its SELECT grant to source_read comes from the schema's default privileges). */
function sourceTable(rows: string): string {
  const table = `crm.loads_${hex()}`;
  psqlAdmin(
    'source',
    `CREATE TABLE ${table} (id bigint PRIMARY KEY, email text, amount numeric(10,2), updated_at timestamptz NOT NULL DEFAULT now());
     INSERT INTO ${table} (id, email, amount) VALUES ${rows};`,
  );
  return table;
}
const targetName = () => `silver.loads_${hex()}`;
const rowsOf = (db: string, table: string, cols = "id || ':' || coalesce(email, '-') || ':' || coalesce(amount::text, '-')") =>
  psqlAdmin(db, `SELECT coalesce(string_agg(${cols}, ',' ORDER BY id), '') FROM ${table}`);
const columnsOf = (table: string) =>
  psqlAdmin('warehouse', `SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), ', ' ORDER BY attnum) FROM pg_attribute
                          WHERE attrelid = '${table}'::regclass AND attnum > 0 AND NOT attisdropped`);
const storedWatermark = (pipelineId: string) =>
  psqlAdmin('warehouse', `SELECT coalesce(value, 'null') FROM aoetl_staging.watermarks WHERE stream LIKE '${pipelineId}:%'`);

const KEEP3 = "def transform(rows):\n    return [{'id': r['id'], 'email': r['email'], 'amount': r['amount']} for r in rows]\n";
const OUT3 = [
  { name: 'id', type: 'int8' },
  { name: 'email', type: 'text' },
  { name: 'amount', type: 'numeric(10,2)' },
];

function pipeline(source: string, target: Record<string, unknown>, extra: Record<string, unknown> = {}, code = KEEP3, output: unknown = OUT3) {
  return {
    name: `e2e-loads-${hex()}`,
    source: { connection: 'crm-source', table: source },
    target: { connection: 'warehouse', ...target },
    transform: { kind: 'python', code, ...(output ? { output } : {}) },
    ...extra,
  };
}

async function create(body: unknown): Promise<string> {
  const res = await api('POST', '/v1/pipelines', { token: alice, body });
  if (res.status !== 201) throw new Error(`pipeline create: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.id as string;
}
async function update(id: string, body: unknown): Promise<void> {
  const res = await api('PUT', `/v1/pipelines/${id}`, { token: alice, body });
  if (res.status !== 200) throw new Error(`pipeline update: ${res.status} ${JSON.stringify(res.body)}`);
}
async function run(id: string, body?: unknown): Promise<any> {
  const accepted = await api('POST', `/v1/pipelines/${id}/runs`, { token: alice, ...(body === undefined ? {} : { body }) });
  if (accepted.status !== 202) throw new Error(`run: ${accepted.status} ${JSON.stringify(accepted.body)}`);
  return waitForRun(accepted.body.runId, alice);
}

describe('incremental loads and quality gates', () => {
  test('three incremental runs load exactly the new rows; a run failing its gate moves nothing', async () => {
    const source = sourceTable(`(1, 'a@x.org', 10), (2, 'b@x.org', 20), (3, 'c@x.org', 30), (4, 'd@x.org', 40), (5, 'e@x.org', 50)`);
    const target = targetName();
    const spec = pipeline(source, { table: target, mode: 'append', create: true }, { incremental: { column: 'id' }, chunks: 2 });
    const id = await create(spec);

    const first = await run(id);
    expect(first.error).toBeNull();
    expect(first.status).toBe('succeeded');
    expect(first.watermark).toEqual({ column: 'id', from: null, to: '5', fullRefresh: false });
    expect(rowsOf('warehouse', target)).toBe(rowsOf('source', source));
    expect(storedWatermark(id)).toBe('5');

    psqlAdmin('source', `INSERT INTO ${source} (id, email, amount) VALUES (6, 'f@x.org', 60), (7, 'g@x.org', 70), (8, 'h@x.org', 80)`);
    const second = await run(id);
    expect(second.status).toBe('succeeded');
    expect(second.watermark).toMatchObject({ from: '5', to: '8' });
    expect(second.rowsOut).toBe(3);
    expect(rowsOf('warehouse', target)).toBe(rowsOf('source', source));
    expect(psqlAdmin('warehouse', `SELECT count(*) - count(DISTINCT id) FROM ${target}`)).toBe('0');

    // A gate fails: nothing is committed, the watermark stays, each check's result is on the run.
    psqlAdmin('source', `INSERT INTO ${source} (id, email, amount) VALUES (9, NULL, -5), (10, 'j@x.org', 100)`);
    const checks = [
      { kind: 'not_null', column: 'email' },
      { kind: 'range', column: 'amount', min: 0, max: 1000 },
      { kind: 'unique', columns: ['id'] },
      { kind: 'row_count', min: 1, max: 100 },
    ];
    await update(id, { ...spec, checks });
    const beforeFailed = rowsOf('warehouse', target);
    const failed = await run(id);
    expect(failed.status).toBe('failed');
    expect(failed.error.code).toBe('quality_check_failed');
    expect(failed.error.checks).toEqual([
      expect.objectContaining({ name: 'not_null:email', passed: false, observed: 1 }),
      expect.objectContaining({ name: 'range:amount', passed: false, observed: 1 }),
      expect.objectContaining({ name: 'unique:id', passed: true, observed: 0 }),
      expect.objectContaining({ name: 'row_count', passed: true, observed: 2 }),
    ]);
    // Readers never see row values; the tenant's admin sees the offending values.
    expect(JSON.stringify(failed.error)).not.toContain('-5.00');
    expect(failed.error.checks[1].examples).toBeUndefined();
    const asAdmin = await api('GET', `/v1/runs/${failed.id}`, { token: admin });
    expect(asAdmin.status).toBe(200);
    expect(asAdmin.body.error.checks[1].examples).toEqual(['-5.00']);
    expect(rowsOf('warehouse', target)).toBe(beforeFailed);
    expect(storedWatermark(id)).toBe('8');

    // The data is fixed; the next run loads exactly rows 9 and 10, starting from where the last commit left.
    psqlAdmin('source', `UPDATE ${source} SET email = 'i@x.org', amount = 90 WHERE id = 9`);
    const third = await run(id);
    expect(third.error).toBeNull();
    expect(third.watermark).toMatchObject({ from: '8', to: '10' });
    expect(third.rowsOut).toBe(2);
    expect(third.checks.map((c: { passed: boolean }) => c.passed)).toEqual([true, true, true, true]);
    expect(rowsOf('warehouse', target)).toBe(rowsOf('source', source));
    expect(psqlAdmin('warehouse', `SELECT count(*) FROM ${target}`)).toBe('10');
    expect(storedWatermark(id)).toBe('10');
  });

  test('a timestamp watermark with merge, and a full refresh as a run option', async () => {
    const source = sourceTable(`(1, 'a@x.org', 1), (2, 'b@x.org', 2), (3, 'c@x.org', 3)`);
    const target = targetName();
    const id = await create(pipeline(source, { table: target, mode: 'merge', keys: ['id'], create: true }, { incremental: { column: 'updated_at' } }));
    expect((await run(id)).status).toBe('succeeded');
    expect(rowsOf('warehouse', target)).toBe(rowsOf('source', source));

    psqlAdmin('source', `UPDATE ${source} SET amount = 22, updated_at = now() + interval '1 second' WHERE id = 2;
                         INSERT INTO ${source} (id, email, amount, updated_at) VALUES (4, 'd@x.org', 4, now() + interval '1 second')`);
    const second = await run(id);
    expect(second.status).toBe('succeeded');
    expect(second.rowsOut).toBe(2); // row 2 updated, row 4 inserted; rows 1 and 3 were not extracted
    expect(rowsOf('warehouse', target)).toBe(rowsOf('source', source));

    const full = await run(id, { fullRefresh: true });
    expect(full.status).toBe('succeeded');
    expect(full.options).toEqual({ fullRefresh: true });
    expect(full.watermark).toMatchObject({ fullRefresh: true, from: second.watermark.to });
    expect(full.rowsOut).toBe(4);
    expect(rowsOf('warehouse', target)).toBe(rowsOf('source', source));

    const plain = await create(pipeline(source, { table: targetName(), mode: 'append', create: true }));
    const refused = await api('POST', `/v1/pipelines/${plain}/runs`, { token: alice, body: { fullRefresh: true } });
    expect(refused.status).toBe(400);
    expect(refused.body.errors).toEqual([expect.objectContaining({ field: 'body/fullRefresh' })]);
  });
});

describe('write modes, provisioning and schema drift on the real warehouse', () => {
  test('replace swaps the target\'s rows in one transaction; a gate failure leaves them untouched', async () => {
    const source = sourceTable(`(1, 'a@x.org', 1), (2, 'b@x.org', 2)`);
    const target = targetName();
    psqlAdmin('warehouse', `CREATE TABLE ${target} (id int8, email text, amount numeric(10,2)); ALTER TABLE ${target} OWNER TO warehouse_load;
                            INSERT INTO ${target} VALUES (100, 'old@x.org', 1), (101, 'old2@x.org', 2), (102, 'old3@x.org', 3)`);
    const spec = pipeline(source, { table: target, mode: 'replace' }, {}, KEEP3, null);
    const id = await create({ ...spec, checks: [{ kind: 'row_count', min: 5 }] });
    const before = rowsOf('warehouse', target);
    const gated = await run(id);
    expect(gated.error.code).toBe('quality_check_failed');
    expect(gated.error.checks).toEqual([expect.objectContaining({ name: 'row_count', passed: false, observed: 2 })]);
    expect(rowsOf('warehouse', target)).toBe(before);

    await update(id, spec);
    expect((await run(id)).status).toBe('succeeded');
    expect(rowsOf('warehouse', target)).toBe(rowsOf('source', source));
  });

  test('an instruction transform creates its target from the planned output and merges on keys', async () => {
    const source = sourceTable(`(1, '  Ann@X.org ', 5), (2, 'bob@x.org', 6)`);
    const target = targetName();
    const id = await create({
      name: `e2e-loads-${hex()}`,
      source: { connection: 'crm-source', table: source },
      target: { connection: 'warehouse', table: target, mode: 'merge', keys: ['id'], create: true },
      transform: {
        kind: 'instruction',
        text: 'trim and lowercase email',
        columns: [
          { name: 'id', type: 'int8' },
          { name: 'email', type: 'text' },
          { name: 'amount', type: 'numeric' },
          { name: 'updated_at', type: 'timestamptz' },
        ],
      },
    });
    const first = await run(id);
    expect(first.error).toBeNull();
    expect(columnsOf(target)).toBe('id bigint, email text, amount numeric, updated_at timestamp with time zone');
    expect(rowsOf('warehouse', target)).toBe(rowsOf('source', source, "id || ':' || lower(trim(email)) || ':' || amount::numeric"));
    psqlAdmin('source', `UPDATE ${source} SET amount = 7 WHERE id = 2`);
    expect((await run(id)).status).toBe('succeeded');
    expect(psqlAdmin('warehouse', `SELECT count(*) || ':' || sum(amount)::float8 FROM ${target}`)).toBe('2:12');
  });

  test('additive drift is applied; breaking drift fails the run unless approved', async () => {
    const source = sourceTable(`(1, 'a@x.org', 1), (2, 'b@x.org', 2)`);
    const target = targetName();
    const spec = pipeline(source, { table: target, mode: 'merge', keys: ['id'], create: true });
    const id = await create(spec);
    expect((await run(id)).status).toBe('succeeded');
    expect(columnsOf(target)).toBe('id bigint, email text, amount numeric(10,2)');
    const loaded = rowsOf('warehouse', target);

    // Dropped and retyped columns: the run fails with schema_drift and the target is untouched.
    const dropAmount = "def transform(rows):\n    return [{'id': r['id'], 'email': r['email']} for r in rows]\n";
    await update(id, { ...spec, transform: { kind: 'python', code: dropAmount, output: OUT3.slice(0, 2) } });
    const dropped = await run(id);
    expect(dropped.error.code).toBe('schema_drift');
    expect(dropped.error.message).toContain('amount');
    await update(id, { ...spec, transform: { kind: 'python', code: KEEP3, output: [...OUT3.slice(0, 2), { name: 'amount', type: 'text' }] } });
    const retyped = await run(id);
    expect(retyped.error.code).toBe('schema_drift');
    expect(columnsOf(target)).toBe('id bigint, email text, amount numeric(10,2)');
    expect(rowsOf('warehouse', target)).toBe(loaded);

    // A new column is added (nullable) and loaded.
    const addCountry = "def transform(rows):\n    return [{'id': r['id'], 'email': r['email'], 'amount': r['amount'], 'country': 'FR'} for r in rows]\n";
    await update(id, { ...spec, transform: { kind: 'python', code: addCountry, output: [...OUT3, { name: 'country', type: 'text' }] } });
    const added = await run(id);
    expect(added.error).toBeNull();
    expect(columnsOf(target)).toBe('id bigint, email text, amount numeric(10,2), country text');
    expect(psqlAdmin('warehouse', `SELECT string_agg(country, ',' ORDER BY id) FROM ${target}`)).toBe('FR,FR');

    // Allowed breaking drift needs an approval; approved, the column is dropped.
    await update(id, {
      ...spec,
      target: { ...spec.target, allowBreakingDrift: true },
      transform: { kind: 'python', code: dropAmount, output: OUT3.slice(0, 2) },
    });
    const accepted = await api('POST', `/v1/pipelines/${id}/runs`, { token: alice });
    expect(accepted.body.status).toBe('awaiting_approval');
    const approved = await api('POST', `/v1/runs/${accepted.body.runId}/approval`, { token: token('bob'), body: { decision: 'approve' } });
    expect(approved.status).toBe(200);
    const applied = await waitForRun(accepted.body.runId, alice);
    expect(applied.error).toBeNull();
    expect(columnsOf(target)).toBe('id bigint, email text');
  });

  test('invalid mode, watermark and check specs get a 400 naming the field', async () => {
    const source = 'crm.customers';
    const cases: [unknown, string][] = [
      [pipeline(source, { table: targetName(), mode: 'append', create: true }, {}, KEEP3, null), 'body/target/create'],
      [pipeline(source, { table: targetName(), mode: 'merge', keys: ['nope'], create: true }), 'body/target/keys/0'],
      [pipeline(source, { table: targetName(), mode: 'append' }, { incremental: { column: 'id; DROP' } }), 'body/incremental/column'],
      [pipeline(source, { table: targetName(), mode: 'append' }, { checks: [{ kind: 'range', column: 'amount' }] }), 'body/checks/0'],
      [pipeline(source, { table: targetName(), mode: 'append' }, { checks: [{ kind: 'not_null', column: 'missing' }] }), 'body/checks/0/column'],
      [pipeline(source, { table: targetName(), mode: 'append' }, { checks: [{ kind: 'row_count', min: 5, max: 1 }] }), 'body/checks/0/min'],
      [pipeline(source, { table: targetName(), mode: 'append', create: true }, {}, KEEP3, [{ name: 'id', type: "int8; DROP TABLE x" }]), 'body/transform'],
    ];
    for (const [body, field] of cases) {
      const res = await api('POST', '/v1/pipelines', { token: alice, body });
      expect(res.status).toBe(400);
      expect(res.body.errors.map((e: { field: string }) => e.field).join(' ')).toContain(field);
    }
  });
});
