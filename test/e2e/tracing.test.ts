/**
 * One run is one trace across the four services: the test is the OTLP/HTTP receiver the stack's services export to
 * (deploy/local/services.sh points them at 127.0.0.1:4318, JSON encoding), starts a real two-chunk run through the
 * API and checks the spans it receives: every service took part under one trace id, the chunk and commit spans
 * descend from the orchestrator's run span, and each chunk has its extract, sandbox and load spans.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { STATE, api, customersPipeline, customersTarget, demoTransform, stackEnv, token, waitFor, waitForRun } from '@aoetl/testing';

jest.setTimeout(180_000);

interface ReceivedSpan {
  service: string;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  attributes: Record<string, unknown>;
}

type AnyValue = { stringValue?: string; intValue?: string | number; boolValue?: boolean; doubleValue?: number };
type KeyValue = { key: string; value: AnyValue };
const valueOf = (v: AnyValue) => v.stringValue ?? (v.intValue !== undefined ? Number(v.intValue) : (v.boolValue ?? v.doubleValue));
const attrs = (list: KeyValue[] | undefined) => Object.fromEntries((list ?? []).map((a) => [a.key, valueOf(a.value)]));

/** Decodes an OTLP/HTTP JSON ExportTraceServiceRequest (ids are hex strings in the JSON encoding). */
function decode(body: string): ReceivedSpan[] {
  const req = JSON.parse(body) as {
    resourceSpans?: { resource?: { attributes?: KeyValue[] }; scopeSpans?: { spans?: (Omit<ReceivedSpan, 'service' | 'attributes'> & { attributes?: KeyValue[] })[] }[] }[];
  };
  const out: ReceivedSpan[] = [];
  for (const rs of req.resourceSpans ?? []) {
    const service = String(attrs(rs.resource?.attributes)['service.name'] ?? '');
    for (const ss of rs.scopeSpans ?? []) {
      for (const s of ss.spans ?? []) {
        out.push({ service, traceId: s.traceId, spanId: s.spanId, parentSpanId: s.parentSpanId ?? '', name: s.name, attributes: attrs(s.attributes) });
      }
    }
  }
  return out;
}

const spans: ReceivedSpan[] = [];
const rejected: string[] = [];
let receiver: Server;

beforeAll(async () => {
  const endpoint = new URL(stackEnv('etl-agent').OTEL_EXPORTER_OTLP_ENDPOINT ?? 'missing:');
  if (endpoint.protocol !== 'http:' || stackEnv('etl-agent').OTEL_EXPORTER_OTLP_PROTOCOL !== 'http/json') {
    throw new Error('the services are not configured to export OTLP/HTTP JSON (deploy/local/services.sh writes OTEL_* into .state/env)');
  }
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/traces') {
        rejected.push(`${req.method} ${req.url}`);
        res.writeHead(404).end();
        return;
      }
      try {
        spans.push(...decode(Buffer.concat(chunks).toString('utf8')));
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      } catch (err) {
        rejected.push(`undecodable export: ${(err as Error).message}`);
        res.writeHead(400).end();
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    receiver.once('error', reject);
    receiver.listen(Number(endpoint.port), endpoint.hostname, resolve);
  });
});

afterAll(async () => {
  await new Promise((resolve) => receiver.close(resolve));
});

test('a run is one trace: gateway, orchestrator, etl-agent and monitor spans, chunks and commit under the run span', async () => {
  const alice = token('alice');
  const target = customersTarget('traced');
  const pipeline = await api('POST', '/v1/pipelines', {
    token: alice,
    body: customersPipeline({ name: `traced-${Date.now()}`, target, code: demoTransform(), chunks: 2 }),
  });
  expect(pipeline.status).toBe(201);
  const accepted = await api('POST', `/v1/pipelines/${pipeline.body.id}/runs`, { token: alice });
  expect(accepted.status).toBe(202);
  const runId = accepted.body.runId as string;
  const run = await waitForRun(runId, alice);
  expect(run.status).toBe('succeeded');

  const runSpan = await waitFor('the orchestrator span of the run', async () => spans.find((s) => s.name === 'aoetl.run' && s.attributes['aoetl.run.id'] === runId), 30_000);
  const traceId = runSpan.traceId;
  const inTrace = () => spans.filter((s) => s.traceId === traceId);
  const services = ['aoetl-agent-gateway', 'aoetl-orchestrator', 'aoetl-etl-agent', 'aoetl-monitor'];
  await waitFor(
    'spans of all four services and the commit in the run trace',
    async () => (services.every((svc) => inTrace().some((s) => s.service === svc)) && inTrace().some((s) => s.name === 'aoetl.commit') ? true : undefined),
    30_000,
  );
  const trace = inTrace();
  const byId = new Map(trace.map((s) => [s.spanId, s]));
  const ancestors = (span: ReceivedSpan) => {
    const chain: ReceivedSpan[] = [];
    for (let p = byId.get(span.parentSpanId); p; p = byId.get(p.parentSpanId)) chain.push(p);
    return chain;
  };

  // The gateway's request span is the root; the run span is its descendant in the orchestrator.
  expect(ancestors(runSpan).some((s) => s.service === 'aoetl-agent-gateway')).toBe(true);
  expect(trace.some((s) => s.service === 'aoetl-orchestrator' && s.name === 'aoetl.run.plan' && s.parentSpanId === runSpan.spanId)).toBe(true);

  const chunks = trace.filter((s) => s.name === 'aoetl.chunk' && s.attributes['aoetl.run.id'] === runId);
  expect(chunks.map((c) => c.attributes['aoetl.chunk']).sort()).toEqual([0, 1]);
  const commit = trace.find((s) => s.name === 'aoetl.commit' && s.attributes['aoetl.run.id'] === runId)!;
  for (const span of [...chunks, commit]) {
    expect(span.service).toBe('aoetl-etl-agent');
    expect(ancestors(span).map((a) => a.spanId)).toContain(runSpan.spanId);
  }
  for (const chunk of chunks) {
    const children = trace.filter((s) => s.parentSpanId === chunk.spanId).map((s) => s.name);
    expect(children).toEqual(expect.arrayContaining(['aoetl.chunk.extract', 'aoetl.chunk.sandbox', 'aoetl.chunk.load']));
  }
  // The database and Redis calls of a chunk are traced too (pg and ioredis instrumentations).
  expect(trace.some((s) => s.service === 'aoetl-etl-agent' && s.attributes['db.system.name'] === 'postgresql') || trace.some((s) => s.service === 'aoetl-etl-agent' && s.attributes['db.system'] === 'postgresql')).toBe(true);
  // The monitor consumed the run's status events inside the same trace.
  expect(trace.some((s) => s.service === 'aoetl-monitor' && s.name === 'aoetl:events process')).toBe(true);
  expect(rejected).toEqual([]);

  // Logs carry the trace id: the agent's "chunk staged" lines of this run name it.
  const agentLog = readFileSync(join(STATE, 'logs', 'etl-agent.log'), 'utf8').split('\n');
  const staged = agentLog.filter((l) => l.includes(runId) && l.includes('"chunk staged"'));
  expect(staged.length).toBeGreaterThanOrEqual(2);
  for (const line of staged) expect(JSON.parse(line)).toMatchObject({ trace_id: traceId });
});
