import { PassThrough, Readable, Writable } from 'node:stream';
import { HarnessSession, prepareRun } from './harness-io.js';
import { resolveLimits } from './limits.js';
import type { SandboxRunRequest } from './types.js';

class Sink extends Writable {
  readonly chunks: Buffer[] = [];
  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    this.chunks.push(chunk);
    done();
  }
  get text(): string {
    return Buffer.concat(this.chunks).toString();
  }
}

function session(input: string, overrides: { maxOutputBytes?: number; timeoutMs?: number; outputColumns?: string[] } = {}) {
  const output = new Sink();
  const req: SandboxRunRequest = {
    runId: 'r1',
    code: 'def transform(rows): return rows',
    columns: ['a'],
    types: ['int4'],
    outputColumns: overrides.outputColumns,
    input: Readable.from([Buffer.from(input)]),
    output,
  };
  const defaults = resolveLimits({ maxOutputBytes: overrides.maxOutputBytes ?? 1024, timeoutMs: overrides.timeoutMs ?? 5_000 });
  const kills: string[] = [];
  const io = new HarnessSession({ ...prepareRun(req, defaults), req, stderrTailBytes: 1024, kill: (why) => kills.push(why) });
  return { io, output, kills };
}

/** A stand-in for the container: collects what the session feeds to its stdin. */
function stdinOf(): { stdin: PassThrough; received: Promise<string> } {
  const stdin = new PassThrough();
  const chunks: Buffer[] = [];
  stdin.on('data', (c: Buffer) => chunks.push(c));
  const received = new Promise<string>((resolve) => stdin.on('end', () => resolve(Buffer.concat(chunks).toString())));
  return { stdin, received };
}

describe('HarnessSession', () => {
  test('feeds the header then the rows, passes output rows on and reports ok with the rows counted', async () => {
    const { io, output, kills } = session('1\n2\n3');
    const { stdin, received } = stdinOf();
    io.feed(stdin);
    const fed = await received;
    expect(fed.split('\n')[0]).toContain('"columns":["a"]');
    expect(fed.endsWith('\n1\n2\n3')).toBe(true);
    io.stdout.write('{"columns":["b"]}\n2\n');
    io.stdout.write('4\n');
    await io.drain();
    io.dispose();
    const result = await io.result({ containerId: 'c', durationMs: 1 }, () => ({ exitCode: 0, oomKilled: false }));
    expect(result).toEqual({ containerId: 'c', durationMs: 1, bytesOut: 4, kind: 'ok', outputColumns: ['b'], rowsIn: 3 });
    expect(output.text).toBe('2\n4\n');
    expect(kills).toEqual([]);
  });

  test('stops at the output limit: kills once, passes nothing beyond, and reports output_limit without asking the exit', async () => {
    const { io, output, kills } = session('', { maxOutputBytes: 4 });
    io.stdout.write('{"columns":["b"]}\n12\n');
    io.stdout.write('345\n');
    io.stdout.write('6\n');
    await io.drain();
    io.dispose();
    const exit = jest.fn(() => ({ exitCode: 137, oomKilled: false }));
    const result = await io.result({ containerId: 'c', durationMs: 1 }, exit);
    expect(result).toMatchObject({ kind: 'output_limit', maxOutputBytes: 4, bytesOut: 3 });
    expect(output.text).toBe('12\n');
    expect(kills).toEqual(['output limit']);
    expect(exit).not.toHaveBeenCalled();
  });

  test('a header with other columns than expected is a protocol violation', async () => {
    const { io, kills } = session('', { outputColumns: ['x'] });
    io.stdout.write('{"columns":["y"]}\n1\n');
    await io.drain();
    io.dispose();
    const result = await io.result({ containerId: 'c', durationMs: 1 }, () => ({ exitCode: 137, oomKilled: false }));
    expect(result).toMatchObject({ kind: 'exit_error', exitCode: 137 });
    expect(result.kind === 'exit_error' && result.reason).toMatch(/differ from the expected/);
    expect(kills).toEqual(['protocol violation']);
  });

  test('the wall-clock limit kills the sandbox and the result is a timeout', async () => {
    const { io, kills } = session('', { timeoutMs: 100 });
    await new Promise((resolve) => setTimeout(resolve, 150));
    await io.drain();
    io.dispose();
    const result = await io.result({ containerId: 'c', durationMs: 1 }, () => ({ exitCode: 137, oomKilled: false }));
    expect(result).toMatchObject({ kind: 'timeout', timeoutMs: 100 });
    expect(kills).toEqual(['timeout']);
  });

  test('a failing caller stream kills the sandbox and is rethrown, not reported as a result', async () => {
    const { io, output, kills } = session('');
    output.emit('error', new Error('disk full'));
    await io.drain();
    io.dispose();
    await expect(io.result({ containerId: 'c', durationMs: 1 }, () => ({ exitCode: 0, oomKilled: false }))).rejects.toThrow(
      'output stream failed: disk full',
    );
    expect(kills).toEqual(['output stream error']);
  });

  test('the harness error on stderr becomes a transform_error', async () => {
    const { io } = session('');
    io.stderr.write('noise\n{"error": {"type": "ValueError", "message": "bad", "traceback": "tb"}}\n');
    await io.drain();
    io.dispose();
    const result = await io.result({ containerId: 'c', durationMs: 1 }, () => ({ exitCode: 3, oomKilled: false }));
    expect(result).toMatchObject({ kind: 'transform_error', errorType: 'ValueError', message: 'bad', traceback: 'tb' });
  });
});
