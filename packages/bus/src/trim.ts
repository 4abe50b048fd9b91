import type Redis from 'ioredis';
import { fieldMap } from './fields.js';

/** Compares two stream ids (`ms-seq`) numerically. */
export function compareIds(a: string, b: string): number {
  const [am, as = '0'] = a.split('-');
  const [bm, bs = '0'] = b.split('-');
  const ms = BigInt(am!) - BigInt(bm!);
  if (ms !== 0n) return ms < 0n ? -1 : 1;
  const seq = BigInt(as) - BigInt(bs);
  return seq === 0n ? 0 : seq < 0n ? -1 : 1;
}

/**
 * The oldest id every consumer group may still need: for each group, its oldest pending (unacknowledged) entry,
 * or, when nothing is pending, the last entry it was given (everything after it is undelivered). Null when the
 * stream has no group (then nothing is trimmed).
 */
export async function safeTrimId(redis: Redis, stream: string): Promise<string | null> {
  const groups = ((await redis.call('XINFO', 'GROUPS', stream)) as unknown[][]).map(fieldMap);
  let min: string | null = null;
  for (const g of groups) {
    let keep = String(g['last-delivered-id']);
    if (Number(g.pending) > 0) {
      const summary = (await redis.xpending(stream, String(g.name))) as [number, string | null, string | null, unknown];
      if (summary[1]) keep = summary[1];
    }
    if (min === null || compareIds(keep, min) < 0) min = keep;
  }
  return min;
}

/**
 * Trims a stream without ever dropping an entry a group has not acknowledged. Redis 7.0 has no ACKED trim mode,
 * so the bound is computed from the groups' state; entries younger than the bound stay. Races are harmless:
 * groups only move forward, so the bound can only be too old, never too new.
 */
export async function trimAcknowledged(redis: Redis, stream: string): Promise<number> {
  const id = await safeTrimId(redis, stream);
  if (id === null) return 0;
  return Number(await redis.xtrim(stream, 'MINID', id));
}
