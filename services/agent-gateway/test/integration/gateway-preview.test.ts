/**
 * POST /v1/transforms/preview through buildApp + inject with real tokens, the real Redis (previews stream and
 * reply streams; as the admin user, since the running stack's ACL file may predate the preview streams) and, on
 * the other side of the bus, the etl-agent's real preview handler with its SandboxTransformRunner over the stack's
 * Docker engine and gVisor: the rows answered are what the sandbox really produced.
 */
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { Bus, connectRedis } from '@aoetl/bus';
import { loadConfig } from '@aoetl/config';
import { PreviewRequested, STREAMS } from '@aoetl/contracts';
import { createLogger } from '@aoetl/observability';
/* eslint-disable import-x/no-relative-packages -- this test runs the etl-agent's preview handler in-process opposite
   the gateway (both ends of the preview stream, over the real Redis and sandbox); services are not libraries, so it
   reaches into the other service's source on purpose. */
import { EtlAgentConfig, sandboxSettings } from '../../../etl-agent/src/config.js';
import { previewHandler } from '../../../etl-agent/src/preview-handler.js';
import { SandboxTransformRunner, createSandboxDriver } from '../../../etl-agent/src/sandbox-runner.js';
/* eslint-enable import-x/no-relative-packages */
import { busPreviewSandbox } from '@aoetl/bus';
import { bearer, stackEnv, STATE, token as realToken } from '@aoetl/testing';
import { buildTestGateway, type TestGateway } from '../support/gateway.js';
import { runCorpus } from '@aoetl/testing';

jest.setTimeout(180_000);

const logger = createLogger({ name: 'preview-it', level: process.env.GATEWAY_TEST_LOG ?? 'silent' });
const test = stackEnv('test');
const redisAs = () =>
  connectRedis({
    url: test.AOETL_REDIS_URL!,
    username: test.AOETL_REDIS_ADMIN_USERNAME!,
    password: test.AOETL_REDIS_ADMIN_PASSWORD!,
    caFile: join(STATE, 'certs', 'ca.crt'),
    certFile: join(STATE, 'certs', 'admin.crt'),
    keyFile: join(STATE, 'certs', 'admin.key'),
  });
const gatewayRedis = redisAs();
const agentRedis = redisAs();
const group = `preview-it-${randomUUID().slice(0, 8)}`;
const bus = new Bus(agentRedis, group, logger);
const as = (identity: string) => ({ authorization: bearer(realToken(identity)) });
let driver: Awaited<ReturnType<typeof createSandboxDriver>>;
let gw: TestGateway;
let limited: TestGateway;
let corpusGw: TestGateway;

const ROWS = [
  { id: 3, email: 'Alice@Example.com', name: 'Alice B' },
  { id: 1, email: 'alice@example.com ', name: 'Alice A' },
  { id: 2, email: 'bob@example.com', name: 'Bob' },
  { id: 4, email: null, name: 'Nobody' },
];

beforeAll(async () => {
  const config = loadConfig(EtlAgentConfig, { ...stackEnv('etl-agent'), AOETL_SANDBOX_POOL_SIZE: '1' });
  driver = await createSandboxDriver(sandboxSettings(config), logger);
  const runner = new SandboxTransformRunner(driver);
  await agentRedis.xgroup('CREATE', STREAMS.previews, group, '$', 'MKSTREAM');
  bus.consume({
    stream: STREAMS.previews,
    group,
    schema: PreviewRequested,
    count: 1,
    blockMs: 200,
    handler: previewHandler({
      agentId: group,
      logger,
      preview: (req) => runner.preview(req),
      async reply(stream, message, ttl) {
        await bus.publish(stream, message);
        await agentRedis.expire(stream, ttl);
      },
    }),
  });
  const previews = busPreviewSandbox(gatewayRedis, { timeoutMs: 60_000 });
  gw = await buildTestGateway({}, { previews });
  limited = await buildTestGateway({}, { previews, previewPerMinute: 2 });
  corpusGw = await buildTestGateway({}, { previews, previewPerMinute: 1000 });
});

afterAll(async () => {
  await gw?.close();
  await limited?.close();
  await corpusGw?.close();
  await bus.close();
  await agentRedis.xgroup('DESTROY', STREAMS.previews, group).catch(() => undefined);
  await driver?.close();
  agentRedis.disconnect();
  gatewayRedis.disconnect();
});

const preview = (body: unknown, identity = 'reader', g = () => gw) => g().call('POST', '/v1/transforms/preview', { ...as(identity), body });

describe('POST /v1/transforms/preview', () => {
  it('plans an instruction and answers the rows the sandbox produced from the sample (types inferred)', async () => {
    const res = await preview({ instruction: 'Trim and lower-case email. Drop rows where email is null. Deduplicate by email keeping the lowest id.', sample: { rows: ROWS } });
    expect(res.status).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({ planner: 'rules', language: 'python', sha256: expect.stringMatching(/^[0-9a-f]{64}$/), explanation: expect.stringMatching(/Deduplicate/) });
    expect(body.code).toMatch(/def transform\(rows\)/);
    expect(body.outputColumns).toEqual([{ name: 'id', type: 'bigint' }, { name: 'email', type: 'text' }, { name: 'name', type: 'text' }]);
    expect(body.rows).toEqual([
      { id: '1', email: 'alice@example.com', name: 'Alice A' },
      { id: '2', email: 'bob@example.com', name: 'Bob' },
    ]);
    expect(await gatewayRedis.keys('aoetl:previews:reply:*')).toEqual([]); // the reply stream is deleted once read
  });

  it('runs given code with the columns given, and refuses code the policy refuses (400 naming code)', async () => {
    const code = 'def transform(rows):\n    return [{"n": r["n"], "twice": r["n"] * 2} for r in rows]\n';
    const ok = await preview({ code, sample: { rows: [{ n: '2' }, { n: '5' }], columns: [{ name: 'n', type: 'integer' }] } });
    expect(ok.status).toBe(200);
    expect(ok.json()).toMatchObject({ planner: 'none', outputColumns: [{ name: 'n', type: null }, { name: 'twice', type: null }], rows: [{ n: '2', twice: '4' }, { n: '5', twice: '10' }] });

    const hostile = await preview({ code: 'import os\ndef transform(rows):\n    os.system("id")\n    return rows\n', sample: { rows: ROWS } });
    expect(hostile.status).toBe(400);
    expect(hostile.json().errors).toEqual([{ field: 'body/code', message: expect.stringMatching(/^policy_refused: /) }]);

    const raising = await preview({ code: 'def transform(rows):\n    raise ValueError("nope")\n', sample: { rows: ROWS } });
    expect(raising.status).toBe(400);
    expect(raising.json().errors).toEqual([{ field: 'body/code', message: expect.stringMatching(/^transform: ValueError: nope/) }]);
  });

  it('answers 422 naming the clause it cannot map, and 400 naming the field for bad input', async () => {
    const unmappable = await preview({ instruction: 'Trim email. Translate the name into French.', sample: { rows: ROWS } });
    expect(unmappable.status).toBe(422);
    expect(unmappable.json()).toMatchObject({ type: 'urn:aoetl:problem:unmappable', errors: [{ field: 'body/instruction', message: expect.stringContaining('Translate the name into French') }] });

    const cases: [unknown, RegExp][] = [
      [{ sample: { rows: ROWS } }, /body\/instruction/],
      [{ instruction: 'Trim email', code: 'def transform(rows):\n    return rows\n', sample: { rows: ROWS } }, /body\/instruction/],
      [{ instruction: '', sample: { rows: ROWS } }, /body\/instruction/],
      [{ instruction: 42, sample: { rows: ROWS } }, /body\/instruction/],
      [{ instruction: 'x'.repeat(4097), sample: { rows: ROWS } }, /body\/instruction/],
      [{ instruction: 'Trim email', sample: { rows: Array.from({ length: 1001 }, (_, i) => ({ id: i })) } }, /body\/sample\/rows/],
      [{ instruction: 'Trim email', sample: { rows: [{ email: { nested: true } }] } }, /body\/sample\/rows/],
      [{ instruction: 'Trim email', sample: { rows: [{ email: 'a', extra: 'b' }], columns: [{ name: 'email', type: 'text' }] } }, /body\/sample\/rows\/0/],
    ];
    for (const [body, field] of cases) {
      const res = await preview(body);
      expect({ status: res.status, fields: JSON.stringify(res.json().errors) }).toEqual({ status: 400, fields: expect.stringMatching(field) });
    }
  });

  it('needs a token; has its own lower rate limit per identity', async () => {
    expect((await gw.call('POST', '/v1/transforms/preview', { body: { instruction: 'Trim email', sample: { rows: ROWS } } })).status).toBe(401);
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push((await preview({ instruction: 'Trim name', sample: { rows: ROWS } }, 'alice', () => limited)).status);
    expect(statuses).toEqual([200, 200, 429]);
  });

  it('runs the transform-task corpus: ≥ 90% exact, the rest refused with the clause, none silently wrong', async () => {
    const report = await runCorpus(async (body) => {
      const res = await preview(body, 'reader', () => corpusGw);
      return { status: res.status, body: res.json() };
    });
    process.stdout.write(`${report.text}\n`);
    expect(report.wrong).toEqual([]);
    expect(report.exact / report.solvable).toBeGreaterThanOrEqual(0.9);
  });
});
