import {
  buildContainerSpec,
  containerLimitsKey,
  fitsContainer,
  HARNESS_SYSCALLS,
  OWNER_HOST_LABEL,
  OWNER_LABEL,
  OWNER_PID_LABEL,
  OWNER_START_LABEL,
  POOL_LABEL,
  RUN_LABEL,
  runscHostPidsLimit,
  SANDBOX_LABEL,
} from './container-spec.js';
import { usernsRemapped } from './docker-driver.js';
import { DEFAULT_LIMITS, resolveLimits } from './limits.js';
import { HARNESS_COMMAND } from './protocol.js';

describe('buildContainerSpec', () => {
  const limits = resolveLimits({ memoryBytes: 256 * 1024 * 1024, cpus: 0.5, pidsLimit: 32, nofile: 128 });
  const spec = buildContainerSpec({ image: 'aoetl/sandbox-python:abc', runtime: 'runsc', runId: 'run-1', limits });
  const host = spec.HostConfig!;

  it('adds an init process only when asked, and only under gVisor; never opts out of user namespaces', () => {
    expect(host).not.toHaveProperty('Init');
    expect(buildContainerSpec({ image: 'i', runtime: 'runsc', runId: 'r', limits, init: true }).HostConfig!.Init).toBe(true);
    expect(() => buildContainerSpec({ image: 'i', runtime: 'runc', runId: 'r', limits, init: true })).toThrow(/only used under gVisor/);
    for (const s of [spec, buildContainerSpec({ image: 'i', runtime: 'runc', runId: 'r', limits })]) {
      expect(s.HostConfig).not.toHaveProperty('UsernsMode');
    }
  });

  it('runs the harness as the unprivileged user with an empty environment', () => {
    expect(spec.Image).toBe('aoetl/sandbox-python:abc');
    expect(spec.Cmd).toEqual([...HARNESS_COMMAND]);
    expect(spec.User).toBe('65532:65532');
    expect(spec.Env).toEqual([]);
    expect(spec.WorkingDir).toBe('/tmp');
  });

  it('attaches stdin once, without a TTY', () => {
    expect(spec).toMatchObject({ OpenStdin: true, StdinOnce: true, AttachStdin: true, AttachStdout: true, AttachStderr: true, Tty: false });
  });

  it('labels the container for reaping', () => {
    expect(spec.Labels).toEqual({ [SANDBOX_LABEL]: '1', [RUN_LABEL]: 'run-1' });
    const owned = buildContainerSpec({
      image: 'i',
      runtime: 'runc',
      runId: 'warm-pool',
      limits,
      pool: true,
      owner: { id: 'abc', host: 'agent-1', pid: 42, start: '1234' },
    });
    expect(owned.Labels).toEqual({
      [SANDBOX_LABEL]: '1',
      [RUN_LABEL]: 'warm-pool',
      [POOL_LABEL]: '1',
      [OWNER_LABEL]: 'abc',
      [OWNER_HOST_LABEL]: 'agent-1',
      [OWNER_PID_LABEL]: '42',
      [OWNER_START_LABEL]: '1234',
    });
  });

  it('isolates the container', () => {
    expect(spec.NetworkDisabled).toBe(true);
    expect(host).toMatchObject({
      Runtime: 'runsc',
      NetworkMode: 'none',
      IpcMode: 'none',
      ReadonlyRootfs: true,
      CapDrop: ['ALL'],
      SecurityOpt: ['no-new-privileges:true'],
      Privileged: false,
      AutoRemove: false,
      LogConfig: { Type: 'none', Config: {} },
    });
    expect(host.CapAdd).toBeUndefined();
    expect(host.Binds).toBeUndefined();
    expect((host.SecurityOpt as string[]).some((o) => o.startsWith('seccomp'))).toBe(false); // default profile stays on
  });

  // timeout 120 s at 0.5 CPU: at most 120 CPU seconds (cpus below 1 count as 1), + 1.
  const COMMON_ULIMITS = [
    { Name: 'nofile', Soft: 128, Hard: 128 },
    { Name: 'core', Soft: 0, Hard: 0 },
    { Name: 'fsize', Soft: 2 * DEFAULT_LIMITS.tmpfsBytes, Hard: 2 * DEFAULT_LIMITS.tmpfsBytes },
    { Name: 'stack', Soft: 8 * 1024 * 1024, Hard: 8 * 1024 * 1024 },
    { Name: 'cpu', Soft: 121, Hard: 122 },
  ];

  it('applies the limits; under gVisor the process limit is RLIMIT_NPROC inside the sandbox', () => {
    expect(host).toMatchObject({
      Memory: 256 * 1024 * 1024,
      MemorySwap: 256 * 1024 * 1024,
      NanoCpus: 500_000_000,
      PidsLimit: runscHostPidsLimit(32),
      Ulimits: [...COMMON_ULIMITS, { Name: 'nproc', Soft: 32, Hard: 32 }],
    });
    // runc: the container's pids cgroup; no RLIMIT_NPROC (the host counts it per uid across sandboxes)
    expect(buildContainerSpec({ image: 'i', runtime: 'runc', runId: 'r', limits }).HostConfig).toMatchObject({
      PidsLimit: 32,
      Ulimits: COMMON_ULIMITS,
    });
    expect(host.Tmpfs).toEqual({ '/tmp': `rw,noexec,nosuid,nodev,size=${DEFAULT_LIMITS.tmpfsBytes}` });
  });

  it('uses the runtime it is given', () => {
    expect(buildContainerSpec({ image: 'i', runtime: 'runc', runId: 'r', limits }).HostConfig!.Runtime).toBe('runc');
  });
  it('under runc, filters system calls with the harness allowlist unless Docker default is asked for (tests only)', () => {
    const runc = buildContainerSpec({ image: 'i', runtime: 'runc', runId: 'r', limits }).HostConfig!.SecurityOpt!;
    expect(runc[0]).toBe('no-new-privileges:true');
    const profile = JSON.parse(runc[1]!.replace(/^seccomp=/, '')) as { defaultAction: string; syscalls: { names: string[]; action: string }[] };
    expect(profile.defaultAction).toBe('SCMP_ACT_ERRNO');
    expect(profile.syscalls).toEqual([{ names: [...HARNESS_SYSCALLS], action: 'SCMP_ACT_ALLOW' }]);
    for (const refused of ['socket', 'connect', 'clone', 'clone3', 'fork', 'vfork', 'ptrace', 'mount', 'unshare', 'setns', 'bpf', 'keyctl', 'io_uring_setup']) {
      expect(HARNESS_SYSCALLS).not.toContain(refused);
    }
    expect(buildContainerSpec({ image: 'i', runtime: 'runc', runId: 'r', limits, seccomp: 'docker-default' }).HostConfig!.SecurityOpt).toEqual(['no-new-privileges:true']);
    expect(host.SecurityOpt).toEqual(['no-new-privileges:true']); // gVisor: its own kernel filters
  });

  it('starts the harness with its guard unless switched off (tests only)', () => {
    expect(buildContainerSpec({ image: 'i', runtime: 'runsc', runId: 'r', limits }).Cmd).toEqual([...HARNESS_COMMAND]);
    const unguarded = buildContainerSpec({ image: 'i', runtime: 'runsc', runId: 'r', limits, harnessGuard: false });
    expect(unguarded.Cmd).toEqual([...HARNESS_COMMAND, '--no-guard']);
    expect(unguarded.Env).toEqual([]);
  });

});

describe('runscHostPidsLimit', () => {
  it('leaves gVisor room for its own tasks and a stub per guest process', () => {
    expect(runscHostPidsLimit(32)).toBe(320);
    expect(runscHostPidsLimit(64)).toBeGreaterThan(39 + 6 * 64);
  });
});

describe('containerLimitsKey', () => {
  it('changes with the limits baked into the container, not with the driver-enforced ones', () => {
    const base = resolveLimits();
    expect(containerLimitsKey(resolveLimits({ timeoutMs: 5_000, maxOutputBytes: 10 }))).toBe(containerLimitsKey(base));
    for (const change of [{ memoryBytes: 64 * 1024 * 1024 }, { cpus: 2 }, { pidsLimit: 16 }, { tmpfsBytes: 1024 * 1024 }, { nofile: 64 }]) {
      expect(containerLimitsKey(resolveLimits(change))).not.toBe(containerLimitsKey(base));
    }
  });

  it('lets a container serve runs whose CPU seconds (from their timeout) are at most its own', () => {
    const created = resolveLimits();
    expect(fitsContainer(resolveLimits({ timeoutMs: 5_000 }), created)).toBe(true);
    expect(fitsContainer(created, created)).toBe(true);
    expect(fitsContainer(resolveLimits({ timeoutMs: created.timeoutMs + 2_000 }), created)).toBe(false);
    expect(fitsContainer(resolveLimits({ nofile: 64 }), created)).toBe(false);
  });
});

describe('usernsRemapped', () => {
  it('reads the engine security options (userns-remap or a rootless engine)', () => {
    expect(usernsRemapped({ SecurityOptions: ['name=seccomp,profile=builtin', 'name=userns'] })).toBe(true);
    expect(usernsRemapped({ SecurityOptions: ['name=seccomp,profile=builtin', 'name=rootless'] })).toBe(true);
    expect(usernsRemapped({ SecurityOptions: ['name=seccomp,profile=builtin', 'name=cgroupns'] })).toBe(false);
    expect(usernsRemapped({})).toBe(false);
  });
});
