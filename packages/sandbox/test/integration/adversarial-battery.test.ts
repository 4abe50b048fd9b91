// The adversarial battery: hostile programs run in the real sandbox under runc and under gVisor (runsc).
// For each one: it is contained, it ends with the expected result kind (and event/violation flag),
// the host is unaffected (a sentinel process and file, a TCP listener that must see no connection,
// no container left behind), and a benign canary transform running at the same time still finishes
// with the right output. The programs skip the static policy check and the harness's second layer (restricted
// builtins, audit hook: harnessGuard false) and, under runc, the harness's seccomp allowlist (Docker's default
// profile instead) on purpose: this battery proves the container's other walls on their own.
// Needs: deploy/local/docker.sh start && deploy/local/sandbox-image.sh start, and a built packages/sandbox/dist.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type Docker from 'dockerode';
import {
  classifyResult,
  DockerSandboxDriver,
  OWNER_LABEL,
  type SandboxEvent,
  type SandboxLimits,
  type SandboxResult,
  type SandboxRuntime,
} from '../../src/index.js';
import { Collector } from '@aoetl/testing';
import { emptyInput, generatedInput, dockerSandbox } from '../support/env.js';

jest.setTimeout(60_000);

const { image, socketPath, docker } = dockerSandbox();

// A secret planted in the agent's own environment (this process is the agent) before any sandbox starts.
const CANARY_SECRET = `canary-${randomBytes(16).toString('hex')}`;
process.env.AOETL_BATTERY_CANARY_SECRET = CANARY_SECRET;

const MiB = 1024 * 1024;
const LIMITS: Partial<SandboxLimits> = {
  timeoutMs: 4_000,
  memoryBytes: 128 * MiB,
  cpus: 1,
  pidsLimit: 32,
  nofile: 64,
  tmpfsBytes: 4 * MiB,
  maxOutputBytes: 1 * MiB,
};

const py = (...lines: string[]): string => lines.join('\n') + '\n';

// Probe programs return one row per attempt: {probe, outcome}; outcome "ok..." means it worked,
// otherwise the errno name (EPERM, EROFS, ...) or the exception type.
const PRELUDE = py(
  'import errno, os, socket',
  'def attempt(fn):',
  '    try:',
  '        r = fn()',
  '    except socket.gaierror:',
  '        return "gaierror"',
  '    except OSError as e:',
  '        return errno.errorcode.get(e.errno, type(e).__name__) if e.errno else type(e).__name__',
  '    except Exception as e:',
  '        return type(e).__name__',
  '    return "ok" if r is None else "ok:" + str(r)',
  'def probes(**fns):',
  '    return [{"probe": k, "outcome": attempt(f)} for k, f in fns.items()]',
  'def connect(host, port, family=socket.AF_INET):',
  '    s = socket.socket(family, socket.SOCK_STREAM)',
  '    s.settimeout(1)',
  '    try:',
  '        s.connect((host, port))',
  '    finally:',
  '        s.close()',
  'def write(path, data="x"):',
  '    with open(path, "w") as f:',
  '        f.write(data)',
);

interface Ctx {
  runtime: SandboxRuntime;
  runId: string;
  port: number;
  hostIps: string[];
  /** Host pid of a sentinel process (it must survive every program). */
  sentinelPid: number;
  result: SandboxResult;
  output: Collector;
}

interface BatteryCase {
  name: string;
  code: (ctx: Omit<Ctx, 'result' | 'output'>) => string;
  limits?: Partial<SandboxLimits>;
  /** Expected result kind (per runtime when they differ). */
  kind: SandboxResult['kind'] | Record<SandboxRuntime, SandboxResult['kind']>;
  /** Whether the result's event must be flagged as a violation. */
  violation: boolean | Record<SandboxRuntime, boolean>;
  check?: (ctx: Ctx) => void | Promise<void>;
  /** Runs while the program runs (gets the container id once it runs). */
  during?: (ctx: { runtime: SandboxRuntime; runId: string }) => Promise<void>;
  outputColumns?: string[];
}

const outcomes = (output: Collector): Record<string, string> =>
  Object.fromEntries(output.lines().map((l) => l.split('\t') as [string, string]));

function expectKind<K extends SandboxResult['kind']>(result: SandboxResult, kind: K): Extract<SandboxResult, { kind: K }> {
  if (result.kind !== kind) throw new Error(`expected ${kind}, got ${JSON.stringify(result).slice(0, 2000)}`);
  return result as Extract<SandboxResult, { kind: K }>;
}

/** Every probe failed with one of the allowed outcomes. */
function expectBlocked(output: Collector, allowed: Record<string, readonly string[]>): void {
  const got = outcomes(output);
  expect(Object.keys(got).sort()).toEqual(Object.keys(allowed).sort());
  for (const [probe, outcome] of Object.entries(got)) {
    if (!allowed[probe]!.includes(outcome)) throw new Error(`probe ${probe}: ${outcome}, expected one of ${allowed[probe]!.join(', ')}`);
  }
}

async function waitForContainer(filters: Record<string, string[]>, timeoutMs = 15_000): Promise<Docker.ContainerInfo> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const [c] = await docker.listContainers({ filters: { ...filters, status: ['running'] } });
    if (c) return c;
    if (Date.now() > until) throw new Error(`no running container for ${JSON.stringify(filters)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function procStatus(pid: number): Record<string, string> {
  return Object.fromEntries(
    readFileSync(`/proc/${pid}/status`, 'utf8')
      .split('\n')
      .filter((l) => l.includes(':'))
      .map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()]),
  );
}

/** Host pids whose command line mentions the container id and starts with `name`. */
function hostProcesses(containerId: string, name: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (cmdline[0]?.endsWith(name) && cmdline.some((a) => a.includes(containerId))) pids.push(Number(entry));
    } catch {
      // gone
    }
  }
  return pids;
}

const BATTERY: BatteryCase[] = [
  {
    name: 'fork bomb',
    code: () =>
      py(
        'import os, time',
        'def transform(rows):',
        '    n = 0',
        '    while True:',
        '        try:',
        '            pid = os.fork()',
        '        except OSError as e:',
        '            raise type(e)(e.errno, f"{e.strerror} after {n} forks")',
        '        if pid == 0:',
        '            time.sleep(600)',
        '            os._exit(0)',
        '        n += 1',
      ),
    // Under gVisor every guest process costs ~4 MiB of sandbox memory (its own address space in
    // the sentry): with 128 MiB the memory limit stops this bomb first (oom). With 256 MiB both
    // runtimes show the process limit doing its job.
    limits: { memoryBytes: 256 * MiB },
    kind: 'transform_error',
    violation: true,
    check: ({ result }) => {
      const error = expectKind(result, 'transform_error');
      expect(error.errorType).toBe('BlockingIOError');
      const forks = Number(/after (\d+) forks/.exec(error.message)![1]);
      expect(forks).toBeLessThan(32);
    },
  },
  {
    name: 'thread bomb',
    code: () =>
      py(
        'import threading, time',
        'def transform(rows):',
        '    n = 0',
        '    while True:',
        '        try:',
        '            threading.Thread(target=time.sleep, args=(600,), daemon=True).start()',
        '        except RuntimeError as e:',
        '            raise RuntimeError(f"{e} after {n} threads")',
        '        n += 1',
      ),
    kind: 'transform_error',
    violation: true,
    check: ({ result }) => {
      const error = expectKind(result, 'transform_error');
      expect(error.message).toMatch(/^can't start new thread after \d+ threads$/);
      expect(Number(/after (\d+)/.exec(error.message)![1])).toBeLessThan(32);
    },
  },
  {
    name: 'memory bomb',
    code: () => py('def transform(rows):', '    hog = []', '    while True:', '        hog.append(bytearray(4 << 20))'),
    kind: 'oom',
    violation: true,
    check: ({ result }) => expect(expectKind(result, 'oom').memoryBytes).toBe(128 * MiB),
  },
  {
    name: 'CPU spin on every core',
    code: () =>
      py(
        'import threading',
        'def spin():',
        '    while True:',
        '        pass',
        'def transform(rows):',
        '    for _ in range(3):',
        '        threading.Thread(target=spin, daemon=True).start()',
        '    spin()',
      ),
    kind: 'timeout',
    violation: true,
    check: ({ result }) => {
      expect(expectKind(result, 'timeout').timeoutMs).toBe(4_000);
      expect(result.durationMs).toBeLessThan(15_000);
    },
  },
  {
    name: 'sleeping forever',
    code: () => py('import time', 'def transform(rows):', '    time.sleep(10 ** 6)'),
    kind: 'timeout',
    violation: true,
  },
  {
    name: 'filling /tmp',
    code: () =>
      py(
        'def transform(rows):',
        '    n = 0',
        '    with open("/tmp/fill", "wb") as f:',
        '        while True:',
        '            try:',
        '                f.write(b"x" * 65536)',
        '                f.flush()',
        '            except OSError as e:',
        '                raise OSError(e.errno, f"{e.strerror} after {n} bytes")',
        '            n += 65536',
      ),
    kind: 'transform_error',
    violation: true,
    check: ({ result }) => {
      const error = expectKind(result, 'transform_error');
      expect(error.message).toMatch(/^\[Errno 28\] No space left on device after \d+ bytes$/);
      expect(Number(/after (\d+) bytes/.exec(error.message)![1])).toBeLessThanOrEqual(4 * MiB);
    },
  },
  {
    name: 'writing to /',
    code: () =>
      PRELUDE +
      py(
        'def transform(rows):',
        '    return probes(',
        '        etc_passwd=lambda: write("/etc/passwd"),',
        '        harness=lambda: write("/opt/aoetl/harness.py"),',
        '        python=lambda: write("/usr/bin/python3"),',
        '        mkdir_root=lambda: os.mkdir("/pwned"),',
        '        symlink_root=lambda: os.symlink("/tmp", "/pwned"),',
        '        dev_shm=lambda: write("/dev/shm/x"),',
        '        chmod_tmp=lambda: os.chmod("/", 0o777),',
        '    )',
      ),
    kind: 'ok',
    violation: false,
    check: ({ output }) =>
      expectBlocked(output, {
        etc_passwd: ['EROFS', 'EACCES'],
        harness: ['EROFS', 'EACCES'],
        python: ['EROFS', 'EACCES', 'ETXTBSY'],
        mkdir_root: ['EROFS', 'EACCES'],
        symlink_root: ['EROFS', 'EACCES'],
        dev_shm: ['ENOENT', 'EACCES', 'EROFS'], // runc: no /dev/shm at all (IpcMode none); runsc: not writable
        chmod_tmp: ['EROFS', 'EPERM'],
      }),
  },
  {
    name: 'runaway output',
    code: () => py('def transform(rows):', '    return [{"line": "x" * 100} for _ in range(50_000)]'),
    kind: 'output_limit',
    violation: true,
    check: ({ result, output }) => {
      expect(expectKind(result, 'output_limit').maxOutputBytes).toBe(1 * MiB);
      expect(output.bytes).toBeLessThanOrEqual(1 * MiB);
    },
  },
  {
    name: 'runaway stderr (no log growth, bounded tail)',
    code: () => py('import sys', 'def transform(rows):', '    while True:', '        sys.stderr.write("y" * 65536 + "\\n")'),
    kind: 'timeout',
    violation: true,
    during: async ({ runId }) => {
      const c = await waitForContainer({ label: [`aoetl.run=${runId}`] });
      const info = await docker.getContainer(c.Id).inspect();
      expect(info.HostConfig.LogConfig?.Type).toBe('none');
      expect(info.LogPath).toBe('');
    },
  },
  {
    name: 'TCP egress to a port open on the host',
    code: ({ port, hostIps }) =>
      PRELUDE +
      py(
        `PORT = ${port}`,
        `HOSTS = ${JSON.stringify(hostIps)}`,
        'def transform(rows):',
        '    return [{"probe": h, "outcome": attempt(lambda: connect(h, PORT))} for h in HOSTS]',
      ),
    kind: 'ok',
    violation: false,
    check: ({ output, hostIps }) => {
      const got = outcomes(output);
      expect(Object.keys(got).sort()).toEqual([...hostIps].sort());
      for (const [host, outcome] of Object.entries(got)) {
        // 127.0.0.1 is the sandbox's own (empty) loopback; everything else has no route.
        expect([host, outcome]).toEqual([host, host === '127.0.0.1' ? 'ECONNREFUSED' : expect.stringMatching(/^(ENETUNREACH|EHOSTUNREACH)$/)]);
      }
    },
  },
  {
    name: 'DNS',
    code: () =>
      PRELUDE +
      py(
        'def udp():',
        '    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)',
        '    s.settimeout(1)',
        '    s.sendto(b"\\x00" * 12, ("8.8.8.8", 53))',
        '    return s.recv(512)',
        'def transform(rows):',
        '    return probes(',
        '        resolve_name=lambda: socket.getaddrinfo("example.com", 443),',
        '        resolve_docker=lambda: socket.getaddrinfo("host.docker.internal", 2375),',
        '        udp_53=udp,',
        '        tcp_53=lambda: connect("1.1.1.1", 53),',
        '    )',
      ),
    kind: 'ok',
    violation: false,
    check: ({ output }) =>
      expectBlocked(output, {
        resolve_name: ['gaierror'],
        resolve_docker: ['gaierror'],
        udp_53: ['ENETUNREACH', 'EHOSTUNREACH'], // runc: no route; gVisor: no host route
        tcp_53: ['ENETUNREACH', 'EHOSTUNREACH'],
      }),
  },
  {
    name: 'cloud metadata address',
    code: () =>
      PRELUDE +
      py(
        'def transform(rows):',
        '    return probes(',
        '        aws_gcp_azure=lambda: connect("169.254.169.254", 80),',
        '        aws_ipv6=lambda: connect("fd00:ec2::254", 80, socket.AF_INET6),',
        '        ecs_task=lambda: connect("169.254.170.2", 80),',
        '    )',
      ),
    kind: 'ok',
    violation: false,
    check: ({ output }) =>
      expectBlocked(output, {
        aws_gcp_azure: ['ENETUNREACH', 'EHOSTUNREACH'],
        aws_ipv6: ['ENETUNREACH', 'EHOSTUNREACH', 'EADDRNOTAVAIL', 'EAFNOSUPPORT'],
        ecs_task: ['ENETUNREACH', 'EHOSTUNREACH'],
      }),
  },
  {
    name: "reading the agent's secrets via os.environ and /proc/*/environ",
    code: () =>
      py(
        'import os',
        'def transform(rows):',
        '    seen = {"os.environ": "\\n".join(f"{k}={v}" for k, v in os.environ.items())}',
        '    for pid in os.listdir("/proc"):',
        '        if pid.isdigit():',
        '            for name in ("environ", "cmdline"):',
        '                try:',
        '                    with open(f"/proc/{pid}/{name}", "rb") as f:',
        '                        seen[f"/proc/{pid}/{name}"] = f.read().decode("utf-8", "replace")',
        '                except OSError as e:',
        '                    seen[f"/proc/{pid}/{name}"] = f"error {e.errno}"',
        '    return [{"source": k, "text": v} for k, v in seen.items()]',
      ),
    kind: 'ok',
    violation: false,
    check: ({ output }) => {
      const text = output.text();
      expect(text).toContain('/proc/1/environ'); // it did read its own process table
      expect(text).not.toContain(CANARY_SECRET);
      expect(text).not.toContain('AOETL_');
      const environ = output.lines().find((l) => l.startsWith('os.environ\t'))!;
      expect(environ.split('\t')[1]!.split('\\n').map((kv) => kv.split('=')[0]).sort()).toEqual(['HOME', 'HOSTNAME', 'LC_CTYPE', 'PATH']);
    },
  },
  {
    name: '/proc/self/status: no capabilities, no new privileges, seccomp',
    code: () =>
      py(
        'import time',
        'def transform(rows):',
        '    fields = {}',
        '    for line in open("/proc/self/status"):',
        '        key, _, value = line.partition(":")',
        '        if key.startswith("Cap") or key in ("NoNewPrivs", "Seccomp", "Uid", "Gid", "Groups"):',
        '            fields[key] = value.strip()',
        '    time.sleep(1.5)  # long enough for the test to look at the host side',
        '    return [{"field": k, "value": v} for k, v in fields.items()]',
      ),
    kind: 'ok',
    violation: false,
    during: async ({ runtime, runId }) => {
      if (runtime !== 'runsc') return;
      // gVisor: the guest's kernel is gVisor's sentry; on the host the sentry runs with no new
      // privileges under its own seccomp filter.
      const c = await waitForContainer({ label: [`aoetl.run=${runId}`] });
      const sentries = hostProcesses(c.Id, 'runsc-sandbox');
      expect(sentries.length).toBeGreaterThan(0);
      for (const pid of sentries) expect(procStatus(pid)).toMatchObject({ NoNewPrivs: '1', Seccomp: '2' });
    },
    check: ({ runtime, output }) => {
      const status = Object.fromEntries(output.lines().map((l) => l.split('\t') as [string, string]));
      const zero = '0000000000000000';
      expect(status).toMatchObject({ CapInh: zero, CapPrm: zero, CapEff: zero, CapBnd: zero });
      expect(status.Uid).toBe('65532\\t65532\\t65532\\t65532'); // COPY text: tabs escaped
      if (runtime === 'runc') {
        expect(status).toMatchObject({ CapAmb: zero, NoNewPrivs: '1', Seccomp: '2' });
      } else {
        // gVisor's /proc reports no NoNewPrivs line and Seccomp 0: the filter that matters is the
        // host's one on the sentry (checked in `during`).
        expect(status.NoNewPrivs).toBeUndefined();
        expect(status.Seccomp).toBe('0');
      }
    },
  },
  {
    name: 'unshare, mount, ptrace and raw sockets',
    code: ({ sentinelPid }) =>
      PRELUDE +
      py(
        'import ctypes, time',
        'libc = ctypes.CDLL(None, use_errno=True)',
        'def call(fn, *args):',
        '    if fn(*args) < 0:',
        '        e = ctypes.get_errno()',
        '        raise OSError(e, os.strerror(e))',
        'def raw(family, kind, proto):',
        '    socket.socket(family, kind, proto).close()',
        `HOST_PID = ${sentinelPid}`,
        'def after_unshare():',
        '    # what a new user+network namespace gives (gVisor allows it, inside its own kernel)',
        '    call(libc.unshare, 0x10000000 | 0x40000000)',
        '    names = ",".join(n for _, n in socket.if_nameindex())',
        '    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)',
        '    return names + "|" + attempt(lambda: s.sendto(b"\\x08\\x00\\xf7\\xff\\x00\\x00\\x00\\x00", ("172.17.0.1", 0)))',
        'def transform(rows):',
        '    return probes(',
        '        raw_icmp=lambda: raw(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP),',
        '        packet=lambda: raw(socket.AF_PACKET, socket.SOCK_RAW, 0),',
        '        mount_tmpfs=lambda: call(libc.mount, b"tmpfs", b"/opt", b"tmpfs", 0, None),',
        '        ptrace_host=lambda: call(libc.ptrace, 16, HOST_PID, None, None),',  // PTRACE_ATTACH to a host process
        '        ptrace_init=lambda: call(libc.ptrace, 16, 1, None, None),',
        '        setuid_root=lambda: os.setuid(0),',
        '        unshare_mount=lambda: call(libc.unshare, 0x00020000),',
        '        unshare_user_net=after_unshare,',
        '    )',
      ),
    kind: 'ok',
    violation: false,
    check: ({ runtime, output }) => {
      const common = {
        raw_icmp: ['EPERM'],
        packet: ['EPERM'],
        mount_tmpfs: ['EPERM'],
        ptrace_host: ['ESRCH'], // not even visible: its own pid namespace
        ptrace_init: ['EPERM'],
      };
      if (runtime === 'runc') {
        expectBlocked(output, { ...common, setuid_root: ['EPERM'], unshare_mount: ['EPERM'], unshare_user_net: ['EPERM'] });
      } else {
        // gVisor implements namespaces itself: unshare succeeds but stays inside gVisor's kernel —
        // the new network namespace has only a loopback and reaches nothing.
        expectBlocked(output, {
          ...common,
          setuid_root: ['EPERM', 'EINVAL'],
          unshare_mount: ['EPERM', 'ok'],
          unshare_user_net: ['ok:lo|EHOSTUNREACH', 'ok:lo|ENETUNREACH'],
        });
      }
    },
  },
  {
    name: 'writes to /proc/sys and /sys/fs/cgroup',
    code: () =>
      PRELUDE +
      py(
        'def transform(rows):',
        '    return probes(',
        '        hostname=lambda: write("/proc/sys/kernel/hostname", "pwned"),',
        '        drop_caches=lambda: write("/proc/sys/vm/drop_caches", "3"),',
        '        core_pattern=lambda: write("/proc/sys/kernel/core_pattern", "|/tmp/x"),',
        '        sysrq=lambda: write("/proc/sysrq-trigger", "b"),',
        '        cgroup_procs=lambda: write("/sys/fs/cgroup/cgroup.procs", "1"),',
        '        memory_max=lambda: write("/sys/fs/cgroup/memory.max", "max"),',
        '        pids_max=lambda: write("/sys/fs/cgroup/pids.max", "max"),',
        '        uevent_helper=lambda: write("/sys/kernel/uevent_helper", "/tmp/x"),',
        '    )',
      ),
    kind: 'ok',
    violation: false,
    check: ({ output }) => {
      const got = outcomes(output);
      expect(Object.keys(got)).toHaveLength(8);
      for (const [probe, outcome] of Object.entries(got)) expect([probe, outcome]).toEqual([probe, expect.stringMatching(/^(EROFS|EACCES|ENOENT|EPERM)$/)]);
    },
  },
  {
    name: 'probing for the Docker socket',
    code: ({ hostIps }) =>
      PRELUDE +
      py(
        `GATEWAYS = ${JSON.stringify(hostIps.filter((h) => h !== '127.0.0.1'))}`,
        'SOCKETS = ["/var/run/docker.sock", "/run/docker.sock", "/run/containerd/containerd.sock",',
        '           "/var/run/docker/containerd/containerd.sock", "/run/runsc.sock"]',
        'def unix(path):',
        '    s = socket.socket(socket.AF_UNIX)',
        '    try:',
        '        s.connect(path)',
        '    finally:',
        '        s.close()',
        'def find_sockets():',
        '    found = []',
        '    for top in ("/run", "/var/run", "/tmp", "/", "/proc/1/root/run"):',
        '        try:',
        '            for name in os.listdir(top):',
        '                if name.endswith(".sock"):',
        '                    found.append(os.path.join(top, name))',
        '        except OSError:',
        '            pass',
        '    return ",".join(found) or "none"',
        'def transform(rows):',
        '    rows = [{"probe": p, "outcome": attempt(lambda p=p: unix(p))} for p in SOCKETS]',
        '    rows += [{"probe": f"{g}:{port}", "outcome": attempt(lambda g=g, port=port: connect(g, port))}',
        '             for g in GATEWAYS for port in (2375, 2376)]',
        '    rows.append({"probe": "search", "outcome": find_sockets()})',
        '    return rows',
      ),
    kind: 'ok',
    violation: false,
    check: ({ output }) => {
      const got = outcomes(output);
      expect(got.search).toBe('none');
      delete got.search;
      expect(Object.keys(got).length).toBeGreaterThanOrEqual(7);
      for (const [probe, outcome] of Object.entries(got)) {
        expect([probe, outcome]).toEqual([probe, expect.stringMatching(/^(ENOENT|ENETUNREACH|EHOSTUNREACH)$/)]);
      }
    },
  },
  {
    name: 'fd exhaustion',
    code: () =>
      py(
        'import os',
        'def transform(rows):',
        '    fds = []',
        '    while True:',
        '        try:',
        '            fds.append(os.open("/dev/null", os.O_RDONLY))',
        '        except OSError as e:',
        '            raise OSError(e.errno, f"{e.strerror} after {len(fds)} files")',
      ),
    kind: 'transform_error',
    violation: true,
    check: ({ result }) => {
      const error = expectKind(result, 'transform_error');
      expect(error.message).toMatch(/^\[Errno 24\] Too many open files after \d+ files$/);
      expect(Number(/after (\d+) files/.exec(error.message)![1])).toBeLessThan(64);
    },
  },
  {
    name: 'signalling every process it can see, and a host process',
    code: ({ sentinelPid }) =>
      PRELUDE +
      py(
        'import signal',
        `HOST_PID = ${sentinelPid}`,
        'def transform(rows):',
        '    visible = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())',
        '    out = probes(kill_host=lambda: os.kill(HOST_PID, signal.SIGKILL), kill_all=lambda: os.kill(-1, signal.SIGKILL))',
        '    out.append({"probe": "visible", "outcome": ",".join(map(str, visible))})',
        '    return out',
      ),
    kind: 'ok',
    violation: false,
    check: ({ output }) => {
      const got = outcomes(output);
      expect(got.visible).toBe('1'); // only itself: its own pid namespace
      expect(got.kill_host).toBe('ESRCH'); // the host's pids do not exist in there
      expect(got.kill_all).toMatch(/^(ok|ESRCH)$/); // kill(-1): nobody else to signal
    },
  },
  {
    name: 'SIGKILL to its own pid 1',
    code: () => py('import os, signal', 'def transform(rows):', '    os.kill(1, signal.SIGKILL)', '    return [{"survived": "yes"}]'),
    // Linux ignores SIGKILL sent to a namespace's init from inside; gVisor delivers it: the
    // sandbox ends itself (exit 137). Contained either way.
    kind: { runc: 'ok', runsc: 'exit_error' },
    violation: { runc: false, runsc: true }, // an exit outside the harness's control
    check: ({ runtime, result, output }) => {
      if (runtime === 'runc') expect(output.lines()).toEqual(['yes']);
      else expect(expectKind(result, 'exit_error').exitCode).toBe(137);
    },
  },
  {
    name: 'forging the data stream through the saved stdout descriptor',
    code: () =>
      py(
        'import os',
        'def transform(rows):',
        '    for fd in range(3, 16):',
        '        try:',
        '            os.write(fd, b\'{"columns": ["pwned"]}\\nforged\\n\')',
        '        except OSError:',
        '            pass',
        '    os._exit(0)',
      ),
    outputColumns: ['x'],
    kind: 'exit_error',
    violation: true,
    check: ({ result }) => expect(expectKind(result, 'exit_error').reason).toMatch(/differ from the expected/),
  },
  {
    name: 'privileges: setuid binaries, root files, sudo',
    code: () =>
      PRELUDE +
      py(
        'import stat',
        'def setuid_files():',
        '    found = []',
        '    for top in ("/usr/bin", "/usr/sbin", "/bin", "/sbin", "/usr/lib"):',
        '        for dirpath, _, files in os.walk(top):',
        '            for name in files:',
        '                try:',
        '                    if os.lstat(os.path.join(dirpath, name)).st_mode & (stat.S_ISUID | stat.S_ISGID):',
        '                        found.append(os.path.join(dirpath, name))',
        '                except OSError:',
        '                    pass',
        '    return ",".join(found) or "none"',
        'def transform(rows):',
        '    out = probes(shadow=lambda: open("/etc/shadow").read(), setgid=lambda: os.setgid(0),',
        '                 host_root=lambda: os.listdir("/proc/1/root/work"))',
        '    out.append({"probe": "setuid_files", "outcome": setuid_files()})',
        '    out.append({"probe": "euid", "outcome": str(os.geteuid())})',
        '    return out',
      ),
    kind: 'ok',
    violation: false,
    check: ({ output }) => {
      const got = outcomes(output);
      expect(got).toMatchObject({ setuid_files: 'none', euid: '65532' });
      expect(got.shadow).toMatch(/^(EACCES|ENOENT)$/);
      expect(got.setgid).toMatch(/^(EPERM|EINVAL)$/);
      expect(got.host_root).toBe('ENOENT'); // /proc/1/root is its own root: no host /work
    },
  },
];

describe.each<SandboxRuntime>(['runc', 'runsc'])('adversarial battery under %s', (runtime) => {
  let driver: DockerSandboxDriver;
  const events: SandboxEvent[] = [];
  let server: Server;
  let port: number;
  let connections = 0;
  let hostIps: string[];
  let sentinel: ChildProcess;
  let sentinelDir: string;
  const sentinelText = randomBytes(8).toString('hex');
  let n = 0;

  beforeAll(async () => {
    driver = await DockerSandboxDriver.create({ image, runtime, allowRunc: true, harnessGuard: false, seccomp: 'docker-default', socketPath, limits: LIMITS, reapIntervalMs: 0, onEvent: (e) => events.push(e) });
    server = createServer((socket) => {
      connections++;
      socket.end('hello from the host\n');
    });
    await new Promise<void>((resolve) => server.listen(0, '0.0.0.0', resolve));
    port = (server.address() as AddressInfo).port;
    hostIps = [
      '127.0.0.1',
      ...Object.values(networkInterfaces())
        .flat()
        .filter((a) => a && a.family === 'IPv4' && !a.internal)
        .map((a) => a!.address),
    ];
    sentinel = spawn('sleep', ['3600'], { stdio: 'ignore' });
    sentinelDir = mkdtempSync(join(tmpdir(), 'aoetl-battery-'));
    writeFileSync(join(sentinelDir, 'sentinel'), sentinelText);
  });

  afterAll(async () => {
    await driver.close();
    sentinel.kill('SIGKILL');
    rmSync(sentinelDir, { recursive: true, force: true });
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  /** A benign transform over 20k rows; its exact output is known. */
  async function canary(): Promise<void> {
    const output = new Collector();
    const result = await driver.run({
      runId: `battery-canary-${runtime}-${process.pid}-${++n}`,
      code: py('def transform(rows):', '    return [{"id": r["id"], "sq": r["id"] * r["id"]} for r in rows]'),
      columns: ['id', 'name', 'amount'],
      types: ['int8', 'text', 'numeric'],
      input: generatedInput(20_000),
      output,
      limits: { timeoutMs: 45_000 },
    });
    expectKind(result, 'ok');
    const lines = output.lines();
    expect(lines).toHaveLength(20_000);
    expect(lines[19_999]).toBe(`19999\t${19_999 * 19_999}`);
  }

  async function hostUnaffected(runId: string): Promise<void> {
    expect(sentinel.exitCode).toBeNull();
    expect(sentinel.signalCode).toBeNull();
    expect(readFileSync(join(sentinelDir, 'sentinel'), 'utf8')).toBe(sentinelText);
    expect(connections).toBe(0);
    expect(await docker.listContainers({ all: true, filters: { label: [`aoetl.run=${runId}`] } })).toEqual([]);
    expect((await docker.info()) as { ID: string }).toHaveProperty('ID'); // the engine still answers
  }

  it.each(BATTERY.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const runId = `battery-${runtime}-${process.pid}-${++n}`;
    const output = new Collector();
    const rssBefore = process.memoryUsage().rss;
    const [result] = await Promise.all([
      driver.run({
        runId,
        code: c.code({ runtime, runId, port, hostIps, sentinelPid: sentinel.pid! }),
        columns: [],
        types: [],
        input: emptyInput(),
        output,
        limits: c.limits,
        outputColumns: c.outputColumns,
      }),
      canary(),
      c.during?.({ runtime, runId }),
    ]);
    const kind = typeof c.kind === 'string' ? c.kind : c.kind[runtime];
    expectKind(result, kind);
    await c.check?.({ runtime, runId, port, hostIps, sentinelPid: sentinel.pid!, result, output });
    const violation = typeof c.violation === 'boolean' ? c.violation : c.violation[runtime];
    const event = events.find((e) => e.runId === runId);
    expect(event).toMatchObject({ type: 'sandbox.result', code: kind, violation, runtime });
    expect(classifyResult(result).violation).toBe(violation);
    await hostUnaffected(runId);
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(128 * MiB); // stdout/stderr are bounded on our side too
  });

  it('one sandbox cannot read another one’s /tmp', async () => {
    const secret = randomBytes(12).toString('hex');
    const writerId = `battery-${runtime}-${process.pid}-${++n}-writer`;
    const writer = driver.run({
      runId: writerId,
      code: py(
        'import time',
        'def transform(rows):',
        `    with open("/tmp/secret-${secret}", "w") as f:`,
        `        f.write("${secret}")`,
        '    time.sleep(3)',
        '    return [{"wrote": "yes"}]',
      ),
      columns: [],
      types: [],
      input: emptyInput(),
      output: new Collector(),
    });
    await waitForContainer({ label: [`aoetl.run=${writerId}`] });
    await new Promise((resolve) => setTimeout(resolve, 500)); // the writer has written by now
    const output = new Collector();
    const [reader, written] = await Promise.all([
      driver.run({
        runId: `battery-${runtime}-${process.pid}-${++n}-reader`,
        code: py(
          'import os',
          'def transform(rows):',
          '    seen = []',
          '    for top in ["/tmp", "/proc/1/root/tmp", "/proc/1/cwd", "/var/tmp", "/run", "/dev/shm"]:',
          '        try:',
          '            seen += [os.path.join(top, x) for x in os.listdir(top)]',
          '        except OSError as e:',
          '            seen.append(f"{top}: errno {e.errno}")',
          '    return [{"path": p} for p in seen]',
        ),
        columns: [],
        types: [],
        input: emptyInput(),
        output,
      }),
      writer,
      canary(),
    ]);
    expectKind(reader, 'ok');
    expectKind(written, 'ok');
    expect(output.text()).not.toContain(secret);
    expect(output.lines()).not.toContain(`/tmp/secret-${secret}`);
    await hostUnaffected(writerId);
  });

  it('SIGKILL of the agent mid-run: the reaper of the next agent leaves no container', async () => {
    const runId = `battery-${runtime}-${process.pid}-${++n}-orphan`;
    const child = spawn(process.execPath, [join(__dirname, '../support/agent-child.mjs'), image, runtime, socketPath, runId], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    try {
      const first = await new Promise<string>((resolve, reject) => {
        createInterface({ input: child.stdout }).once('line', resolve);
        child.once('exit', (code) => reject(new Error(`agent exited early (${code})`)));
      });
      const { ownerId } = JSON.parse(first) as { ownerId: string };
      const orphan = await waitForContainer({ label: [`${OWNER_LABEL}=${ownerId}`] });
      expect(orphan.Labels['aoetl.run']).toBe(runId);
      child.kill('SIGKILL');
      await exited;
      // The killed agent could not clean up: its sandbox still runs.
      expect((await docker.getContainer(orphan.Id).inspect()).State.Running).toBe(true);
      // The next agent reaps it when it starts, while a canary of the running agent goes on.
      const [next] = await Promise.all([
        DockerSandboxDriver.create({ image, runtime, allowRunc: true, socketPath, reapIntervalMs: 0 }),
        canary(),
      ]);
      await next.close();
      await expect(docker.getContainer(orphan.Id).inspect()).rejects.toMatchObject({ statusCode: 404 });
      expect(await docker.listContainers({ all: true, filters: { label: [`${OWNER_LABEL}=${ownerId}`] } })).toEqual([]);
      await hostUnaffected(runId);
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
  });
});
