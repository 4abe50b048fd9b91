/**
 * Resource exhaustion by a `read` user (issue 13, finding 4), with real connections: a listening gateway on a free
 * port over the real control database and real tokens. Open event streams are capped per identity and per tenant
 * (429 + Retry-After), every stream of a run is fed by one shared poller, and expensive routes have their own limit.
 */
import { request, type ClientRequest, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Store } from '@aoetl/store';
import { bearer, pipelineBody, token as realToken, unique } from '@aoetl/testing';
import { buildTestGateway, gatewayPool, type TestGateway } from '../support/gateway.js';

jest.setTimeout(60_000);

const POLL_MS = 100;
let gw: TestGateway;
let base: string;
let runId: string;
let pipelineId: string;
let stepQueries = 0;
const pool = gatewayPool();
const as = (identity: string) => ({ authorization: bearer(realToken(identity)) });

interface Stream {
  res: IncomingMessage;
  req: ClientRequest;
  close: () => void;
}
/** Opens GET …/events and resolves once the response head arrived (the stream stays open until close()). */
function openStream(identity: string, id = runId): Promise<Stream> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}/v1/runs/${id}/events?timeoutSeconds=60`, { headers: as(identity) }, (res) => {
      res.resume();
      resolve({ res, req, close: () => req.destroy() });
    });
    req.on('error', (err) => (req.destroyed ? undefined : reject(err)));
    req.end();
  });
}
const streams: Stream[] = [];
async function open(identity: string): Promise<Stream> {
  const s = await openStream(identity);
  streams.push(s);
  return s;
}

beforeAll(async () => {
  const store = new Store(pool, 'agent-gateway-test');
  const stepsAfter = store.runs.stepsAfter.bind(store.runs);
  store.runs.stepsAfter = (...args) => {
    stepQueries += 1;
    return stepsAfter(...args);
  };
  gw = await buildTestGateway({}, {
    store,
    ssePollMs: POLL_MS,
    sseStreamsPerIdentity: 2,
    sseStreamsPerTenant: 3,
    expensiveRateLimitPerMinute: 1000,
  });
  await gw.app.listen({ host: '127.0.0.1', port: 0 });
  base = `http://127.0.0.1:${(gw.app.server.address() as AddressInfo).port}`;
  const pipeline = await gw.call('POST', '/v1/pipelines', { ...as('alice'), body: pipelineBody(unique('sse-cap')) });
  expect(pipeline.status).toBe(201);
  pipelineId = pipeline.json().id;
  const run = await gw.call('POST', `/v1/pipelines/${pipelineId}/runs`, as('alice'));
  expect(run.status).toBe(202);
  runId = run.json().runId; // waits for an approval: the stream stays open
});
afterAll(async () => {
  for (const s of streams) s.close();
  await gw?.close();
  await pool.end();
});

describe('run event streams', () => {
  it('caps open streams per identity and per tenant with 429 + Retry-After, and frees a slot on close', async () => {
    const [a, b] = [await open('reader'), await open('reader')];
    expect([a.res.statusCode, b.res.statusCode]).toEqual([200, 200]);
    expect(a.res.headers['content-type']).toContain('text/event-stream');

    const third = await open('reader');
    expect(third.res.statusCode).toBe(429);
    expect(Number(third.res.headers['retry-after'])).toBeGreaterThan(0);

    // Another identity of the same tenant gets the tenant's third slot, not a fourth.
    expect((await open('alice')).res.statusCode).toBe(200);
    expect((await open('bob')).res.statusCode).toBe(429);

    // Another tenant is not held up by this one.
    const other = await gw.call('POST', '/v1/pipelines', { ...as('carol'), body: pipelineBody(unique('sse-cap-other')) });
    const otherRun = (await gw.call('POST', `/v1/pipelines/${other.json().id}/runs`, as('carol'))).json().runId;
    const carol = await openStream('carol', otherRun);
    streams.push(carol);
    expect(carol.res.statusCode).toBe(200);

    a.close();
    let again: Stream | undefined;
    for (let i = 0; i < 50; i++) {
      again = await open('reader');
      if (again.res.statusCode === 200) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(again!.res.statusCode).toBe(200);
  });

  it('feeds every stream of a run from one poller: queries per interval do not grow with the streams', async () => {
    // Three streams of this tenant's run are open (reader, reader, alice) plus carol's on another run: two pollers.
    const before = stepQueries;
    const windowMs = 20 * POLL_MS;
    await new Promise((r) => setTimeout(r, windowMs));
    const perInterval = (stepQueries - before) / (windowMs / POLL_MS);
    // One query per interval per run followed (two runs), not one per stream (four).
    expect(perInterval).toBeLessThanOrEqual(2.2);
    expect(perInterval).toBeGreaterThan(1);
  });
});

describe('expensive routes', () => {
  it('have their own, lower per-identity rate limit', async () => {
    const limited = await buildTestGateway({}, { expensiveRateLimitPerMinute: 2 });
    try {
      const url = `/v1/pipelines/${pipelineId}/artifacts/1/diff`;
      const answers = [];
      for (let i = 0; i < 3; i++) answers.push(await limited.call('GET', url, as('reader')));
      expect(answers.slice(0, 2).map((r) => r.status)).not.toContain(429);
      expect(answers[2]!.status).toBe(429);
      expect(Number(answers[2]!.headers['retry-after'])).toBeGreaterThan(0);
      // An ordinary route is still under the general limit.
      expect((await limited.call('GET', `/v1/pipelines/${pipelineId}`, as('reader'))).status).toBe(200);
    } finally {
      await limited.close();
    }
  });
});
