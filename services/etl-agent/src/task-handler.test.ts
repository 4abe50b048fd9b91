import { randomUUID } from 'node:crypto';
import pino from 'pino';
import { TaskFailed, TaskSucceeded, UpstreamError, isValid, type CommitTask, type LoadTask, type TaskMessage } from '@aoetl/contracts';
import { LoadFailure, type LoadResult } from '@aoetl/etl';
import { SandboxClosedError, SandboxError } from '@aoetl/sandbox';
import { VaultPermissionError, VaultUnavailableError, type SecretStore } from '@aoetl/secrets';
import { deadLetterHandler, failureOf, taskHandler, type TaskSteps } from './task-handler.js';

const RESULT: LoadResult = { rowsIn: 10, rowsOut: 9, bytesIn: 100, bytesOut: 90, durationMs: 5 };
const descriptor = { name: 'warehouse', kind: 'postgres' as const, host: 'db', port: 5432, database: 'w', vaultRole: 'database/creds/w' };
const target = { connection: descriptor, table: 'silver.t', mode: 'append' as const, keys: [] };

function loadTask(index = 2): LoadTask {
  return {
    v: 1,
    id: randomUUID(),
    type: 'task.load',
    requestId: 'req-1',
    at: new Date().toISOString(),
    payload: {
      taskId: randomUUID(),
      runId: randomUUID(),
      tenant: 'acme',
      source: { connection: { ...descriptor, name: 'crm' }, table: 'crm.customers' },
      target,
      transform: { language: 'python', code: 'def transform(rows): return rows', sha256: 'a'.repeat(64) },
      limits: { timeoutMs: 60_000, memoryMb: 256, maxOutputBytes: 1 << 20 },
      chunk: { index, count: 4 },
    },
  };
}

function commitTask(action: 'commit' | 'abort'): CommitTask {
  return {
    v: 1,
    id: randomUUID(),
    type: 'task.commit',
    requestId: 'req-2',
    at: new Date().toISOString(),
    payload: { taskId: randomUUID(), runId: randomUUID(), tenant: 'acme', action, target, chunks: 4 },
  };
}

const pgError = (code: string) => Object.assign(new Error(`pg says ${code}`), { severity: 'ERROR', code });

/** A handler whose step throws `outcomes` in turn (a value instead of an error: that attempt succeeds). */
function harness(outcomes: unknown[], opts: { attempts?: number; publish?: (stream: string, m: { type: string }) => Promise<unknown> } = {}) {
  const published: { stream: string; message: any }[] = [];
  const delays: number[] = [];
  const calls: string[] = [];
  const next = async (what: string): Promise<LoadResult> => {
    calls.push(what);
    const outcome = outcomes.shift();
    if (outcome === undefined || outcome === RESULT) return RESULT;
    // eslint-disable-next-line @typescript-eslint/only-throw-error -- the handler must cope with anything thrown
    throw outcome;
  };
  const steps: TaskSteps = { loadChunk: (task) => next(`load ${task.chunk.index}`), commitRun: (task) => next(task.action) };
  const handle = taskHandler({
    agentId: 'agent-1',
    attempts: opts.attempts ?? 3,
    publish:
      opts.publish ??
      (async (stream, message) => {
        published.push({ stream, message });
      }),
    logger: pino({ level: 'silent' }),
    steps,
    retryDelayMs: (attempt) => {
      delays.push(attempt);
      return 0;
    },
    secrets: {} as SecretStore,
    runner: { run: () => Promise.reject(new Error('unused')) },
    dbCaFile: '/dev/null',
  });
  return { handle: (msg: TaskMessage) => handle(msg), published, delays, calls };
}

describe('taskHandler: success', () => {
  it('publishes task.succeeded with the step, chunk and counts', async () => {
    const h = harness([RESULT]);
    const msg = loadTask(2);
    await h.handle(msg);
    expect(h.calls).toEqual(['load 2']);
    expect(h.published).toHaveLength(1);
    const event = h.published[0]!;
    expect(event.stream).toBe('aoetl:events');
    expect(isValid(TaskSucceeded, event.message)).toBe(true);
    expect(event.message).toMatchObject({
      type: 'task.succeeded',
      requestId: 'req-1',
      payload: { taskId: msg.payload.taskId, runId: msg.payload.runId, agentId: 'agent-1', step: 'load', chunk: 2, ...RESULT },
    });
  });

  it.each([
    ['commit', -1],
    ['abort', -2],
  ] as const)('runs the %s step as chunk %d', async (action, chunk) => {
    const h = harness([RESULT]);
    await h.handle(commitTask(action));
    expect(h.calls).toEqual([action]);
    expect(h.published[0]!.message.payload).toMatchObject({ step: action, chunk });
  });
});

describe('taskHandler: retry', () => {
  it.each([
    ['a retryable upstream error', new UpstreamError('redis down')],
    ['Postgres connection failure (SQLSTATE 08006)', pgError('08006')],
    ['Postgres shutting down (57P01)', pgError('57P01')],
    ['a serialization failure (40001)', pgError('40001')],
    ['too many connections (53300)', pgError('53300')],
    ['a reset socket (ECONNRESET)', Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })],
    ['Vault unavailable', new VaultUnavailableError('sealed', 'vault is sealed')],
    ['a sandbox engine failure', new SandboxError('stdout stream failed')],
  ])('retries %s, then succeeds', async (_what, error) => {
    const h = harness([error, error, RESULT]);
    await h.handle(loadTask());
    expect(h.calls).toHaveLength(3);
    expect(h.delays).toEqual([1, 2]);
    expect(h.published.map((p) => p.message.type)).toEqual(['task.succeeded']);
  });

  it('fails with the last reason once the attempts are spent', async () => {
    const h = harness([pgError('08006'), pgError('08006'), pgError('08001')], { attempts: 3 });
    await h.handle(loadTask());
    expect(h.calls).toHaveLength(3);
    expect(h.delays).toEqual([1, 2]); // no wait after the last attempt
    const event = h.published[0]!.message;
    expect(isValid(TaskFailed, event)).toBe(true);
    expect(event.payload.error).toEqual({ code: 'upstream', message: 'pg says 08001' });
  });
});

describe('taskHandler: fail at once', () => {
  it.each([
    ['a statement timeout (57014)', pgError('57014'), 'upstream'],
    ['a unique violation (23505)', pgError('23505'), 'upstream'],
    ['a refused Vault policy', new VaultPermissionError('vault denied database/creds/w'), 'not_allowed'],
    ['a closed sandbox driver', new SandboxClosedError(), 'sandbox'],
    ['an upstream error marked final', new UpstreamError('vault answered 400', { retryable: false }), 'upstream'],
    // The message names transient failures, but nothing typed says so: never retried on words.
    ['a plain Error', new Error('ECONNREFUSED: Connection terminated unexpectedly'), 'internal'],
    ['a thrown string', 'socket hang up', 'internal'],
  ])('does not retry %s', async (_what, error, code) => {
    const h = harness([error, RESULT]);
    await h.handle(loadTask());
    expect(h.calls).toHaveLength(1);
    expect(h.delays).toEqual([]);
    const event = h.published[0]!.message;
    expect(event.type).toBe('task.failed');
    expect(isValid(TaskFailed, event)).toBe(true);
    expect(event.payload.error.code).toBe(code);
  });

  it('reports a LoadFailure with its own reason', async () => {
    const reason = { code: 'transform' as const, message: 'ValueError: bad row', pythonType: 'ValueError', traceback: 'line 3' };
    const h = harness([new LoadFailure(reason)]);
    await h.handle(commitTask('commit'));
    expect(h.calls).toEqual(['commit']);
    expect(h.published[0]!.message.payload).toMatchObject({ step: 'commit', chunk: -1, error: reason });
  });

  it('cuts a long message to what the event schema allows', async () => {
    const h = harness([new Error('x'.repeat(10_000))]);
    await h.handle(loadTask());
    const event = h.published[0]!.message;
    expect(event.payload.error.message).toHaveLength(4000);
    expect(isValid(TaskFailed, event)).toBe(true);
  });
});

describe('taskHandler: redelivery and dead letters', () => {
  it('throws when the outcome cannot be published, so the task stays pending (and is not run again here)', async () => {
    const publish = jest.fn(async () => {
      throw new UpstreamError('events stream unreachable');
    });
    const h = harness([RESULT], { publish });
    await expect(h.handle(loadTask())).rejects.toThrow('events stream unreachable');
    expect(h.calls).toHaveLength(1);
    expect(publish).toHaveBeenCalledTimes(1);
  });

  it('throws when a failure cannot be published', async () => {
    const publish = jest.fn(async () => {
      throw new Error('redis down');
    });
    const h = harness([pgError('23505')], { publish });
    await expect(h.handle(loadTask())).rejects.toThrow('redis down');
  });

  it('fails the run of a dead-lettered task with poison_message', async () => {
    const published: { stream: string; message: any }[] = [];
    const onDeadLetter = deadLetterHandler({ agentId: 'agent-1', publish: async (stream, message) => void published.push({ stream, message }) });
    const msg = loadTask();
    await onDeadLetter(JSON.stringify(msg), 'handler failed 5 times');
    expect(published).toHaveLength(1);
    expect(isValid(TaskFailed, published[0]!.message)).toBe(true);
    expect(published[0]!.message.payload).toMatchObject({
      runId: msg.payload.runId,
      error: { code: 'poison_message', message: 'a task of this run was dead-lettered: handler failed 5 times' },
    });
  });

  it('drops a dead letter that names no run', async () => {
    const publish = jest.fn(async () => undefined);
    const onDeadLetter = deadLetterHandler({ agentId: 'agent-1', publish });
    await onDeadLetter('not json', 'invalid message');
    await onDeadLetter(JSON.stringify({ payload: { runId: 'not-a-uuid' } }), 'invalid message');
    expect(publish).not.toHaveBeenCalled();
  });
});

describe('failureOf', () => {
  it('gives the reason and retryability from the type', () => {
    expect(failureOf(new VaultUnavailableError('unreachable', 'vault unreachable'))).toEqual({
      reason: { code: 'upstream', message: 'vault unreachable' },
      retryable: true,
    });
    expect(failureOf(new LoadFailure({ code: 'aborted', message: 'aborted' }))).toEqual({ reason: { code: 'aborted', message: 'aborted' }, retryable: false });
  });
});
