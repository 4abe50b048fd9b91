/**
 * The bus's admin side against the real Redis: a message the bus dead-letters reads back through StreamAdmin with the
 * fields it was written with; replay puts it back onto its stream; stream and group statistics match Redis.
 */
import pino from 'pino';
import { Type } from '@sinclair/typebox';
import { STREAMS } from '@aoetl/contracts';
import { Bus } from '../../src/bus';
import { deadLetterFields, type DeadLetter } from '../../src/dead-letters';
import { StreamAdmin } from '../../src/admin';
import { adminRedis } from '@aoetl/testing';

const redis = adminRedis();
const tag = `${process.pid}-${Date.now()}`;
const stream = `aoetl:test:admin-${tag}`;
const deadLetterStream = `aoetl:test:deadletter-${tag}`;
const realDeadLetters: string[] = [];

afterAll(async () => {
  await redis.del(stream, deadLetterStream);
  if (realDeadLetters.length > 0) await redis.xdel(STREAMS.deadletter, ...realDeadLetters);
  redis.disconnect();
});

test('a message the bus dead-letters is listed with its stream, group, entry, reason and message', async () => {
  await redis.xgroup('CREATE', stream, 'g', '$', 'MKSTREAM');
  const entry = (await redis.xadd(stream, '*', 'm', 'not json {'))!;
  const bus = new Bus(redis, 'admin-test', pino({ level: 'silent' }));
  bus.consume({ stream, group: 'g', schema: Type.Object({ type: Type.String() }), handler: async () => undefined, blockMs: 100 });
  const admin = new StreamAdmin(redis);
  let found: DeadLetter | undefined;
  for (let i = 0; i < 50 && !found; i++) {
    found = (await admin.list(50)).find((l) => l.stream === stream);
    if (!found) await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await bus.close();
  if (!found) throw new Error(`no dead letter from ${stream}`);
  realDeadLetters.push(found.id);
  expect(found).toEqual({ id: found.id, stream, group: 'g', entry, reason: 'message is not JSON', message: 'not json {' });
  // Its stream is not one the bus carries: it is not replayed, and stays.
  expect(await admin.replay(found.id)).toEqual({ kind: 'not_replayable', stream });
  expect((await admin.list(50)).some((l) => l.id === found.id)).toBe(true);
});

test('replay writes the message back onto its stream and removes the dead letter; stats match Redis', async () => {
  const admin = new StreamAdmin(redis, { deadLetterStream, replayable: new Set([stream]) });
  const id = (await redis.xadd(deadLetterStream, '*', ...deadLetterFields({ stream, group: 'g', entry: '1-1', reason: 'r', message: '{"type":"x"}' })))!;
  await redis.xadd(deadLetterStream, '*', ...deadLetterFields({ stream: 'aoetl:test:other', group: 'g', entry: '1-2', reason: 'r', message: '{}' }));
  expect(await admin.count()).toBe(2);
  expect((await admin.list(1)).map((l) => l.entry)).toEqual(['1-2']);

  const before = await admin.length(stream);
  const outcome = await admin.replay(id);
  expect(outcome).toMatchObject({ kind: 'replayed', stream });
  const replayedAs = outcome.kind === 'replayed' ? outcome.replayedAs : '';
  expect(await redis.xrange(stream, replayedAs, replayedAs)).toEqual([[replayedAs, ['m', '{"type":"x"}']]]);
  expect(await admin.length(stream)).toBe(before + 1);
  expect(await admin.count()).toBe(1);
  expect(await admin.replay(id)).toEqual({ kind: 'not_found' });

  const groups = await admin.groups(stream);
  expect(groups).toEqual([{ group: 'g', lag: 1, pending: 0 }]);
});
