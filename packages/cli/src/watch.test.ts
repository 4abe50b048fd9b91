import { EXIT } from './errors';
import { plainLine, progressOf, runOutcome, worstOutcome, type RunRecord } from './watch';

const run = (over: Partial<RunRecord>): RunRecord => ({
  id: 'r1',
  pipelineId: 'p1',
  status: 'running',
  chunks: 4,
  rowsIn: null,
  rowsOut: null,
  error: null,
  createdAt: '2026-01-01T00:00:00.000Z',
  startedAt: '2026-01-01T00:00:01.000Z',
  finishedAt: null,
  ...over,
});

describe('progressOf', () => {
  it('counts every chunk done once the run succeeded, with rows per second', () => {
    const p = progressOf(run({ status: 'succeeded', rowsOut: 500, finishedAt: '2026-01-01T00:00:11.000Z' }), null);
    expect(p).toEqual({ chunksDone: 4, chunksTotal: 4, rows: 500, rowsPerSecond: 50, elapsedSeconds: 10 });
  });
  it('uses a reported chunksDone while running, capped at the total', () => {
    const now = Date.parse('2026-01-01T00:00:03.000Z');
    expect(progressOf(run({}), { chunksDone: 2 }, now)).toMatchObject({ chunksDone: 2, elapsedSeconds: 2 });
    expect(progressOf(run({}), { chunksDone: 9 }, now).chunksDone).toBe(4);
    expect(progressOf(run({}), null, now).chunksDone).toBe(0);
  });
});

describe('runOutcome', () => {
  it('maps statuses to exit codes with the reason', () => {
    expect(runOutcome(run({ status: 'succeeded' }))).toEqual({ exitCode: 0 });
    expect(runOutcome(run({ status: 'failed', error: { code: 'sandbox', message: 'NameError: x' } }))).toEqual({
      exitCode: EXIT.runFailed,
      message: 'run r1 failed: sandbox: NameError: x',
    });
    expect(runOutcome(run({ status: 'cancelled' })).exitCode).toBe(EXIT.runCancelled);
  });
  it('the worst of several wins', () => {
    expect(worstOutcome([run({ status: 'succeeded' }), run({ status: 'failed' })]).exitCode).toBe(EXIT.runFailed);
    expect(worstOutcome([run({ status: 'succeeded' })])).toEqual({ exitCode: 0, messages: [] });
  });
});

describe('plainLine', () => {
  it('says status, chunks, rows and the error', () => {
    const line = plainLine(run({ status: 'failed', error: { code: 'load', message: 'boom' } }), progressOf(run({}), null, Date.parse('2026-01-01T00:00:02.500Z')));
    expect(line).toBe('run r1: failed (chunks 0/4, rows 0, 1.5s): load: boom');
  });
});
