import { FakeStreamAdmin } from '@aoetl/bus/testing';
import { Registry } from '@aoetl/observability';
import { registerStreamMetrics } from './stream-metrics';

describe('stream metrics', () => {
  test('read lengths, group lag and pending, and dead letters from the bus at each scrape', async () => {
    const bus = new FakeStreamAdmin();
    const registry = new Registry();
    registerStreamMetrics(registry, bus, bus);
    bus.lengths.set('aoetl:events', 12);
    bus.groupStats.set('aoetl:events', [
      { group: 'orchestrator', lag: 3, pending: 1 },
      { group: 'monitor', lag: 0, pending: 2 },
    ]);
    bus.addDeadLetter({ stream: 'aoetl:events', group: 'monitor', entry: '1-1', reason: 'r', message: '{}' });

    const first = await registry.metrics();
    expect(first).toContain('aoetl_stream_length{stream="aoetl:events"} 12');
    expect(first).toContain('aoetl_stream_length{stream="aoetl:tasks"} 0');
    expect(first).toContain('aoetl_stream_group_lag{stream="aoetl:events",group="orchestrator"} 3');
    expect(first).toContain('aoetl_stream_group_pending{stream="aoetl:events",group="monitor"} 2');
    expect(first).toContain('aoetl_deadletter_entries 1');

    // A later scrape reads again.
    bus.lengths.set('aoetl:events', 4);
    bus.addDeadLetter({ stream: 'aoetl:tasks', group: 'etl-agent', entry: '1-2', reason: 'r', message: '{}' });
    const second = await registry.metrics();
    expect(second).toContain('aoetl_stream_length{stream="aoetl:events"} 4');
    expect(second).toContain('aoetl_deadletter_entries 2');
  });
});

test('one scrape reads the groups of each stream once for both lag and pending', async () => {
  const bus = new FakeStreamAdmin();
  const reads: string[] = [];
  const groups = bus.groups.bind(bus);
  bus.groups = async (stream: string) => {
    reads.push(stream);
    return groups(stream);
  };
  const registry = new Registry();
  registerStreamMetrics(registry, bus, bus);
  await registry.metrics();
  expect(reads).toEqual(['aoetl:requests', 'aoetl:tasks', 'aoetl:events']);
});
