import type Redis from 'ioredis';
import { STREAMS } from '@aoetl/contracts';
import { Gauge, type Registry } from '@aoetl/observability';

function fields(flat: unknown[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) out[String(flat[i])] = flat[i + 1];
  return out;
}

/** Stream lengths, consumer-group lag and pending counts, and dead letters, read from Redis at each scrape. */
export function registerStreamMetrics(registry: Registry, redis: Redis): void {
  const registers = [registry];
  new Gauge({
    name: 'aoetl_deadletter_entries',
    help: 'Entries in the dead-letter stream',
    registers,
    async collect() {
      this.set(await redis.xlen(STREAMS.deadletter));
    },
  });
  new Gauge({
    name: 'aoetl_stream_length',
    help: 'Entries in each stream',
    labelNames: ['stream'],
    registers,
    async collect() {
      for (const stream of Object.values(STREAMS)) this.set({ stream }, await redis.xlen(stream));
    },
  });
  const pending = new Gauge({ name: 'aoetl_stream_group_pending', help: 'Delivered but unacknowledged entries', labelNames: ['stream', 'group'], registers });
  new Gauge({
    name: 'aoetl_stream_group_lag',
    help: 'Entries not yet delivered to each consumer group',
    labelNames: ['stream', 'group'],
    registers,
    async collect() {
      for (const stream of [STREAMS.requests, STREAMS.tasks, STREAMS.events]) {
        const groups = ((await redis.call('XINFO', 'GROUPS', stream)) as unknown[][]).map(fields);
        for (const g of groups) {
          const labels = { stream, group: String(g.name) };
          this.set(labels, Number(g.lag ?? 0));
          pending.set(labels, Number(g.pending ?? 0));
        }
      }
    },
  });
}
