import { STREAMS } from '@aoetl/contracts';
import { fieldMap, MESSAGE_FIELD } from './fields.js';

/** One entry of the dead-letter stream: where it came from, why it was given up, and the message as sent. */
export interface DeadLetter {
  /** Its id in the dead-letter stream. */
  id: string;
  /** The stream and consumer group it was read from. */
  stream: string;
  group: string;
  /** Its id in that stream. */
  entry: string;
  reason: string;
  /** The message as sent (raw JSON text; empty when it could not be recovered). */
  message: string;
}

/**
 * The fields of a dead-letter entry, as written by the bus: the one definition, read back by parseDeadLetter.
 * The message keeps the field name of every bus entry, so a replay writes it back unchanged.
 */
export function deadLetterFields(letter: Omit<DeadLetter, 'id'>): string[] {
  return ['stream', letter.stream, 'group', letter.group, 'entry', letter.entry, 'reason', letter.reason, MESSAGE_FIELD, letter.message];
}

/** A dead-letter stream entry (its id and flat field list) as a DeadLetter; missing fields read as empty. */
export function parseDeadLetter(id: string, flat: readonly unknown[]): DeadLetter {
  const f = fieldMap(flat);
  // Redis answers stream fields as strings (Buffers only when asked for): anything else reads as empty.
  const text = (name: string): string => {
    const value = f[name];
    return typeof value === 'string' ? value : Buffer.isBuffer(value) ? value.toString('utf8') : '';
  };
  return { id, stream: text('stream'), group: text('group'), entry: text('entry'), reason: text('reason'), message: text(MESSAGE_FIELD) };
}

/** Streams whose dead letters may be replayed onto them (the dead-letter stream itself never). */
export const REPLAYABLE_STREAMS: ReadonlySet<string> = new Set([STREAMS.requests, STREAMS.tasks, STREAMS.events]);

/** A stream id (`ms-seq`). */
export const STREAM_ID_PATTERN = /^\d{1,20}-\d{1,20}$/;

export type ReplayOutcome =
  /** Written back onto its stream as `replayedAs`, and removed from the dead letters. */
  | { kind: 'replayed'; stream: string; replayedAs: string }
  | { kind: 'not_found' }
  /** Its stream is not one of REPLAYABLE_STREAMS, or its message was lost. */
  | { kind: 'not_replayable'; stream: string };

/** Whether a dead letter can go back onto its stream. */
export function isReplayable(letter: DeadLetter, streams: ReadonlySet<string> = REPLAYABLE_STREAMS): boolean {
  return streams.has(letter.stream) && letter.message !== '';
}

/** Admin access to the dead-letter stream. */
export interface DeadLetterStore {
  /** The newest dead letters first, at most `limit`. */
  list(limit: number): Promise<DeadLetter[]>;
  /** Entries in the dead-letter stream. */
  count(): Promise<number>;
  /** Puts one dead letter back onto the stream it came from and removes it from the dead letters. */
  replay(id: string): Promise<ReplayOutcome>;
}
