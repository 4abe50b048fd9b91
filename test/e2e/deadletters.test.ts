/** Dead letters are visible in /metrics and through the monitor's admin routes, and an admin can replay one. */
import { MONITOR, MONITOR_METRICS, metricValue, redisAdminCli as adminCli, token, waitFor } from '@aoetl/testing';

jest.setTimeout(60_000);

async function list(bearer?: string) {
  const res = await fetch(`${MONITOR}/v1/admin/deadletters?limit=100`, { headers: bearer ? { authorization: `Bearer ${bearer}` } : {} });
  return { status: res.status, body: (await res.json()) as { items: { id: string; entry: string; reason: string; stream: string }[] } };
}

test('a malformed event is dead-lettered, counted, listed for admins only, and replayable', async () => {
  const before = await metricValue(MONITOR_METRICS, 'aoetl_deadletter_entries');
  const marker = `dlq-test-${Date.now()}`;
  const entry = adminCli('XADD', 'aoetl:events', '*', 'm', JSON.stringify({ v: 1, type: 'run.status', note: marker }));
  const admin = token('admin');

  const letter = await waitFor('the entry to be dead-lettered', async () => {
    const r = await list(admin);
    return r.body.items.find((i) => i.entry === entry && i.stream === 'aoetl:events');
  }, 20_000);
  expect(letter.reason).toMatch(/invalid message/);
  expect(await metricValue(MONITOR_METRICS, 'aoetl_deadletter_entries')).toBeGreaterThan(before);

  expect((await list()).status).toBe(401);
  expect((await list(token('alice'))).status).toBe(403);

  const denied = await fetch(`${MONITOR}/v1/admin/deadletters/${letter.id}/replay`, { method: 'POST', headers: { authorization: `Bearer ${token('alice')}` } });
  expect(denied.status).toBe(403);
  const replay = await fetch(`${MONITOR}/v1/admin/deadletters/${letter.id}/replay`, { method: 'POST', headers: { authorization: `Bearer ${admin}` } });
  expect(replay.status).toBe(200);
  const { replayedAs, stream } = (await replay.json()) as { replayedAs: string; stream: string };
  expect(stream).toBe('aoetl:events');
  expect(adminCli('XRANGE', 'aoetl:events', replayedAs, replayedAs)).toContain(marker);
  expect((await list(admin)).body.items.map((i) => i.id)).not.toContain(letter.id);
});
