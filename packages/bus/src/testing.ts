/**
 * In-memory fakes of the bus's admin interfaces, for unit tests of code that uses them (e.g. the monitor).
 * Integration tests use StreamAdmin against the real Redis.
 */
import { isReplayable, type DeadLetter, type DeadLetterStore, type ReplayOutcome } from './dead-letters.js';
import type { GroupStats, StreamStats, StreamTrimmer } from './admin.js';

export class FakeStreamAdmin implements StreamStats, StreamTrimmer, DeadLetterStore {
  /** Entries per stream (only their number matters). */
  readonly lengths = new Map<string, number>();
  readonly groupStats = new Map<string, GroupStats[]>();
  /** Oldest first, as in the stream. */
  readonly deadLetters: DeadLetter[] = [];
  /** What replays wrote, in order. */
  readonly replayed: { stream: string; message: string; id: string }[] = [];
  /** Streams trimmed, in order. */
  readonly trimmed: string[] = [];
  private nextId = 1;

  async length(stream: string): Promise<number> {
    return this.lengths.get(stream) ?? 0;
  }

  async groups(stream: string): Promise<GroupStats[]> {
    return this.groupStats.get(stream) ?? [];
  }

  async trim(stream: string): Promise<number> {
    this.trimmed.push(stream);
    return 0;
  }

  /** Adds a dead letter the way the bus would; answers its id. */
  addDeadLetter(letter: Omit<DeadLetter, 'id'>): string {
    const id = `${Date.now()}-${this.nextId++}`;
    this.deadLetters.push({ id, ...letter });
    return id;
  }

  async list(limit: number): Promise<DeadLetter[]> {
    return [...this.deadLetters].reverse().slice(0, limit);
  }

  async count(): Promise<number> {
    return this.deadLetters.length;
  }

  async replay(id: string): Promise<ReplayOutcome> {
    const i = this.deadLetters.findIndex((l) => l.id === id);
    const letter = this.deadLetters[i];
    if (!letter) return { kind: 'not_found' };
    if (!isReplayable(letter)) return { kind: 'not_replayable', stream: letter.stream };
    const replayedAs = `${Date.now()}-${this.nextId++}`;
    this.replayed.push({ stream: letter.stream, message: letter.message, id: replayedAs });
    this.deadLetters.splice(i, 1);
    return { kind: 'replayed', stream: letter.stream, replayedAs };
  }
}
