import type { DeadLetterStore, GroupStats, StreamStats } from '@aoetl/bus';
import { STREAMS } from '@aoetl/contracts';
import { Gauge, type Registry } from '@aoetl/observability';

/** Streams consumed through groups (the dead-letter stream has none). */
export const GROUP_STREAMS = [STREAMS.requests, STREAMS.tasks, STREAMS.events];

/** Stream lengths, consumer-group lag and pending counts, and dead letters, read through the bus at each scrape. */
export function registerStreamMetrics(registry: Registry, stats: StreamStats, deadLetters: Pick<DeadLetterStore, 'count'>): void {
  const registers = [registry];
  new Gauge({
    name: 'aoetl_deadletter_entries',
    help: 'Entries in the dead-letter stream',
    registers,
    async collect() {
      this.set(await deadLetters.count());
    },
  });
  new Gauge({
    name: 'aoetl_stream_length',
    help: 'Entries in each stream',
    labelNames: ['stream'],
    registers,
    async collect() {
      for (const stream of Object.values(STREAMS)) this.set({ stream }, await stats.length(stream));
    },
  });
  // Lag and pending come from one XINFO GROUPS per stream, shared by both gauges within a scrape (they are
  // collected concurrently, so each must await the read rather than rely on the other having run).
  let reading: Promise<(GroupStats & { stream: string })[]> | undefined;
  const readGroups = () =>
    (reading ??= (async () => {
      const rows = [];
      for (const stream of GROUP_STREAMS) for (const g of await stats.groups(stream)) rows.push({ stream, ...g });
      return rows;
    })().finally(() => {
      reading = undefined;
    }));
  const groupGauges = [
    { name: 'aoetl_stream_group_pending', help: 'Delivered but unacknowledged entries', value: (g: GroupStats) => g.pending },
    { name: 'aoetl_stream_group_lag', help: 'Entries not yet delivered to each consumer group', value: (g: GroupStats) => g.lag },
  ];
  for (const { name, help, value } of groupGauges) {
    new Gauge({
      name,
      help,
      labelNames: ['stream', 'group'],
      registers,
      async collect() {
        for (const g of await readGroups()) this.set({ stream: g.stream, group: g.group }, value(g));
      },
    });
  }
}
