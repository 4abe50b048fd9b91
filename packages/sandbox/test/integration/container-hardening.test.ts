// Issue 13, finding 8: the limits the container spec sets, seen from inside the
// real sandbox (runc and gVisor). The harness guard is off: this probes the container itself.
import { cpuSecondsLimit } from '../../src/container-spec.js';
import { DockerSandboxDriver, resolveLimits, type SandboxRuntime } from '../../src/index.js';
import { Collector, stackEnv } from '@aoetl/testing';
import { copyInput, emptyInput } from '../support/env.js';

jest.setTimeout(60_000);

const env = stackEnv('etl-agent');
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

describe('the harness seccomp allowlist under runc', () => {
  // Probes outside the allowlist, each an errno (1 = EPERM) or "ok". The harness guard is off so that
  // the calls reach the kernel; Docker's default profile is the control (it allows them).
  const probes = py(
    'import ctypes, os, socket',
    'libc = ctypes.CDLL(None, use_errno=True)',
    'def attempt(fn):',
    '    try:',
    '        r = fn()',
    '    except OSError as e:',
    '        return str(e.errno)',
    '    return "ok" if r is None or r >= 0 else str(ctypes.get_errno())',
    'def fork():',
    '    pid = os.fork()',
    '    if pid == 0:',
    '        os._exit(0)',
    '    os.waitpid(pid, 0)',
    'def transform(rows):',
    '    return [{',
    '        "socket": attempt(lambda: socket.socket().close()),',
    '        "fork": attempt(fork),',
    '        "unshare": attempt(lambda: libc.unshare(0x00020000)),',
    '        "ptrace": attempt(lambda: libc.ptrace(0, 0, None, None)),',
    '        "pipe": attempt(lambda: [os.close(fd) for fd in os.pipe()] and None),',
    '    }]',
  );
  const outcomes = async (seccomp: 'harness' | 'docker-default'): Promise<string[]> => {
    const driver = await DockerSandboxDriver.create({ image, runtime: 'runc', allowRunc: true, harnessGuard: false, seccomp, socketPath, reapIntervalMs: 0 });
    try {
      const output = new Collector();
      const result = await driver.run({ runId: `seccomp-${seccomp}-${process.pid}`, code: probes, columns: [], types: [], input: emptyInput(), output });
      expect(result.kind).toBe('ok');
      return output.lines()[0]!.split('\t');
    } finally {
      await driver.close();
    }
  };

  it('refuses system calls the harness does not need (EPERM) and lets the harness work', async () => {
    // socket, fork, unshare, ptrace, pipe
    expect(await outcomes('harness')).toEqual(['1', '1', '1', '1', 'ok']);
  });

  it('is narrower than Docker default profile, which allows sockets and fork', async () => {
    const [socketOutcome, forkOutcome] = await outcomes('docker-default');
    expect([socketOutcome, forkOutcome]).toEqual(['ok', 'ok']);
  });

  it('runs ordinary transforms with the guard on under the allowlist (the default)', async () => {
    const driver = await DockerSandboxDriver.create({ image, runtime: 'runc', allowRunc: true, socketPath, reapIntervalMs: 0 });
    try {
      const output = new Collector();
      const result = await driver.run({
        runId: `seccomp-guarded-${process.pid}`,
        code: py(
          'import collections, datetime, json, zoneinfo',
          'P = collections.namedtuple("P", "a")',
          'def transform(rows):',
          '    return [{"v": json.dumps([str(datetime.datetime.strptime("2024-01-02", "%Y-%m-%d").date()), str(zoneinfo.ZoneInfo("UTC")), P(1).a])} for r in rows]',
        ),
        columns: ['id'],
        types: ['int8'],
        input: copyInput([['1'], ['2']]),
        output,
      });
      expect(result.kind).toBe('ok');
      expect(output.lines()).toEqual(['["2024-01-02", "UTC", 1]', '["2024-01-02", "UTC", 1]']);
    } finally {
      await driver.close();
    }
  });
});
