import { performance } from 'node:perf_hooks';
import { Transform, Writable, type Duplex } from 'node:stream';
import { finished } from 'node:stream/promises';
import Docker from 'dockerode';
import { buildContainerSpec, SANDBOX_LABEL } from './container-spec.js';
import { SandboxClosedError, SandboxError, SandboxImageMissingError, SandboxRuntimeUnavailableError } from './errors.js';
import { resolveLimits } from './limits.js';
import {
  encodeInputHeader,
  HARNESS_ERROR_EXIT_CODE,
  HeaderSplitter,
  parseHarnessError,
  parseOutputHeader,
  RowCounter,
  TailBuffer,
} from './protocol.js';
import type {
  SandboxDriver,
  SandboxLimits,
  SandboxLogger,
  SandboxResult,
  SandboxResultBase,
  SandboxRunRequest,
  SandboxRuntime,
} from './types.js';

export const DEFAULT_DOCKER_SOCKET = '/var/run/docker.sock';

export interface DockerSandboxDriverOptions {
  /** Sandbox image, e.g. aoetl/sandbox-python:<hash> (AOETL_SANDBOX_IMAGE). */
  image: string;
  /** Container runtime (AOETL_SANDBOX_RUNTIME); default runsc. */
  runtime?: SandboxRuntime;
  /** Docker engine socket (AOETL_DOCKER_SOCKET); default /var/run/docker.sock. */
  socketPath?: string;
  /** A ready client instead of socketPath. */
  docker?: Docker;
  /** Default limits of every run (requests may override them). */
  limits?: Partial<SandboxLimits>;
  logger?: SandboxLogger;
  /** How much of stderr to keep for errors; default 64 KiB. */
  stderrTailBytes?: number;
}

export interface ReapOptions {
  /** Only remove containers created at least this long ago. */
  olderThanMs?: number;
}

const noop = (): void => undefined;
const SILENT_LOGGER: SandboxLogger = { debug: noop, info: noop, warn: noop, error: noop };
/** After the container exited, how long to wait for docker to deliver the rest of its output. */
const STREAM_CLOSE_GRACE_MS = 5_000;

/** Runs transforms in throw-away containers of the sandbox image; see buildContainerSpec for the hardening. */
export class DockerSandboxDriver implements SandboxDriver {
  readonly image: string;
  readonly runtime: SandboxRuntime;
  private readonly docker: Docker;
  private readonly defaults: SandboxLimits;
  private readonly log: SandboxLogger;
  private readonly stderrTailBytes: number;
  private ready: Promise<void> | undefined;
  private closed = false;
  /** Running containers (id -> container) and their run promises. */
  private readonly active = new Map<string, Docker.Container>();
  private readonly runs = new Set<Promise<unknown>>();

  constructor(options: DockerSandboxDriverOptions) {
    this.image = options.image;
    this.runtime = options.runtime ?? 'runsc';
    this.docker = options.docker ?? new Docker({ socketPath: options.socketPath ?? DEFAULT_DOCKER_SOCKET });
    this.defaults = resolveLimits(options.limits);
    this.log = options.logger ?? SILENT_LOGGER;
    this.stderrTailBytes = options.stderrTailBytes ?? 64 * 1024;
  }

  /** Creates a driver and checks the engine (see init). */
  static async create(options: DockerSandboxDriverOptions): Promise<DockerSandboxDriver> {
    const driver = new DockerSandboxDriver(options);
    await driver.init();
    return driver;
  }

  /**
   * Checks that the engine answers, offers the configured runtime and has the image.
   * Throws SandboxRuntimeUnavailableError / SandboxImageMissingError. run() calls it once.
   */
  init(): Promise<void> {
    this.ready ??= this.checkEngine().catch((err: unknown) => {
      this.ready = undefined; // let a later call retry
      throw err;
    });
    return this.ready;
  }

  private async checkEngine(): Promise<void> {
    const info = (await this.docker.info()) as { Runtimes?: Record<string, unknown> };
    const available = Object.keys(info.Runtimes ?? {});
    if (!available.includes(this.runtime)) throw new SandboxRuntimeUnavailableError(this.runtime, available);
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
    const limits = resolveLimits(req.limits, this.defaults);
    const header = encodeInputHeader({ code: req.code, columns: req.columns, types: req.types, outputColumns: req.outputColumns });
    await this.init();
    const promise = this.runContainer(req, header, limits);
    this.runs.add(promise);
    try {
      return await promise;
    } finally {
      this.runs.delete(promise);
    }
  }

  private async runContainer(req: SandboxRunRequest, header: string, limits: SandboxLimits): Promise<SandboxResult> {
    const started = performance.now();
    const container = await this.docker.createContainer(
      buildContainerSpec({ image: this.image, runtime: this.runtime, runId: req.runId, limits }),
    );
    this.active.set(container.id, container);
    const log = { containerId: container.id, runId: req.runId, runtime: this.runtime };
    this.log.debug(log, 'sandbox container created');
    try {
      const result = await this.execute(container, req, header, limits, started);
      this.log.info({ ...log, kind: result.kind, durationMs: result.durationMs, bytesOut: result.bytesOut }, 'sandbox run finished');
      return result;
    } finally {
      this.active.delete(container.id);
      await container.remove({ force: true, v: true }).catch((err: unknown) => {
        if (statusCode(err) !== 404) this.log.warn({ ...log, err }, 'could not remove sandbox container');
      });
    }
  }

  private async execute(
    container: Docker.Container,
    req: SandboxRunRequest,
    header: string,
    limits: SandboxLimits,
    started: number,
  ): Promise<SandboxResult> {
    const containerId = container.id;
    const splitter = new HeaderSplitter();
    const stderr = new TailBuffer(this.stderrTailBytes);
    const rowCounter = new RowCounter();
    const giveUp = new AbortController(); // releases a pending wait for output drain
    let outputColumns: string[] | undefined;
    let bytesOut = 0;
    let inputEnded = false;
    let timedOut = false;
    let outputLimitHit = false;
    let protocolError: string | undefined;
    let failure: Error | undefined; // caller-side stream failure: rethrown

    const kill = (why: string): void => {
      this.log.debug({ containerId, why }, 'killing sandbox container');
      container.kill({ signal: 'SIGKILL' }).catch(noop); // 404/409: already gone
    };
    const fail = (what: string) => (err: Error) => {
      failure ??= new SandboxError(`${what} stream failed: ${err.message}`, { cause: err });
      giveUp.abort();
      kill(`${what} stream error`);
    };

    // stdout: header line, then rows to the caller's sink (with backpressure, up to the byte cap).
    const stdoutSink = new Writable({
      highWaterMark: 1024 * 1024,
      write: (chunk: Buffer, _encoding, done) => {
        if (outputLimitHit || protocolError !== undefined || failure) return done();
        let rows: Buffer;
        try {
          rows = splitter.push(chunk);
          if (outputColumns === undefined && splitter.header !== undefined) {
            outputColumns = parseOutputHeader(splitter.header, req.outputColumns);
          }
        } catch (err) {
          protocolError = (err as Error).message;
          kill('protocol violation');
          return done();
        }
        if (rows.length === 0) return done();
        if (bytesOut + rows.length > limits.maxOutputBytes) {
          outputLimitHit = true;
          kill('output limit');
          return done();
        }
        bytesOut += rows.length;
        if (req.output.write(rows)) return done();
        void waitForDrain(req.output, giveUp.signal).then(() => done());
      },
    });
    const stderrSink = new Writable({
      write: (chunk: Buffer, _encoding, done) => {
        stderr.push(chunk);
        done();
      },
    });
    const onOutputError = fail('output');
    req.output.on('error', onOutputError);

    // stdin: header line, then the caller's rows; the pipe ends (half-closes) the socket at the
    // end of the input, which docker turns into EOF on the container's stdin (StdinOnce).
    const counter = new Transform({
      transform(chunk: Buffer | string, _encoding, done) {
        rowCounter.push(chunk);
        done(null, chunk);
      },
    });
    const onInputError = fail('input');
    const onInputEnd = (): void => {
      inputEnded = true;
    };
    req.input.once('error', onInputError);
    req.input.once('end', onInputEnd);

    const timer = setTimeout(() => {
      timedOut = true;
      giveUp.abort();
      kill('timeout');
    }, limits.timeoutMs);
    let socket: Duplex | undefined;
    let exitCode: number;
    try {
      const attached = (await container.attach({
        stream: true,
        hijack: true,
        stdin: true,
        stdout: true,
        stderr: true,
      })) as unknown as Duplex;
      socket = attached;
      // 'end' = docker delivered all output (it may still wait for our stdin side to close).
      const outputDelivered = new Promise<boolean>((resolve) => {
        attached.once('end', () => resolve(true));
        attached.once('close', () => resolve(true));
      });
      attached.on('error', (err) => this.log.debug({ containerId, err }, 'attach stream error')); // EPIPE once the container exited
      this.docker.modem.demuxStream(attached, stdoutSink, stderrSink);
      // demuxStream ignores write() results: pause the socket while the stdout sink is full.
      attached.on('data', () => {
        if (stdoutSink.writableNeedDrain && !attached.isPaused()) {
          attached.pause();
          stdoutSink.once('drain', () => attached.resume());
        }
      });

      if (this.closed) throw new SandboxClosedError();
      await container.start();
      // A kill before start (close, timeout, input error) found nothing running: repeat it.
      if (this.closed || timedOut || failure) kill('stopped before it started');
      attached.write(header);
      req.input.pipe(counter).pipe(attached);
      exitCode = ((await container.wait()) as { StatusCode: number }).StatusCode;
      // Take the output that is left, then drop the connection (and any input not yet sent).
      if (!(await Promise.race([outputDelivered, delay(STREAM_CLOSE_GRACE_MS, false)]))) {
        this.log.warn({ containerId }, 'attach stream still open after the container exited');
      }
      attached.destroy();
      stdoutSink.end();
      stderrSink.end();
      await Promise.all([finished(stdoutSink), finished(stderrSink)]);
    } finally {
      clearTimeout(timer);
      req.input.unpipe(counter);
      if (socket) counter.unpipe(socket);
      socket?.destroy();
      req.input.off('error', onInputError);
      req.input.off('end', onInputEnd);
      req.output.off('error', onOutputError);
    }

    if (failure) throw failure;
    const base: SandboxResultBase = { containerId, durationMs: Math.round(performance.now() - started), bytesOut };
    if (timedOut) return { ...base, kind: 'timeout', timeoutMs: limits.timeoutMs };
    if (outputLimitHit) return { ...base, kind: 'output_limit', maxOutputBytes: limits.maxOutputBytes };

    const state = (await container.inspect().catch(() => undefined))?.State;
    const harnessError = exitCode === HARNESS_ERROR_EXIT_CODE ? parseHarnessError(stderr.toString()) : undefined;
    if (state?.OOMKilled || harnessError?.type === 'MemoryError') {
      return { ...base, kind: 'oom', memoryBytes: limits.memoryBytes };
    }
    if (harnessError) {
      return { ...base, kind: 'transform_error', errorType: harnessError.type, message: harnessError.message, traceback: harnessError.traceback };
    }
    if (exitCode === 0 && protocolError === undefined && outputColumns !== undefined) {
      return { ...base, kind: 'ok', outputColumns, ...(inputEnded ? { rowsIn: rowCounter.rows } : {}) };
    }
    const reason =
      protocolError ??
      (this.closed ? 'killed: sandbox driver closed' : exitCode === 0 ? 'exited without an output header' : `exit status ${exitCode}`);
    return { ...base, kind: 'exit_error', exitCode, stderrTail: stderr.toString(), reason };
  }

  /** Removes containers labelled aoetl.sandbox=1 that no run of this driver is using. */
  async reapOrphans(options: ReapOptions = {}): Promise<string[]> {
    const removed = await reapOrphans(this.docker, { ...options, skip: new Set(this.active.keys()) }, this.log);
    return removed;
  }

  /** Kills the running sandboxes (their runs end with exit_error) and refuses new runs. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.active.values()].map((c) => c.kill({ signal: 'SIGKILL' }).catch(noop)));
    await Promise.allSettled([...this.runs]);
  }
}

/**
 * Removes sandbox containers (label aoetl.sandbox=1), e.g. left behind by a crashed agent.
 * Returns the removed container ids.
 */
export async function reapOrphans(
  docker: Docker,
  options: ReapOptions & { skip?: ReadonlySet<string> } = {},
  log: SandboxLogger = SILENT_LOGGER,
): Promise<string[]> {
  const containers = await docker.listContainers({ all: true, filters: { label: [`${SANDBOX_LABEL}=1`] } });
  const cutoffSeconds = (Date.now() - (options.olderThanMs ?? 0)) / 1000;
  const removed: string[] = [];
  for (const c of containers) {
    if (options.skip?.has(c.Id) || c.Created > cutoffSeconds) continue;
    try {
      await docker.getContainer(c.Id).remove({ force: true, v: true });
      removed.push(c.Id);
    } catch (err) {
      if (statusCode(err) !== 404 && statusCode(err) !== 409) log.warn({ containerId: c.Id, err }, 'could not reap sandbox container');
    }
  }
  if (removed.length > 0) log.info({ count: removed.length }, 'reaped orphaned sandbox containers');
  return removed;
}

function statusCode(err: unknown): number | undefined {
  const code = (err as { statusCode?: unknown } | null)?.statusCode;
  return typeof code === 'number' ? code : undefined;
}

function delay<T>(ms: number, value: T): Promise<T> {
  return new Promise((resolve) => setTimeout(resolve, ms, value).unref());
}

/** Resolves when `stream` drains, closes or fails, or when `signal` aborts. */
function waitForDrain(stream: Writable, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const settle = (): void => {
      stream.off('drain', settle);
      stream.off('close', settle);
      stream.off('error', settle);
      signal.removeEventListener('abort', settle);
      resolve();
    };
    stream.on('drain', settle);
    stream.on('close', settle);
    stream.on('error', settle);
    signal.addEventListener('abort', settle);
    if (signal.aborted || stream.destroyed) settle();
  });
}
