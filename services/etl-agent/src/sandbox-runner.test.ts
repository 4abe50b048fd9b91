import { PassThrough, Writable } from 'node:stream';
import type { SandboxDriver, SandboxRunRequest, SandboxResult } from '@aoetl/sandbox';
import { SandboxTransformRunner } from './sandbox-runner.js';

/** A driver that only counts runs; each policy check "fails" (exit_error), which is a refusal verdict. */
class CountingDriver implements SandboxDriver {
  readonly runIds: string[] = [];
  run(req: SandboxRunRequest): Promise<SandboxResult> {
    this.runIds.push(req.runId);
    req.input.resume();
    return Promise.resolve({ kind: 'exit_error', exitCode: 1, reason: 'fake', stderrTail: '', durationMs: 1 } as unknown as SandboxResult);
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

const request = (sha: string) => {
  const input = new PassThrough();
  input.end();
  return {
    runId: `run-${sha}`,
    code: `def transform(rows):\n    return rows  # ${sha}\n`,
    codeSha256: sha,
    columns: [],
    types: [],
    outputColumns: [],
    input,
    output: new Writable({ write: (_c, _e, done) => done() }),
    limits: {} as never,
  };
};

describe('SandboxTransformRunner policy-verdict cache', () => {
  it('keeps at most maxVerdicts verdicts, evicting the least recently used', async () => {
    const driver = new CountingDriver();
    const runner = new SandboxTransformRunner(driver, 2);
    for (const sha of ['a', 'b', 'a', 'c']) expect((await runner.run(request(sha))).ok).toBe(false);
    // a, b checked; a was a hit (now most recent); c evicted b.
    expect(driver.runIds).toEqual(['run-a', 'run-b', 'run-c']);
    await runner.run(request('a')); // still cached
    expect(driver.runIds).toHaveLength(3);
    await runner.run(request('b')); // evicted: checked again
    expect(driver.runIds).toEqual(['run-a', 'run-b', 'run-c', 'run-b']);
  });

  it('stays bounded under many distinct codes', async () => {
    const driver = new CountingDriver();
    const runner = new SandboxTransformRunner(driver, 10);
    for (let i = 0; i < 100; i += 1) await runner.run(request(`x${i}`));
    await runner.run(request('x0'));
    expect(driver.runIds).toHaveLength(101);
    await runner.run(request('x99'));
    expect(driver.runIds).toHaveLength(101);
  });
});
