// Issue 13, finding 8: the limits the container spec sets, seen from inside the
// real sandbox (runc and gVisor). The harness guard is off: this probes the container itself.
import { cpuSecondsLimit } from '../../src/container-spec.js';
import { DockerSandboxDriver, resolveLimits, type SandboxRuntime } from '../../src/index.js';
import { Collector, emptyInput, readAgentEnv } from '../support/env.js';

jest.setTimeout(60_000);

const env = readAgentEnv();
const image = env.AOETL_SANDBOX_IMAGE!;
const socketPath = env.AOETL_DOCKER_SOCKET ?? '/var/run/docker.sock';
const py = (...lines: string[]): string => lines.join('\n') + '\n';
const MiB = 1024 * 1024;

describe.each<SandboxRuntime>(['runc', 'runsc'])('container hardening under %s', (runtime) => {
  const limits = { timeoutMs: 20_000, tmpfsBytes: 4 * MiB, cpus: 1 };
  let driver: DockerSandboxDriver;
  beforeAll(async () => {
    driver = await DockerSandboxDriver.create({ image, runtime, allowRunc: true, harnessGuard: false, socketPath, reapIntervalMs: 0, limits });
  });
  afterAll(() => driver.close());

  it('sets core 0, fsize, stack and cpu limits', async () => {
    const output = new Collector();
    const result = await driver.run({
      runId: `hardening-${runtime}-${process.pid}`,
      code: py(
        'import os, resource',
        'def big_file():',
        '    try:',
        '        with open("/tmp/big", "wb") as f:',
        '            f.write(b"x" * (5 * 1024 * 1024))',
        '        return "written"',
        '    except OSError as e:',
        '        return type(e).__name__',
        'def transform(rows):',
        '    lim = {n: resource.getrlimit(getattr(resource, "RLIMIT_" + n)) for n in ("CORE", "FSIZE", "STACK", "CPU")}',
        '    init = open("/proc/1/cmdline", "rb").read().split(b"\\0")[0].decode()',
        '    return [{"limits": ";".join(f"{k}={v[0]},{v[1]}" for k, v in lim.items()), "pid1": init, "mypid": os.getpid(), "big": big_file()}]',
      ),
      columns: [],
      types: [],
      input: emptyInput(),
      output,
    });
    expect(result.kind).toBe('ok');
    const [limitsText, pid1, mypid, big] = output.lines()[0]!.split('\t');
    const cpu = cpuSecondsLimit(resolveLimits(limits));
    expect(limitsText).toBe(`CORE=0,0;FSIZE=${8 * MiB},${8 * MiB};STACK=${8 * MiB},${8 * MiB};CPU=${cpu},${cpu + 1}`);
    expect(big).not.toBe('written'); // 5 MiB > the 4 MiB tmpfs
    expect(pid1).toContain('python3'); // no init process (see buildContainerSpec)
    expect(mypid).toBe('1');
  });
});
