// The sandbox's CPU accounting and its optional init process, on the real Docker engine with the real harness image
// (issue 13, findings 5 and 8). Needs: deploy/local/docker.sh start && deploy/local/sandbox-image.sh start
import { DockerSandboxDriver, type SandboxResult, type SandboxRuntime } from '../../src/index.js';
import { Collector } from '@aoetl/testing';
import { dockerSandbox, emptyInput } from '../support/env.js';

jest.setTimeout(180_000);

const { image, socketPath } = dockerSandbox();
const py = (...lines: string[]) => lines.join('\n') + '\n';
const BUSY = py('def transform(rows):', '    n = 0', '    for i in range(6_000_000):', '        n += i', '    return [{"n": n}]');

function ok(result: SandboxResult): Extract<SandboxResult, { kind: 'ok' }> {
  if (result.kind !== 'ok') throw new Error(`expected ok, got ${JSON.stringify(result)}`);
  return result;
}

describe.each<SandboxRuntime>(['runc', 'runsc'])('CPU time of a run under %s (the run CPU budget counts it)', (runtime) => {
  let driver: DockerSandboxDriver;
  beforeAll(async () => {
    driver = await DockerSandboxDriver.create({ image, runtime, allowRunc: true, socketPath, reapIntervalMs: 0, limits: { timeoutMs: 60_000 } });
  });
  afterAll(() => driver.close());

  it('is reported by the guarded harness for a busy transform, and is small for an idle one', async () => {
    const run = (code: string) => driver.run({ runId: `cpu-${runtime}-${process.pid}-${code.length}`, code, columns: [], types: [], input: emptyInput(), output: new Collector() });
    const busy = ok(await run(BUSY));
    const idle = ok(await run(py('def transform(rows):', '    return [{"n": 1}]')));
    expect(busy.cpuMs).toBeGreaterThan(200);
    expect(idle.cpuMs).toBeGreaterThanOrEqual(0);
    expect(idle.cpuMs!).toBeLessThan(busy.cpuMs!);
  });
});

describe('an init process as PID 1 under gVisor (AOETL_SANDBOX_INIT)', () => {
  it('runs the harness under docker-init, and the transform still works', async () => {
    const driver = await DockerSandboxDriver.create({ image, runtime: 'runsc', init: true, harnessGuard: false, socketPath, reapIntervalMs: 0, limits: { timeoutMs: 60_000 } });
    try {
      const output = new Collector();
      const result = await driver.run({
        runId: `init-${process.pid}`,
        code: py('import os', 'def transform(rows):', '    pid1 = open("/proc/1/cmdline", "rb").read().split(b"\\0")[0].decode()', '    return [{"pid1": pid1, "me": os.getpid()}]'),
        columns: [],
        types: [],
        input: emptyInput(),
        output,
      });
      ok(result);
      const [pid1, me] = output.lines()[0]!.split('\t');
      expect(pid1).toMatch(/docker-init|tini/);
      expect(me).not.toBe('1');
    } finally {
      await driver.close();
    }
  });
});
