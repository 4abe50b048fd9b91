import type Redis from 'ioredis';
import { STREAMS } from '@aoetl/contracts';
import { isReplayable, parseDeadLetter, REPLAYABLE_STREAMS, type DeadLetter, type DeadLetterStore, type ReplayOutcome } from './dead-letters.js';
import { fieldMap, MESSAGE_FIELD } from './fields.js';
import { trimAcknowledged } from './trim.js';

/** A consumer group's position on a stream. */
export interface GroupStats {
  group: string;
  /** Entries not yet delivered to the group. */
  lag: number;
  /** Delivered but not acknowledged. */
  pending: number;
}

/** What a monitor reads about the streams. */
export interface StreamStats {
  /** Entries in the stream. */
  length(stream: string): Promise<number>;
  /** The consumer groups of the stream. */
  groups(stream: string): Promise<GroupStats[]>;
}

/** Removes acknowledged entries from the streams. */
export interface StreamTrimmer {
  /** Trims a stream, never past an entry a group has not acknowledged; answers how many entries went. */
  trim(stream: string): Promise<number>;
}

type Entry = [id: string, fields: string[]];

/** A stream entry as stored: its id and the JSON message (absent when the entry has no message field). */
export interface StreamEntry {
  id: string;
  message: string | undefined;
}

/**
 * The operator's side of the bus over Redis: stream statistics, trimming and the dead-letter stream (list, count,
 * replay). Needs a connection whose ACL user may read the streams' metadata and the dead-letter stream.
 */
export class StreamAdmin implements StreamStats, StreamTrimmer, DeadLetterStore {
  private readonly deadLetterStream: string;
  private readonly replayable: ReadonlySet<string>;

  /** `options` exist for tests that must not touch the real streams. */
  constructor(
    private readonly redis: Redis,
    options: { deadLetterStream?: string; replayable?: ReadonlySet<string> } = {},
  ) {
    this.deadLetterStream = options.deadLetterStream ?? STREAMS.deadletter;
    this.replayable = options.replayable ?? REPLAYABLE_STREAMS;
  }

  async length(stream: string): Promise<number> {
    return this.redis.xlen(stream);
  }

  async groups(stream: string): Promise<GroupStats[]> {
    const groups = ((await this.redis.call('XINFO', 'GROUPS', stream)) as unknown[][]).map(fieldMap);
    // lag is null when Redis cannot tell (after deletions); counted as 0 as before.
    return groups.map((g) => ({ group: String(g.name), lag: Number(g.lag ?? 0), pending: Number(g.pending ?? 0) }));
  }

  trim(stream: string): Promise<number> {
    return trimAcknowledged(this.redis, stream);
  }

  /**
   * Reads a stream without a consumer group (every reader sees every entry): the newest `count` entries, oldest
   * first, or with `afterId` the first `count` entries after it. The message field is returned unparsed.
   */
  async read(stream: string, count: number, afterId?: string): Promise<StreamEntry[]> {
    const entries =
      afterId === undefined
        ? ((await this.redis.xrevrange(stream, '+', '-', 'COUNT', count)) as Entry[]).reverse()
        : ((await this.redis.xrange(stream, `(${afterId}`, '+', 'COUNT', count)) as Entry[]);
    return entries.map(([id, flat]) => ({ id, message: fieldMap(flat)[MESSAGE_FIELD] as string | undefined }));
  }

  async list(limit: number): Promise<DeadLetter[]> {
    const entries = (await this.redis.xrevrange(this.deadLetterStream, '+', '-', 'COUNT', limit)) as Entry[];
    return entries.map(([id, flat]) => parseDeadLetter(id, flat));
  }

  count(): Promise<number> {
    return this.redis.xlen(this.deadLetterStream);
  }

  async replay(id: string): Promise<ReplayOutcome> {
    const found = ((await this.redis.xrange(this.deadLetterStream, id, id)) as Entry[])[0];
    if (!found) return { kind: 'not_found' };
    const letter = parseDeadLetter(found[0], found[1]);
    if (!isReplayable(letter, this.replayable)) return { kind: 'not_replayable', stream: letter.stream };
    const replayedAs = await this.redis.xadd(letter.stream, '*', MESSAGE_FIELD, letter.message);
    if (!replayedAs) throw new Error(`XADD to ${letter.stream} returned no id`);
    await this.redis.xdel(this.deadLetterStream, letter.id);
    return { kind: 'replayed', stream: letter.stream, replayedAs };
  }
}
