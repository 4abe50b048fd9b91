import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import Docker from 'dockerode';
import { sleep } from '@aoetl/timing';
import { dockerConnectionOptions, type DockerRemoteTls } from './docker-connection.js';
import { assertRuntimeAllowed } from './policy-runtime.js';
import { buildContainerSpec, fitsContainer, POOL_RUN_ID, type ContainerOwner, type SeccompChoice } from './container-spec.js';
import { SandboxClosedError, SandboxConfigError, SandboxImageMissingError, SandboxRuntimeUnavailableError, SandboxUsernsUnavailableError } from './errors.js';
import { HarnessSession, prepareRun, RunSet, type PreparedRun } from './harness-io.js';
import { resolveLimits } from './limits.js';
import { WarmPool, type PoolSlot } from './pool.js';
import { currentOwner, reapOrphans, type ReapOptions } from './reaper.js';
import { DRIVER_CLOSED_REASON, sandboxEvent, type SandboxEvent } from './results.js';
import type { SandboxDriver, SandboxLimits, SandboxLogger, SandboxResult, SandboxRunRequest, SandboxRuntime } from './types.js';

export const DEFAULT_DOCKER_SOCKET = '/var/run/docker.sock';
export const DEFAULT_REAP_INTERVAL_MS = 60_000;

export interface WarmPoolSettings {
  /** Containers kept started and waiting for input (0 = no pool). */
  size: number;
  /** A container waiting longer than this is replaced; default 10 min. */
  maxIdleMs?: number;
}

export interface DockerSandboxDriverOptions {
  /** Sandbox image, e.g. aoetl/sandbox-python:<hash> (AOETL_SANDBOX_IMAGE). */
  image: string;
  /** Container runtime (AOETL_SANDBOX_RUNTIME); default runsc. runc is refused unless allowRunc. */
  runtime?: SandboxRuntime;
  /** Allows runtime runc (AOETL_SANDBOX_ALLOW_RUNC=true): development and tests only, logged loudly. */
  allowRunc?: boolean;
  /**
   * Tests only: false starts the harness without its second layer (restricted builtins, audit hook), so
   * that a test can probe the container on its own. Default true; no configuration variable sets it.
   */
  harnessGuard?: boolean;
  /** Seccomp under runc: the harness allowlist (default) or, for tests that probe the container, Docker's default. */
  seccomp?: SeccompChoice;
  /** Docker's init as PID 1 (AOETL_SANDBOX_INIT); gVisor only. Default false. */
  init?: boolean;
  /**
   * Refuse to start unless the engine remaps user namespaces (AOETL_SANDBOX_REQUIRE_USERNS). Remapping is a daemon
   * setting (`userns-remap`): a container cannot ask for it, only opt out (which the sandbox never does). Without
   * it the driver warns once. Default false.
   */
  requireUserns?: boolean;
  /** Docker engine socket (AOETL_DOCKER_SOCKET); default /var/run/docker.sock. Local development only. */
  socketPath?: string;
  /** A remote engine over TLS with a client certificate (AOETL_DOCKER_HOST and its files); wins over socketPath. */
  remote?: DockerRemoteTls;
  /** A ready client instead of socketPath. */
  docker?: Docker;
  /** Default limits of every run (requests may override them). */
  limits?: Partial<SandboxLimits>;
  logger?: SandboxLogger;
  /** How much of stderr to keep for errors; default 64 KiB. */
  stderrTailBytes?: number;
  /**
   * Warm pool (AOETL_SANDBOX_POOL_SIZE): containers with the default limits, started ahead and
   * blocked on stdin; each serves exactly one run whose container limits equal the defaults and is
   * then destroyed. Other runs start a container of their own.
   */
  pool?: WarmPoolSettings;
  /** Orphan reaping: once in init() and then every this many ms (0 = only in init); default 60 s. */
  reapIntervalMs?: number;
  /** Rules of the reaper (maxAgeMs, graceMs); see reapReason. */
  reap?: Pick<ReapOptions, 'maxAgeMs' | 'graceMs'>;
  /** Called with one event per finished run (never throws into the driver). */
  onEvent?: (event: SandboxEvent) => void;
}

export type { ReapOptions } from './reaper.js';

/** What the driver reads of `docker info`. */
export interface EngineInfo {
  Runtimes?: Record<string, unknown>;
  /** e.g. `name=seccomp,profile=builtin`, `name=userns`, `name=rootless`. */
  SecurityOptions?: string[];
}

/** Whether the engine runs containers in remapped user namespaces (daemon `userns-remap`, or a rootless engine). */
export function usernsRemapped(info: EngineInfo): boolean {
  return (info.SecurityOptions ?? []).some((o) => o === 'name=userns' || o === 'name=rootless' || o.startsWith('name=userns,') || o.startsWith('name=rootless,'));
}

/** A started container attached to our end of its stdin/stdout/stderr. */
interface Slot extends PoolSlot {
  container: Docker.Container;
  socket: Duplex;
  /** Resolves with the exit status (rejects if the engine cannot tell). */
  exited: Promise<number>;
  warm: boolean;
  startMs: number;
  gone: boolean;
}

const noop = (): void => undefined;
const SILENT_LOGGER: SandboxLogger = { debug: noop, info: noop, warn: noop, error: noop };
/** After the container exited, how long to wait for docker to deliver the rest of its output. */
const STREAM_CLOSE_GRACE_MS = 5_000;

/** Runs transforms in throw-away containers of the sandbox image; see buildContainerSpec for the hardening. */
export class DockerSandboxDriver implements SandboxDriver {
  readonly image: string;
  readonly runtime: SandboxRuntime;
  private readonly harnessGuard: boolean;
  private readonly seccomp: SeccompChoice;
  private readonly initProcess: boolean;
  private readonly requireUserns: boolean;
  /** Owner id written on every container of this driver (label aoetl.owner). */
  readonly ownerId: string;
  private readonly owner: ContainerOwner;
  private readonly docker: Docker;
  private readonly defaults: SandboxLimits;
  private readonly log: SandboxLogger;
  private readonly stderrTailBytes: number;
  private readonly pool: WarmPool<Slot> | undefined;
  private readonly reapIntervalMs: number;
  private readonly reapRules: Pick<ReapOptions, 'maxAgeMs' | 'graceMs'>;
  private readonly onEvent: ((event: SandboxEvent) => void) | undefined;
  private reaper: NodeJS.Timeout | undefined;
  private ready: Promise<void> | undefined;
  private closed = false;
  /** Containers of this driver (running a run, starting or waiting in the pool). */
  private readonly active = new Map<string, Docker.Container>();
  private readonly runs = new RunSet();

  constructor(options: DockerSandboxDriverOptions) {
    this.image = options.image;
    this.runtime = options.runtime ?? 'runsc';
    this.log = options.logger ?? SILENT_LOGGER;
    assertRuntimeAllowed(this.runtime, options.allowRunc, this.log);
    this.harnessGuard = options.harnessGuard ?? true;
    this.seccomp = options.seccomp ?? 'harness';
    this.initProcess = options.init ?? false;
    this.requireUserns = options.requireUserns ?? false;
    if (this.initProcess && this.runtime !== 'runsc') throw new SandboxConfigError('AOETL_SANDBOX_INIT=true needs AOETL_SANDBOX_RUNTIME=runsc (under runc the harness seccomp allowlist cannot fork an init)');
    this.docker =
      options.docker ?? new Docker(dockerConnectionOptions({ socketPath: options.socketPath ?? DEFAULT_DOCKER_SOCKET, remote: options.remote }));
    this.defaults = resolveLimits(options.limits);
    this.stderrTailBytes = options.stderrTailBytes ?? 64 * 1024;
    this.ownerId = randomUUID();
    this.owner = currentOwner(this.ownerId);
    this.reapIntervalMs = options.reapIntervalMs ?? DEFAULT_REAP_INTERVAL_MS;
    this.reapRules = options.reap ?? {};
    this.onEvent = options.onEvent;
    const poolSize = options.pool?.size ?? 0;
    this.pool =
      poolSize > 0
        ? new WarmPool<Slot>({
            size: poolSize,
            maxIdleMs: options.pool?.maxIdleMs,
            start: () => this.startSlot(POOL_RUN_ID, this.defaults, true),
            destroy: (slot) => this.destroySlot(slot),
            logger: this.log,
          })
        : undefined;
  }

  /** Creates a driver and checks the engine (see init). */
  static async create(options: DockerSandboxDriverOptions): Promise<DockerSandboxDriver> {
    const driver = new DockerSandboxDriver(options);
    await driver.init();
    return driver;
  }

  /**
   * Checks that the engine answers, offers the configured runtime and has the image (throws
   * SandboxRuntimeUnavailableError / SandboxImageMissingError), reaps orphaned sandboxes, starts
   * the periodic reaper and fills the warm pool. run() calls it once.
   */
  init(): Promise<void> {
    this.ready ??= this.start().catch((err: unknown) => {
      this.ready = undefined; // let a later call retry
      throw err;
    });
    return this.ready;
  }

  /** Resolves when the warm pool is full (at once without a pool). */
  async warmUp(): Promise<void> {
    await this.init();
    await this.pool?.ready();
  }

  /** Warm containers waiting now. */
  get poolAvailable(): number {
    return this.pool?.available ?? 0;
  }

  private async start(): Promise<void> {
    await this.checkEngine();
    if (this.closed) throw new SandboxClosedError();
    await this.reapOrphans();
    if (this.reapIntervalMs > 0 && this.reaper === undefined) {
      this.reaper = setInterval(() => {
        this.reapOrphans().catch((err: unknown) => this.log.warn({ err }, 'periodic sandbox reaping failed'));
      }, this.reapIntervalMs);
      this.reaper.unref();
    }
    this.pool?.fill();
  }

  private async checkEngine(): Promise<void> {
    const info = (await this.docker.info()) as EngineInfo;
    const available = Object.keys(info.Runtimes ?? {});
    if (!available.includes(this.runtime)) throw new SandboxRuntimeUnavailableError(this.runtime, available);
    if (!usernsRemapped(info)) {
      if (this.requireUserns) throw new SandboxUsernsUnavailableError();
      this.log.warn({ runtime: this.runtime }, 'the docker engine does not remap user namespaces (userns-remap): sandbox uid 65532 is the host uid 65532');
    }
    try {
      await this.docker.getImage(this.image).inspect();
    } catch (err) {
      if (statusCode(err) === 404) throw new SandboxImageMissingError(this.image);
      throw err;
    }
    this.log.debug({ image: this.image, runtime: this.runtime }, 'sandbox engine ready');
  }

  async run(req: SandboxRunRequest): Promise<SandboxResult> {
    if (this.closed) throw new SandboxClosedError();
    const prepared = prepareRun(req, this.defaults);
    await this.init();
    return this.runs.track(this.runContainer(req, prepared));
  }

  private async runContainer(req: SandboxRunRequest, prepared: PreparedRun): Promise<SandboxResult> {
    const started = performance.now();
    const { limits } = prepared;
    const warm = this.pool && fitsContainer(limits, this.defaults) ? this.pool.take() : undefined;
    const slot = warm ?? (await this.startSlot(req.runId, limits, false));
    const startMs = slot.warm ? Math.round((performance.now() - started) * 10) / 10 : slot.startMs;
    const log = { containerId: slot.container.id, runId: req.runId, runtime: this.runtime, warm: slot.warm };
    this.log.debug(log, 'sandbox container ready');
    try {
      if (this.closed) throw new SandboxClosedError();
      const result = await this.execute(slot, req, prepared, started, startMs);
      this.log.info({ ...log, kind: result.kind, durationMs: result.durationMs, bytesOut: result.bytesOut }, 'sandbox run finished');
      this.emit(req.runId, result);
      return result;
    } finally {
      await this.destroySlot(slot);
    }
  }

  private emit(runId: string, result: SandboxResult): void {
    if (!this.onEvent) return;
    try {
      this.onEvent(sandboxEvent(runId, result, { runtime: this.runtime }));
    } catch (err) {
      this.log.warn({ err, runId }, 'sandbox event handler failed');
    }
  }

  /** Creates, attaches and starts a container; it then waits for its input line. */
  private async startSlot(runId: string, limits: SandboxLimits, pool: boolean): Promise<Slot> {
    if (this.closed) throw new SandboxClosedError();
    const t0 = performance.now();
    const container = await this.docker.createContainer(
      buildContainerSpec({ image: this.image, runtime: this.runtime, runId, limits, owner: this.owner, pool, harnessGuard: this.harnessGuard, seccomp: this.seccomp, init: this.initProcess }),
    );
    this.active.set(container.id, container);
    let socket: Duplex | undefined;
    try {
      socket = (await container.attach({ stream: true, hijack: true, stdin: true, stdout: true, stderr: true })) as unknown as Duplex;
      socket.on('error', (err) => this.log.debug({ containerId: container.id, err }, 'attach stream error')); // EPIPE once the container exited
      if (this.closed) throw new SandboxClosedError();
      await container.start();
      const exited = container.wait().then((r: { StatusCode: number }) => r.StatusCode);
      const slot: Slot = { container, socket, exited, warm: pool, startMs: Math.round((performance.now() - t0) * 10) / 10, gone: false };
      const markGone = (): void => {
        slot.gone = true;
      };
      exited.then(markGone, markGone);
      socket.once('close', markGone);
      return slot;
    } catch (err) {
      socket?.destroy();
      await this.removeContainer(container);
      throw err;
    }
  }

  private async destroySlot(slot: Slot): Promise<void> {
    slot.gone = true;
    slot.socket.destroy();
    await this.removeContainer(slot.container);
  }

  private async removeContainer(container: Docker.Container): Promise<void> {
    try {
      await container.remove({ force: true, v: true });
    } catch (err) {
      if (statusCode(err) !== 404) this.log.warn({ containerId: container.id, err }, 'could not remove sandbox container');
    } finally {
      this.active.delete(container.id);
    }
  }

  private async execute(slot: Slot, req: SandboxRunRequest, prepared: PreparedRun, started: number, startMs: number): Promise<SandboxResult> {
    const { container, socket: attached } = slot;
    const containerId = container.id;
    const io = new HarnessSession({
      ...prepared,
      req,
      stderrTailBytes: this.stderrTailBytes,
      kill: (why) => {
        this.log.debug({ containerId, why }, 'killing sandbox container');
        container.kill({ signal: 'SIGKILL' }).catch(noop); // 404/409: already gone
      },
    });
    let exitCode: number;
    try {
      // 'end' = docker delivered all output (it may still wait for our stdin side to close).
      const outputDelivered = new Promise<boolean>((resolve) => {
        if (attached.readableEnded || attached.destroyed) resolve(true);
        attached.once('end', () => resolve(true));
        attached.once('close', () => resolve(true));
      });
      this.docker.modem.demuxStream(attached, io.stdout, io.stderr);
      // demuxStream ignores write() results: pause the socket while the stdout sink is full.
      attached.on('data', () => {
        if (io.stdout.writableNeedDrain && !attached.isPaused()) {
          attached.pause();
          io.stdout.once('drain', () => attached.resume());
        }
      });
      // The pipe ends (half-closes) the socket at the end of the input, which docker turns into EOF on the
      // container's stdin (StdinOnce).
      io.feed(attached);
      exitCode = await slot.exited;
      // Take the output that is left, then drop the connection (and any input not yet sent).
      const grace = sleep(STREAM_CLOSE_GRACE_MS, undefined, { unref: true }).then(() => false);
      if (!(await Promise.race([outputDelivered, grace]))) {
        this.log.warn({ containerId }, 'attach stream still open after the container exited');
      }
      attached.destroy();
      await io.drain();
    } finally {
      io.dispose();
      attached.destroy();
    }
    return io.result({ containerId, durationMs: Math.round(performance.now() - started), warm: slot.warm, startMs }, async () => {
      const state = (await container.inspect().catch(() => undefined))?.State;
      return { exitCode, oomKilled: state?.OOMKilled === true, ...(this.closed ? { endedBy: DRIVER_CLOSED_REASON } : {}) };
    });
  }

  /**
   * Removes orphaned sandbox containers (see reapReason): those of dead agents on this host, stopped
   * ones, ones older than the maximum age; never the ones this driver uses or other live agents' ones.
   */
  reapOrphans(options: Omit<ReapOptions, 'ownerId' | 'keep'> = {}): Promise<string[]> {
    return reapOrphans(this.docker, { ...this.reapRules, ...options, ownerId: this.ownerId, keep: new Set(this.active.keys()) }, this.log);
  }

  /** Kills the running sandboxes (their runs end with exit_error), empties the pool and refuses new runs. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.reaper) clearInterval(this.reaper);
    this.reaper = undefined;
    await Promise.all([...this.active.values()].map((c) => c.kill({ signal: 'SIGKILL' }).catch(noop)));
    await this.runs.settled();
    await this.pool?.close();
    await Promise.allSettled([this.ready]);
  }
}

function statusCode(err: unknown): number | undefined {
  const code = (err as { statusCode?: unknown } | null)?.statusCode;
  return typeof code === 'number' ? code : undefined;
}
