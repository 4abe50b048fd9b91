import type { Static, TSchema } from '@sinclair/typebox';
import type Redis from 'ioredis';
import type { Logger } from 'pino';
import { SpanKind, SpanStatusCode, context, trace } from '@opentelemetry/api';
import { AoetlError, STREAMS, activeTraceparent, contextFromTraceparent, isValid, parse, traceIdOf } from '@aoetl/contracts';
import { backoffMs, sleep } from '@aoetl/timing';
import { deadLetterFields } from './dead-letters.js';
import { MESSAGE_FIELD as FIELD } from './fields.js';

export interface ConsumeOptions<S extends TSchema> {
  stream: string;
  group: string;
  /** Messages that fail this schema go to the dead-letter stream at once. */
  schema: S;
  /** The effect. Acked only after it resolves; a throw leaves the entry pending for a later retry. */
  handler: (message: Static<S>, entryId: string) => Promise<void>;
  count?: number;
  blockMs?: number;
  /** A pending entry idle this long is reclaimed (from a dead consumer, or for a retry). */
  claimIdleMs?: number;
  /** After this many deliveries an entry is dead-lettered with its last error. */
  maxDeliveries?: number;
  /** Told about every dead-lettered entry (e.g. to fail the run that owned it). `raw` is the message as sent. */
  onDeadLetter?: (raw: string, reason: string) => Promise<void>;
}

type Entry = [id: string, fields: string[]];

const tracer = trace.getTracer('@aoetl/bus');

/**
 * Redis streams with consumer groups. Delivery is at least once: an entry is acked only after its effect,
 * entries left pending by a dead consumer are reclaimed, and poison entries go to the dead-letter stream.
 */
export class Bus {
  private readonly stopping = new AbortController();
  private readonly loops: Promise<void>[] = [];
  private readonly lastErrors = new Map<string, string>();

  constructor(
    private readonly redis: Redis,
    private readonly consumer: string,
    private readonly log: Logger,
  ) {}

  /**
   * Appends a message. A message without a `traceparent` gets the active trace context (envelopes carry their own:
   * the active span's when they were built, see `envelope`), so the consumer's span continues this trace.
   */
  async publish(stream: string, message: { type: string; traceparent?: string }): Promise<string> {
    const traceparent = message.traceparent ?? activeTraceparent();
    const traced = traceparent && !message.traceparent ? { ...message, traceparent } : message;
    const id = await this.redis.xadd(stream, '*', FIELD, JSON.stringify(traced));
    if (!id) throw new Error(`XADD to ${stream} returned no id`);
    return id;
  }

  /** Starts a consumer loop on its own connection (XREADGROUP blocks). Resolves once the loop is running. */
  consume<S extends TSchema>(opts: ConsumeOptions<S>): void {
    const conn = this.redis.duplicate();
    const loop = this.run(conn, opts).finally(() => conn.disconnect());
    this.loops.push(loop);
  }

  async close(): Promise<void> {
    this.stopping.abort();
    await Promise.allSettled(this.loops);
  }

  private async run<S extends TSchema>(conn: Redis, opts: ConsumeOptions<S>): Promise<void> {
    const log = this.log.child({ component: 'bus', stream: opts.stream, group: opts.group });
    let failures = 0;
    // A restarted consumer (same name) first finishes what it had taken before it died, in one pass.
    let ownPending: string | null = '0';
    while (!this.stopping.signal.aborted) {
      try {
        if (ownPending !== null) {
          const own = (await conn.xreadgroup('GROUP', opts.group, this.consumer, 'COUNT', 100, 'STREAMS', opts.stream, ownPending)) as
            | [string, Entry[]][]
            | null;
          const entries = own?.[0]?.[1] ?? [];
          for (const entry of entries) await this.deliver(conn, opts, entry, log);
          ownPending = entries.length === 0 ? null : entries[entries.length - 1]![0];
          continue;
        }
        await this.reclaim(conn, opts, log);
        const res = (await conn.xreadgroup(
          'GROUP', opts.group, this.consumer,
          'COUNT', opts.count ?? 10,
          'BLOCK', opts.blockMs ?? 1000,
          'STREAMS', opts.stream, '>',
        )) as [string, Entry[]][] | null;
        for (const [, entries] of res ?? []) {
          const acks: Promise<unknown>[] = [];
          for (const entry of entries) await this.deliver(conn, opts, entry, log, acks);
          // Acks are sent as each effect completes and awaited per batch (pipelined, not one round trip each).
          await Promise.all(acks);
        }
        failures = 0;
      } catch (err) {
        if (this.stopping.signal.aborted) break;
        failures += 1;
        log.warn({ err, failures }, 'consume loop error, backing off');
        await sleep(backoffMs(failures), this.stopping.signal);
      }
    }
  }

  private async reclaim<S extends TSchema>(conn: Redis, opts: ConsumeOptions<S>, log: Logger): Promise<void> {
    const idle = opts.claimIdleMs ?? 30_000;
    const pending = (await conn.xpending(opts.stream, opts.group, 'IDLE', idle, '-', '+', 50)) as [
      string, string, number, number,
    ][];
    for (const [id, , idleMs, deliveries] of pending) {
      if (deliveries >= (opts.maxDeliveries ?? 5)) {
        await this.deadLetter(conn, opts, id, null, this.lastErrors.get(id) ?? `gave up after ${deliveries} deliveries`);
        continue;
      }
      if (idleMs < idle + backoffMs(deliveries, idle)) continue;
      const claimed = (await conn.xclaim(opts.stream, opts.group, this.consumer, idle, id)) as Entry[];
      for (const entry of claimed) {
        log.info({ entryId: id, deliveries: deliveries + 1 }, 'reclaimed pending entry');
        await this.deliver(conn, opts, entry, log);
      }
    }
  }

  private async deliver<S extends TSchema>(conn: Redis, opts: ConsumeOptions<S>, entry: Entry, log: Logger, acks?: Promise<unknown>[]) {
    const [id, fields] = entry;
    const raw = fields[fields.indexOf(FIELD) + 1];
    let decoded: unknown;
    try {
      decoded = JSON.parse(raw ?? '');
    } catch {
      return this.deadLetter(conn, opts, id, raw ?? null, 'message is not JSON');
    }
    if (!isValid(opts.schema, decoded)) {
      let reason = 'message does not match its schema';
      try {
        parse(opts.schema, decoded, 'message');
      } catch (err) {
        reason = (err as Error).message;
      }
      return this.deadLetter(conn, opts, id, raw ?? null, reason);
    }
    const ctx = decoded as { requestId?: string; type?: string; traceparent?: string };
    // While the effect runs, keep the entry ours: reset its idle time so no other consumer reclaims it.
    const keepAliveMs = Math.max(1000, Math.floor((opts.claimIdleMs ?? 30_000) / 3));
    const keepAlive = setInterval(() => {
      conn.xclaim(opts.stream, opts.group, this.consumer, 0, id, 'JUSTID').catch(() => undefined);
    }, keepAliveMs);
    // The handler runs in a consumer span continuing the message's trace: its database and Redis calls, the messages
    // it publishes and its log lines (trace_id) belong to the trace of the request that caused the message.
    const span = tracer.startSpan(
      `${opts.stream} process`,
      {
        kind: SpanKind.CONSUMER,
        attributes: {
          'messaging.system': 'redis',
          'messaging.operation.type': 'process',
          'messaging.destination.name': opts.stream,
          'messaging.consumer.group.name': opts.group,
          'messaging.message.id': id,
          'aoetl.message.type': ctx.type ?? 'unknown',
        },
      },
      contextFromTraceparent(ctx.traceparent),
    );
    try {
      await context.with(trace.setSpan(contextFromTraceparent(ctx.traceparent), span), () => opts.handler(decoded, id));
      const ack = conn.xack(opts.stream, opts.group, id);
      if (acks) acks.push(ack);
      else await ack;
      this.lastErrors.delete(id);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof AoetlError ? err.code : 'handler failed' });
      this.lastErrors.set(id, message);
      const level = err instanceof AoetlError && !err.retryable ? 'error' : 'warn';
      log[level]({ err, entryId: id, requestId: ctx.requestId, type: ctx.type, trace_id: traceIdOf(ctx.traceparent) }, 'handler failed; entry stays pending');
    } finally {
      clearInterval(keepAlive);
      span.end();
    }
  }

  private async deadLetter<S extends TSchema>(
    conn: Redis,
    opts: ConsumeOptions<S>,
    id: string,
    raw: string | null,
    reason: string,
  ): Promise<void> {
    if (raw === null) {
      // XCLAIM rather than XRANGE: consumers hold no read-range permission on their stream.
      const found = (await conn.xclaim(opts.stream, opts.group, this.consumer, 0, id)) as Entry[];
      const fields = found[0]?.[1] ?? [];
      raw = fields[fields.indexOf(FIELD) + 1] ?? '';
    }
    await conn.xadd(STREAMS.deadletter, '*', ...deadLetterFields({ stream: opts.stream, group: opts.group, entry: id, reason, message: raw }));
    if (opts.onDeadLetter) {
      await opts.onDeadLetter(raw, reason).catch((err: unknown) => this.log.warn({ err, entryId: id }, 'dead-letter hook failed'));
    }
    await conn.xack(opts.stream, opts.group, id);
    this.lastErrors.delete(id);
    this.log.error({ stream: opts.stream, entryId: id, reason }, 'message dead-lettered');
  }
}
