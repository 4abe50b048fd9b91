import { classifyResult, DRIVER_CLOSED_REASON, runResult, sandboxEvent } from './results.js';
import type { SandboxResult } from './types.js';

const base = { containerId: 'c1', durationMs: 12, bytesOut: 0, warm: true };

describe('classifyResult', () => {
  it.each<[SandboxResult, string, boolean]>([
    [{ ...base, kind: 'ok', outputColumns: [] }, 'ok', false],
    [{ ...base, kind: 'transform_error', errorType: 'ValueError', message: 'm', traceback: '' }, 'transform_error', false],
    [{ ...base, kind: 'transform_error', errorType: 'KeyError', message: "'email'", traceback: '' }, 'transform_error', false],
    [{ ...base, kind: 'transform_error', errorType: 'BlockingIOError', message: '[Errno 11] Resource temporarily unavailable', traceback: '' }, 'transform_error', true],
    [{ ...base, kind: 'transform_error', errorType: 'OSError', message: '[Errno 28] No space left on device', traceback: '' }, 'transform_error', true],
    [{ ...base, kind: 'transform_error', errorType: 'OSError', message: '[Errno 24] Too many open files', traceback: '' }, 'transform_error', true],
    [{ ...base, kind: 'transform_error', errorType: 'OSError', message: '[Errno 22] Invalid argument', traceback: '' }, 'transform_error', false],
    [{ ...base, kind: 'transform_error', errorType: 'PermissionError', message: '[Errno 13] Permission denied', traceback: '' }, 'transform_error', true],
    [{ ...base, kind: 'transform_error', errorType: 'RuntimeError', message: "can't start new thread", traceback: '' }, 'transform_error', true],
    [{ ...base, kind: 'timeout', timeoutMs: 5 }, 'timeout', true],
    [{ ...base, kind: 'oom', memoryBytes: 5 }, 'oom', true],
    [{ ...base, kind: 'output_limit', maxOutputBytes: 5 }, 'output_limit', true],
    [{ ...base, kind: 'exit_error', exitCode: 137, stderrTail: '', reason: 'exit status 137' }, 'exit_error', true],
    [{ ...base, kind: 'exit_error', exitCode: 137, stderrTail: '', reason: DRIVER_CLOSED_REASON }, 'exit_error', false],
  ])('%j -> %s (violation %s)', (result, code, violation) => {
    expect(classifyResult(result)).toEqual({ code, violation });
  });

  it('flags a policy refusal', () => {
    expect(classifyResult({ kind: 'policy_refused', reasons: [] })).toEqual({ code: 'policy_refused', violation: true });
  });
});

describe('sandboxEvent', () => {
  it('carries the code, the flag and a one-line detail', () => {
    expect(sandboxEvent('run-1', { ...base, kind: 'oom', memoryBytes: 1024 }, { runtime: 'runsc' })).toEqual({
      type: 'sandbox.result',
      runId: 'run-1',
      code: 'oom',
      violation: true,
      detail: 'out of memory (limit 1024 bytes)',
      runtime: 'runsc',
      containerId: 'c1',
      durationMs: 12,
      warm: true,
    });
    const refused = sandboxEvent('run-2', {
      kind: 'policy_refused',
      reasons: [
        { rule: 'import', line: 1, message: "import of 'os' is not allowed" },
        { rule: 'forbidden_name', line: 3, message: "'eval' is not allowed" },
      ],
    });
    expect(refused).toEqual({
      type: 'sandbox.result',
      runId: 'run-2',
      code: 'policy_refused',
      violation: true,
      detail: "import at line 1: import of 'os' is not allowed (+1 more)",
    });
  });
});

describe('runResult', () => {
  const seen = {
    bytesOut: 7,
    outputColumns: ['a'] as string[] | undefined,
    rowsIn: 2 as number | undefined,
    timedOut: false,
    outputLimitHit: false,
    protocolError: undefined as string | undefined,
    stderrTail: '',
  };
  const limits = { timeoutMs: 1000, memoryBytes: 2048, maxOutputBytes: 4096 };
  const b = { containerId: 'c1', durationMs: 3, bytesOut: 7 };

  it("ok carries the CPU time of the harness's last stderr line, never a forged earlier one", () => {
    const stderrTail = 'user says\n{"usage": {"cpuMs": 1}}\nmore\n{"usage": {"cpuMs": 1234}}\n';
    expect(runResult(b, { ...seen, stderrTail }, { exitCode: 0, oomKilled: false }, limits)).toMatchObject({ kind: 'ok', cpuMs: 1234 });
    for (const tail of ['{"usage": {"cpuMs": 5}}\nprinted after', '{"usage": {"cpuMs": -1}}', '{"usage": {"cpuMs": "9"}}', '{"usage": ']) {
      expect(runResult(b, { ...seen, stderrTail: tail }, { exitCode: 0, oomKilled: false }, limits)).not.toHaveProperty('cpuMs');
    }
  });

  it('ok needs exit 0, a header and no protocol error', () => {
    expect(runResult(b, seen, { exitCode: 0, oomKilled: false }, limits)).toEqual({ ...b, kind: 'ok', outputColumns: ['a'], rowsIn: 2 });
    expect(runResult(b, { ...seen, rowsIn: undefined }, { exitCode: 0, oomKilled: false }, limits)).toEqual({ ...b, kind: 'ok', outputColumns: ['a'] });
    expect(runResult(b, { ...seen, outputColumns: undefined }, { exitCode: 0, oomKilled: false }, limits)).toMatchObject({
      kind: 'exit_error',
      reason: 'exited without an output header',
    });
  });

  it('limits decide first, then memory, then the harness error', () => {
    expect(runResult(b, { ...seen, timedOut: true, outputLimitHit: true }, undefined, limits)).toEqual({ ...b, kind: 'timeout', timeoutMs: 1000 });
    expect(runResult(b, { ...seen, outputLimitHit: true }, undefined, limits)).toEqual({ ...b, kind: 'output_limit', maxOutputBytes: 4096 });
    expect(runResult(b, seen, { exitCode: 137, oomKilled: true }, limits)).toEqual({ ...b, kind: 'oom', memoryBytes: 2048 });
    const memoryError = '{"error": {"type": "MemoryError", "message": "", "traceback": ""}}';
    expect(runResult(b, { ...seen, stderrTail: memoryError }, { exitCode: 3, oomKilled: false }, limits)).toMatchObject({ kind: 'oom' });
    // exit status 3 without a structured error line is not a transform error
    expect(runResult(b, seen, { exitCode: 3, oomKilled: false }, limits)).toMatchObject({ kind: 'exit_error', reason: 'exit status 3' });
  });

  it('names why the process ended: protocol error, then the driver, then the status', () => {
    const exit = { exitCode: 137, oomKilled: false, endedBy: DRIVER_CLOSED_REASON, statusDetail: ' (Error)' };
    expect(runResult(b, { ...seen, protocolError: 'bad header' }, exit, limits)).toMatchObject({ reason: 'bad header', exitCode: 137 });
    expect(runResult(b, seen, exit, limits)).toMatchObject({ reason: DRIVER_CLOSED_REASON });
    expect(runResult(b, { ...seen, stderrTail: 'boom' }, { exitCode: 2, oomKilled: false, statusDetail: ' (Error)' }, limits)).toEqual({
      ...b,
      kind: 'exit_error',
      exitCode: 2,
      stderrTail: 'boom',
      reason: 'exit status 2 (Error)',
    });
  });
});
