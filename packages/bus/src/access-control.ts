import type Redis from 'ioredis';

/** The quarantine's keys (the quarantine ACL user may touch only `aoetl:quarantine:*`). */
const KEYS = {
  records: 'aoetl:quarantine:records',
  identities: 'aoetl:quarantine:identities',
  violations: 'aoetl:quarantine:violations:',
} as const;

function parseAll<T>(all: Record<string, string>): Record<string, T> {
  return Object.fromEntries(Object.entries(all).map(([k, v]) => [k, JSON.parse(v) as T]));
}

/**
 * Redis-side isolation of a quarantined agent, on a connection as the monitor's dedicated quarantine ACL user
 * (deploy/local/redis.sh, the chart's redis users): switch the agent's ACL user off and drop its connections, hand
 * the stream entries it held back to the group, and keep the quarantine's state (`aoetl:quarantine:*`: records, agents'
 * identities, violation windows; durable and shared by every monitor replica). Each method does one step and throws what failed; the caller retries and
 * reports per step.
 */
export class RedisAccessControl {

  constructor(private readonly redis: Redis) {}

  /** `ACL SETUSER user off`: new logins of the user fail (WRONGPASS … or user is disabled). Answers whether it existed. */
  async disableUser(user: string): Promise<boolean> {
    if (!(await this.userExists(user))) return false;
    await this.redis.call('ACL', 'SETUSER', user, 'off');
    return true;
  }

  /** `ACL SETUSER user on` (release). Answers whether it existed. */
  async enableUser(user: string): Promise<boolean> {
    if (!(await this.userExists(user))) return false;
    await this.redis.call('ACL', 'SETUSER', user, 'on');
    return true;
  }

  /** Whether the user may log in (`on` among its flags). */
  async userEnabled(user: string): Promise<boolean | null> {
    const info = (await this.redis.call('ACL', 'GETUSER', user)) as unknown[] | null;
    if (!info) return null;
    const flags = info[info.indexOf('flags') + 1];
    return Array.isArray(flags) && flags.includes('on');
  }

  /** Closes every connection authenticated as `user` (`CLIENT KILL USER`); answers how many. */
  async killConnections(user: string): Promise<number> {
    return Number(await this.redis.call('CLIENT', 'KILL', 'USER', user));
  }

  /**
   * The entries `consumer` holds in `group` of `stream` become claimable by any healthy consumer at once: they stay
   * pending (nothing is lost or acknowledged) with their idle time set far past every consumer's claim threshold, so
   * the next reclaim pass of a healthy agent (the bus's pending-entry claim path) takes them. Delivery counts are
   * kept (JUSTID). Answers the entry ids.
   */
  async releasePending(stream: string, group: string, consumer: string, idleMs = 24 * 3600_000): Promise<string[]> {
    const ids: string[] = [];
    let start = '-';
    for (;;) {
      const page = (await this.redis.xpending(stream, group, start, '+', 100, consumer)) as [string, string, number, number][];
      if (page.length === 0) return ids;
      const batch = page.map(([id]) => id);
      await this.redis.xclaim(stream, group, consumer, 0, ...batch, 'IDLE', idleMs, 'JUSTID');
      ids.push(...batch);
      if (page.length < 100) return ids;
      start = `(${batch[batch.length - 1]}`;
    }
  }

  /** Counts a violation once per event id in a sliding window; answers the agent's count in the window. */
  async countViolation(agentId: string, eventId: string, atMs: number, windowMs: number): Promise<number> {
    const key = `${KEYS.violations}${agentId}`;
    const replies = await this.redis
      .multi()
      .zadd(key, 'NX', atMs, eventId)
      .zremrangebyscore(key, '-inf', atMs - windowMs)
      .zcard(key)
      .pexpire(key, windowMs)
      .exec();
    const failed = replies?.find(([err]) => err)?.[0];
    if (!replies || failed) throw failed ?? new Error('the violation count transaction was discarded');
    return Number(replies[2]![1]);
  }

  async violationCount(agentId: string, nowMs: number, windowMs: number): Promise<number> {
    return this.redis.zcount(`${KEYS.violations}${agentId}`, nowMs - windowMs, '+inf');
  }

  async clearViolations(agentId: string): Promise<void> {
    await this.redis.del(`${KEYS.violations}${agentId}`);
  }

  async saveIdentity(agentId: string, seen: unknown): Promise<void> {
    await this.redis.hset(KEYS.identities, agentId, JSON.stringify(seen));
  }

  async identities<T>(): Promise<Record<string, T>> {
    return parseAll<T>(await this.redis.hgetall(KEYS.identities));
  }

  /** Stores the record only when the agent has none (HSETNX: one monitor replica wins). */
  async claimRecord(agentId: string, record: unknown): Promise<boolean> {
    return (await this.redis.hsetnx(KEYS.records, agentId, JSON.stringify(record))) === 1;
  }

  async saveRecord(agentId: string, record: unknown): Promise<void> {
    await this.redis.hset(KEYS.records, agentId, JSON.stringify(record));
  }

  async deleteRecord(agentId: string): Promise<void> {
    await this.redis.hdel(KEYS.records, agentId);
  }

  async records<T>(): Promise<Record<string, T>> {
    return parseAll<T>(await this.redis.hgetall(KEYS.records));
  }

  private async userExists(user: string): Promise<boolean> {
    return (await this.redis.call('ACL', 'GETUSER', user)) !== null;
  }
}
