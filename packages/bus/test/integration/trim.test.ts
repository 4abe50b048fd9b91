/** Trimming against the real Redis: no entry that some group has not acknowledged (or not yet seen) is dropped. */
import { adminRedis } from '@aoetl/testing';
import { safeTrimId, trimAcknowledged } from '../../src/trim';

const redis = adminRedis();
const stream = `aoetl:test:trim-${process.pid}-${Date.now()}`;
afterAll(async () => {
  await redis.del(stream);
  redis.disconnect();
});

type Read = [string, [string, string[]][]][];

test('trims only what every group has acknowledged', async () => {
  await redis.xgroup('CREATE', stream, 'fast', '$', 'MKSTREAM');
  await redis.xgroup('CREATE', stream, 'slow', '$');
  const ids: string[] = [];
  for (let i = 0; i < 10; i++) ids.push((await redis.xadd(stream, '*', 'm', String(i)))!);

  // fast: takes all 10, acknowledges the first 5. slow: takes 3, acknowledges them; 7 never delivered.
  const fast = ((await redis.xreadgroup('GROUP', 'fast', 'c', 'COUNT', 10, 'STREAMS', stream, '>')) as Read)[0]![1];
  await redis.xack(stream, 'fast', ...fast.slice(0, 5).map((e) => e[0]));
  const slow = ((await redis.xreadgroup('GROUP', 'slow', 'c', 'COUNT', 3, 'STREAMS', stream, '>')) as Read)[0]![1];
  await redis.xack(stream, 'slow', ...slow.map((e) => e[0]));

  expect(await safeTrimId(redis, stream)).toBe(ids[2]); // slow's last delivered entry
  expect(await trimAcknowledged(redis, stream)).toBe(2);
  const left = ((await redis.xrange(stream, '-', '+')) as [string, string[]][]).map((e) => e[0]);
  expect(left).toEqual(ids.slice(2));

  // slow catches up entirely; fast still holds 5 pending: they must survive.
  const rest = ((await redis.xreadgroup('GROUP', 'slow', 'c', 'COUNT', 10, 'STREAMS', stream, '>')) as Read)[0]![1];
  await redis.xack(stream, 'slow', ...rest.map((e) => e[0]));
  await trimAcknowledged(redis, stream);
  const after = ((await redis.xrange(stream, '-', '+')) as [string, string[]][]).map((e) => e[0]);
  expect(after).toEqual(ids.slice(5));
});

test('a stream without groups is not trimmed', async () => {
  const lonely = `${stream}-nogroup`;
  await redis.xadd(lonely, '*', 'm', '1');
  expect(await trimAcknowledged(redis, lonely)).toBe(0);
  expect(await redis.xlen(lonely)).toBe(1);
  await redis.del(lonely);
});
