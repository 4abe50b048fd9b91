import type { ContainerCreateOptions } from 'dockerode';
import { SandboxConfigError } from './errors.js';
import { nanoCpus } from './limits.js';
import { HARNESS_COMMAND } from './protocol.js';
import type { SandboxLimits, SandboxRuntime } from './types.js';

export const SANDBOX_LABEL = 'aoetl.sandbox';
export const RUN_LABEL = 'aoetl.run';
/** Set on warm-pool containers (created before their run is known). */
export const POOL_LABEL = 'aoetl.pool';
/** The driver instance that created the container (random per driver). */
export const OWNER_LABEL = 'aoetl.owner';
/** Host name, pid and start time of the owning process: the reaper removes containers whose owner died. */
export const OWNER_HOST_LABEL = 'aoetl.owner.host';
export const OWNER_PID_LABEL = 'aoetl.owner.pid';
export const OWNER_START_LABEL = 'aoetl.owner.start';
/** runId label value of warm-pool containers. */
export const POOL_RUN_ID = 'warm-pool';
/** The unprivileged user baked into the sandbox image. */
export const SANDBOX_USER = '65532:65532';
/**
 * Under gVisor the container's pids cgroup counts gVisor's own host tasks, not the guest's: the
 * sentry and gofer (about 39 at start) plus a stub process with a few threads for every guest
 * process (measured +5.3 per guest process; guest threads cost almost nothing). The guest's
 * processes and threads are bounded by RLIMIT_NPROC, which gVisor enforces per sandbox, and the
 * host limit is sized so that gVisor never hits it first (it would crash the sandbox instead of
 * failing the guest's fork with EAGAIN).
 */
export function runscHostPidsLimit(pidsLimit: number): number {
  return 64 + 8 * pidsLimit;
}

/** Who owns a container (see the OWNER_* labels). */
export interface ContainerOwner {
  id: string;
  host: string;
  pid: number;
  /** Process start time (clock ticks since boot, /proc/<pid>/stat field 22), '' when unknown. */
  start: string;
}

export interface ContainerSpecInput {
  image: string;
  runtime: SandboxRuntime;
  runId: string;
  limits: SandboxLimits;
  owner?: ContainerOwner;
  /** A warm-pool container. */
  pool?: boolean;
  /** false (tests only): the harness runs without its restricted builtins and audit hook. */
  harnessGuard?: boolean;
  /** Seccomp profile under runc: the harness's own allowlist (default) or Docker's default profile (tests only). */
  seccomp?: SeccompChoice;
  /** Docker's init process as PID 1 (AOETL_SANDBOX_INIT); gVisor only, refused under runc (see buildContainerSpec). */
  init?: boolean;
}

export type SeccompChoice = 'harness' | 'docker-default';

/**
 * The system calls the sandbox may make under runc: what the harness was traced making
 * (docker/sandbox-python/seccomp_trace.py), plus what runc's exec path, the dynamic loader, the Go
 * runtime of runc-init between seccomp and exec, and Debian's python3 use on other kernels and libc
 * versions. Everything else fails with EPERM: no sockets, no fork/clone of processes, no ptrace,
 * mount, unshare, keyctl, bpf, io_uring...
 */
export const HARNESS_SYSCALLS: readonly string[] = Object.freeze([
  // traced
  'access', 'arch_prctl', 'brk', 'close', 'dup2', 'execve', 'exit_group', 'fcntl', 'futex', 'getdents64', 'getrandom',
  'gettid', 'ioctl', 'lseek', 'mmap', 'mprotect', 'munmap', 'newfstatat', 'openat', 'pread64', 'prlimit64', 'read',
  'readlink', 'rseq', 'rt_sigaction', 'set_robust_list', 'set_tid_address', 'sysinfo', 'uname', 'write',
  // the same operations through other entry points (libc and kernel versions)
  'dup', 'dup3', 'fstat', 'stat', 'lstat', 'statx', 'fstatfs', 'faccessat', 'faccessat2', 'readlinkat', 'getcwd',
  'readv', 'writev', 'pwrite64', 'mremap', 'madvise', 'exit', 'rt_sigprocmask', 'rt_sigreturn', 'sigaltstack',
  'clock_gettime', 'clock_getres', 'gettimeofday', 'time', 'nanosleep', 'clock_nanosleep', 'sched_yield',
  'sched_getaffinity', 'getpid', 'getppid', 'getuid', 'geteuid', 'getgid', 'getegid', 'getgroups', 'poll', 'ppoll',
  'select', 'pselect6', 'pipe2', 'close_range', 'restart_syscall', 'futex_waitv', 'getrlimit',
  // the harness's CPU-time report after a successful run (the run's CPU budget)
  'getrusage',
  // runc-init after the filter is installed, until it execs the harness (Go runtime threads)
  'execveat', 'epoll_pwait', 'epoll_ctl', 'tgkill', 'getpgrp', 'capget', 'prctl',
]);

/** The seccomp profile (Docker's JSON format) that allows HARNESS_SYSCALLS and refuses the rest with EPERM. */
export function harnessSeccompProfile(): string {
  return JSON.stringify({
    defaultAction: 'SCMP_ACT_ERRNO',
    defaultErrnoRet: 1,
    architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
    syscalls: [{ names: [...HARNESS_SYSCALLS], action: 'SCMP_ACT_ALLOW' }],
  });
}

/**
 * Hardened container settings: no network, no IPC namespace sharing (and no /dev/shm), read-only
 * root, small noexec /tmp, no capabilities, no privilege escalation, under runc a seccomp allowlist
 * of what the harness needs (HARNESS_SYSCALLS; narrower than Docker's default profile), bounded memory
 * (no swap), CPU, processes and files, no environment, no log driver, stdin attached for the data stream.
 *
 * An init process (Docker's `Init`, docker-init) on request (`init`, AOETL_SANDBOX_INIT), under gVisor only:
 * PID 1 then reaps and forwards signals instead of the harness being PID 1. Each run's container is removed with
 * its whole process tree, so it adds little; off by default until the adversarial battery's PID-1 expectations
 * are measured with it (docs/operations/sandbox.md). Never under runc
 * (development only): the harness seccomp allowlist has no fork/clone, so docker-init could not start
 * the harness, and with Docker's default profile user code could PTRACE_ATTACH it (measured by the
 * adversarial battery: the run then hangs until its timeout). Under gVisor ptrace of PID 1 needs
 * ctypes (refused by the harness's audit hook) and at worst stops the caller's own run until its
 * timeout. User namespaces: never opted out of (no `UsernsMode`); remapping is a daemon setting
 * (`userns-remap`), checked by the driver (requireUserns). Resource limits
 * (ulimits): no core dumps, files no larger than twice the /tmp tmpfs (the tmpfs fills first; a backstop
 * for any other writable place), an 8 MiB stack, and CPU seconds up to
 * what the run may use in its timeout (cpus × timeout, + 1 s): a backstop behind the driver's kill timer.
 *
 * Processes: runc counts them in the container's pids cgroup. RLIMIT_NPROC is not used with runc,
 * because the host kernel counts it per uid across all sandboxes (they share uid 65532); under
 * gVisor it is counted per sandbox by gVisor's own kernel (see runscHostPidsLimit).
 */
export function buildContainerSpec({ image, runtime, runId, limits, owner, pool, harnessGuard = true, seccomp = 'harness', init = false }: ContainerSpecInput): ContainerCreateOptions {
  if (init && runtime !== 'runsc') throw new SandboxConfigError('an init process is only used under gVisor (runsc): under runc the harness seccomp allowlist cannot fork it');
  const labels: Record<string, string> = { [SANDBOX_LABEL]: '1', [RUN_LABEL]: runId };
  if (pool) labels[POOL_LABEL] = '1';
  if (owner) {
    labels[OWNER_LABEL] = owner.id;
    labels[OWNER_HOST_LABEL] = owner.host;
    labels[OWNER_PID_LABEL] = String(owner.pid);
    labels[OWNER_START_LABEL] = owner.start;
  }
  const cpuSeconds = cpuSecondsLimit(limits);
  const ulimits = [
    { Name: 'nofile', Soft: limits.nofile, Hard: limits.nofile },
    { Name: 'core', Soft: 0, Hard: 0 },
    { Name: 'fsize', Soft: 2 * limits.tmpfsBytes, Hard: 2 * limits.tmpfsBytes },
    { Name: 'stack', Soft: STACK_BYTES, Hard: STACK_BYTES },
    { Name: 'cpu', Soft: cpuSeconds, Hard: cpuSeconds + 1 },
  ];
  if (runtime === 'runsc') ulimits.push({ Name: 'nproc', Soft: limits.pidsLimit, Hard: limits.pidsLimit });
  return {
    Image: image,
    Cmd: harnessGuard ? [...HARNESS_COMMAND] : [...HARNESS_COMMAND, '--no-guard'],
    User: SANDBOX_USER,
    WorkingDir: '/tmp',
    Env: [],
    Labels: labels,
    AttachStdin: true,
    AttachStdout: true,
    AttachStderr: true,
    OpenStdin: true,
    StdinOnce: true,
    Tty: false,
    NetworkDisabled: true,
    HostConfig: {
      Runtime: runtime,
      ...(init ? { Init: true } : {}),
      NetworkMode: 'none',
      IpcMode: 'none',
      ReadonlyRootfs: true,
      Tmpfs: { '/tmp': `rw,noexec,nosuid,nodev,size=${limits.tmpfsBytes}` },
      CapDrop: ['ALL'],
      // gVisor filters its own host calls; the harness profile narrows what runc lets user code ask the host kernel.
      SecurityOpt:
        runtime === 'runc' && seccomp === 'harness' ? ['no-new-privileges:true', `seccomp=${harnessSeccompProfile()}`] : ['no-new-privileges:true'],
      Privileged: false,
      PidsLimit: runtime === 'runsc' ? runscHostPidsLimit(limits.pidsLimit) : limits.pidsLimit,
      Memory: limits.memoryBytes,
      MemorySwap: limits.memoryBytes,
      NanoCpus: nanoCpus(limits.cpus),
      Ulimits: ulimits,
      LogConfig: { Type: 'none', Config: {} },
      AutoRemove: false,
    },
  };
}

/** Stack size limit of the sandbox's processes (the usual default, made explicit). */
export const STACK_BYTES = 8 * 1024 * 1024;

/** RLIMIT_CPU (soft, seconds): the CPU time a run can use before its timeout, plus one second. */
export function cpuSecondsLimit(limits: Pick<SandboxLimits, 'timeoutMs' | 'cpus'>): number {
  return Math.ceil((limits.timeoutMs / 1000) * Math.max(1, limits.cpus)) + 1;
}

/**
 * The limits that are baked into a container at creation (the others are enforced by the driver). RLIMIT_CPU
 * is baked in too but is not part of the key: a container may serve a run whose CPU seconds are at most its
 * own (see fitsContainer).
 */
export function containerLimitsKey(limits: SandboxLimits): string {
  return [limits.memoryBytes, limits.cpus, limits.pidsLimit, limits.tmpfsBytes, limits.nofile].join('/');
}

/** Whether a container created with `created` limits can serve a run with `wanted` limits. */
export function fitsContainer(wanted: SandboxLimits, created: SandboxLimits): boolean {
  return containerLimitsKey(wanted) === containerLimitsKey(created) && cpuSecondsLimit(wanted) <= cpuSecondsLimit(created);
}
