// The bus over mutual TLS against redis-benchmark's pipelined XADD on the same Redis, side by side:
// messages/s produced and consumed (consumer group, ack after the handler), and produce-to-consume latency at
// a fixed 10,000 msg/s.
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { Bus, connectRedis } from '../packages/bus/dist/index.js';
import { RunRequested, envelope } from '../packages/contracts/dist/index.js';
import { createLogger } from '../packages/observability/dist/index.js';
import { STATE, envFile, percentile, table } from './lib.mjs';

const env = envFile('test');
const certs = join(STATE, 'certs');
const N = Number(process.env.BENCH_MESSAGES ?? 50_000);
const RATE = 10_000;
const logger = createLogger({ name: 'bench', level: 'warn' });
const conn = () =>
  connectRedis({
    url: 'rediss://127.0.0.1:6390',
    username: 'admin',
    password: env.AOETL_REDIS_ADMIN_PASSWORD,
    caFile: join(certs, 'ca.crt'),
    certFile: join(certs, 'admin.crt'),
    keyFile: join(certs, 'admin.key'),
  });

const sample = envelope('run.requested', { runId: randomUUID(), tenant: 'acme' }, { requestId: randomUUID() });
const payloadBytes = JSON.stringify(sample).length;

// Baseline: redis-benchmark, pipelined XADD of a same-sized field over the same TLS port.
const rb = execFileSync(
  'redis-benchmark',
  ['--tls', '--cacert', join(certs, 'ca.crt'), '--cert', join(certs, 'admin.crt'), '--key', join(certs, 'admin.key'),
    '-h', '127.0.0.1', '-p', '6390', '--user', 'admin', '-a', env.AOETL_REDIS_ADMIN_PASSWORD, '-n', String(N * 2), '-c', '4', '-P', '16', '-q',
    'XADD', 'aoetl:bench:rb', '*', 'm', 'x'.repeat(payloadBytes)],
  { encoding: 'utf8' },
);
const rbRate = Number(/([\d.]+) requests per second/.exec(rb)?.[1]);

async function throughput() {
  const stream = `aoetl:bench:bus-${process.pid}`;
  const redis = conn();
  await redis.xgroup('CREATE', stream, 'bench', '$', 'MKSTREAM');
  const bus = new Bus(redis, 'bench-1', logger);
  let consumed = 0;
  let done;
  const finished = new Promise((r) => (done = r));
  const t0 = performance.now();
  bus.consume({ stream, group: 'bench', schema: RunRequested, count: 500, blockMs: 100, handler: async () => void (++consumed === N && done()) });
  const inflight = new Set();
  for (let i = 0; i < N; i++) {
    const p = bus.publish(stream, sample).finally(() => inflight.delete(p));
    inflight.add(p);
    if (inflight.size >= 256) await Promise.race(inflight);
  }
  await Promise.all(inflight);
  const produced = performance.now() - t0;
  await finished;
  const total = performance.now() - t0;
  await bus.close();
  await redis.del(stream);
  redis.disconnect();
  return { produceRate: N / (produced / 1000), endToEndRate: N / (total / 1000) };
}

async function latency() {
  const stream = `aoetl:bench:lat-${process.pid}`;
  const redis = conn();
  await redis.xgroup('CREATE', stream, 'bench', '$', 'MKSTREAM');
  const bus = new Bus(redis, 'bench-2', logger);
  const lat = [];
  const total = RATE * 5;
  let done;
  const finished = new Promise((r) => (done = r));
  bus.consume({
    stream, group: 'bench', schema: RunRequested, count: 500, blockMs: 100,
    handler: async (m) => {
      lat.push(performance.now() + performance.timeOrigin - Number(m.payload.tenant));
      if (lat.length === total) done();
    },
  });
  const t0 = performance.now();
  for (let i = 0; i < total; i++) {
    const due = t0 + (i * 1000) / RATE;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    void bus.publish(stream, envelope('run.requested', { runId: sample.payload.runId, tenant: String(performance.now() + performance.timeOrigin) }, { requestId: 'b' }));
  }
  await finished;
  await bus.close();
  await redis.del(stream);
  redis.disconnect();
  return { p50: percentile(lat, 50), p99: percentile(lat, 99), max: Math.max(...lat) };
}

const t = await throughput();
const l = await latency();
console.log(`${N} messages of ${payloadBytes} bytes; redis-benchmark: 4 clients, pipeline 16, same TLS port`);
table([
  ['measure', 'aoetl bus', 'redis-benchmark XADD', 'ratio'],
  ['produce, msg/s', t.produceRate.toFixed(0), rbRate.toFixed(0), (t.produceRate / rbRate).toFixed(2)],
  ['produce+consume+ack, msg/s', t.endToEndRate.toFixed(0), rbRate.toFixed(0), (t.endToEndRate / rbRate).toFixed(2)],
]);
console.log(`produce-to-consume latency at ${RATE} msg/s for 5 s: p50 ${l.p50.toFixed(2)} ms, p99 ${l.p99.toFixed(2)} ms, max ${l.max.toFixed(1)} ms`);
execFileSync('true');
process.exit(0);
