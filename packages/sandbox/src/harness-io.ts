/**
 * The harness I/O of one sandbox run, the same for every driver: feeds stdin (the header line, then the
 * caller's rows, counted), takes stdout (the header line, checked, then rows to the caller's sink with
 * backpressure and the output byte limit), keeps the tail of stderr, enforces the wall-clock limit, and
 * turns what it saw plus the process's exit into a SandboxResult (see runResult).
 *
 * A driver only moves bytes: it connects its transport (Docker's attach socket, the Kubernetes attach
 * WebSocket) to `stdout`/`stderr` and to the stdin writable it passes to `feed`, and kills the sandbox when
 * told to.
 */
import { Transform, Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { SandboxError } from './errors.js';
import { resolveLimits } from './limits.js';
import { encodeInputHeader, HeaderSplitter, parseOutputHeader, RowCounter, TailBuffer } from './protocol.js';
import { runResult, type HarnessObservation, type SandboxExit } from './results.js';
import type { SandboxLimits, SandboxResult, SandboxResultBase, SandboxRunRequest } from './types.js';

const MiB = 1024 * 1024;

/** A run request checked before any sandbox starts: its limits over the driver's defaults, and its input header. */
export interface PreparedRun {
  limits: SandboxLimits;
  header: string;
}

/** Resolves the limits and encodes the header (throws on bad limits or mismatched columns and types). */
export function prepareRun(req: SandboxRunRequest, defaults: SandboxLimits): PreparedRun {
  const limits = resolveLimits(req.limits, defaults);
  const header = encodeInputHeader({ code: req.code, columns: req.columns, types: req.types, outputColumns: req.outputColumns });
  return { limits, header };
}

/** The runs a driver has in flight, so that close() can wait for them. */
export class RunSet {
  private readonly runs = new Set<Promise<unknown>>();

  async track<T>(run: Promise<T>): Promise<T> {
    this.runs.add(run);
    try {
      return await run;
    } finally {
      this.runs.delete(run);
    }
  }

  /** Resolves when every run in flight has settled. */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.runs]);
  }
}

export interface HarnessSessionOptions extends PreparedRun {
  req: SandboxRunRequest;
  /** How much of stderr to keep. */
  stderrTailBytes: number;
  /** Kills the sandbox process (called at most once, with the reason). Must not throw. */
  kill: (why: string) => void;
}

export class HarnessSession {
  /** The container's stdout: the header line, then rows. Pause the transport while `writableNeedDrain`. */
  readonly stdout: Writable;
  /** The container's stderr. */
  readonly stderr: Writable;
  private readonly req: SandboxRunRequest;
  private readonly limits: SandboxLimits;
  private readonly driverKill: (why: string) => void;
  private readonly splitter = new HeaderSplitter();
  private readonly stderrTail: TailBuffer;
  private readonly rowCounter = new RowCounter();
  private readonly counter: Transform;
  private readonly giveUp = new AbortController(); // releases a pending wait for output drain
  private readonly timer: NodeJS.Timeout;
  private readonly onInputError: (err: Error) => void;
  private readonly onOutputError: (err: Error) => void;
  private readonly onInputEnd = (): void => {
    this.inputEnded = true;
  };
  private stdin: Writable | undefined;
  private outputColumns: string[] | undefined;
  private bytesOut = 0;
  private inputEnded = false;
  private timedOut = false;
  private outputLimitHit = false;
  private protocolError: string | undefined;
  private failure: Error | undefined; // caller-side stream failure: rethrown
  /** Why the session killed the sandbox (first reason), if it did. */
  killedBy: string | undefined;

  /** Starts the wall-clock limit at once. */
  constructor(private readonly options: HarnessSessionOptions) {
    this.req = options.req;
    this.limits = options.limits;
    this.driverKill = options.kill;
    this.stderrTail = new TailBuffer(options.stderrTailBytes);
    // stdout: header line, then rows to the caller's sink (with backpressure, up to the byte cap).
    this.stdout = new Writable({
      highWaterMark: MiB,
      write: (chunk: Buffer, _encoding, done) => this.takeStdout(chunk, done),
    });
    this.stderr = new Writable({
      write: (chunk: Buffer, _encoding, done) => {
        this.stderrTail.push(chunk);
        done();
      },
    });
    const rowCounter = this.rowCounter;
    this.counter = new Transform({
      transform(chunk: Buffer | string, _encoding, done) {
        rowCounter.push(chunk);
        done(null, chunk);
      },
    });
    this.onOutputError = this.fail('output');
    this.onInputError = this.fail('input');
    this.req.output.on('error', this.onOutputError);
    this.req.input.once('error', this.onInputError);
    this.req.input.once('end', this.onInputEnd);
    this.timer = setTimeout(() => {
      this.timedOut = true;
      this.kill('timeout');
    }, this.limits.timeoutMs);
  }

  /** Kills the sandbox once (later calls do nothing); output arriving afterwards is dropped. */
  kill(why: string): void {
    if (this.killedBy !== undefined) return;
    this.killedBy = why;
    this.giveUp.abort();
    this.driverKill(why);
  }

  /**
   * Writes the header line and pipes the caller's rows into `stdin`; the pipe ends `stdin` at the end of the
   * input, which the transport must turn into EOF on the container's stdin.
   */
  feed(stdin: Writable): void {
    this.stdin = stdin;
    stdin.write(this.options.header);
    this.req.input.pipe(this.counter).pipe(stdin);
  }

  /** Stops reading the caller's input (nobody takes it any more). */
  stopInput(): void {
    this.req.input.unpipe(this.counter);
  }

  /** After the transport delivered everything: ends the sinks and waits until they took it all. */
  async drain(): Promise<void> {
    this.stdout.end();
    this.stderr.end();
    await Promise.all([finished(this.stdout), finished(this.stderr)]);
  }

  /** Releases the timer and every listener on the caller's streams; call on every path. */
  dispose(): void {
    clearTimeout(this.timer);
    this.req.input.unpipe(this.counter);
    if (this.stdin) this.counter.unpipe(this.stdin);
    this.req.input.off('error', this.onInputError);
    this.req.input.off('end', this.onInputEnd);
    this.req.output.off('error', this.onOutputError);
  }

  /** What the session saw; throws the caller-side stream failure if there was one. */
  observation(): HarnessObservation {
    if (this.failure) throw this.failure;
    return {
      bytesOut: this.bytesOut,
      outputColumns: this.outputColumns,
      rowsIn: this.inputEnded ? this.rowCounter.rows : undefined,
      timedOut: this.timedOut,
      outputLimitHit: this.outputLimitHit,
      protocolError: this.protocolError,
      stderrTail: this.stderrTail.toString(),
    };
  }

  /**
   * The result of the run (after dispose). `exit` is asked only when a limit did not already decide the result.
   * Throws the caller-side stream failure if there was one.
   */
  async result(base: Omit<SandboxResultBase, 'bytesOut'>, exit: () => SandboxExit | Promise<SandboxExit>): Promise<SandboxResult> {
    const seen = this.observation();
    const ended = seen.timedOut || seen.outputLimitHit ? undefined : await exit();
    return runResult({ ...base, bytesOut: seen.bytesOut }, seen, ended, this.limits);
  }

  private fail(what: string) {
    return (err: Error): void => {
      this.failure ??= new SandboxError(`${what} stream failed: ${err.message}`, { cause: err });
      this.kill(`${what} stream error`);
    };
  }

  private takeStdout(chunk: Buffer, done: () => void): void {
    if (this.outputLimitHit || this.protocolError !== undefined || this.killedBy !== undefined) return done();
    let rows: Buffer;
    try {
      rows = this.splitter.push(chunk);
      if (this.outputColumns === undefined && this.splitter.header !== undefined) {
        this.outputColumns = parseOutputHeader(this.splitter.header, this.req.outputColumns);
      }
    } catch (err) {
      this.protocolError = (err as Error).message;
      this.kill('protocol violation');
      return done();
    }
    if (rows.length === 0) return done();
    if (this.bytesOut + rows.length > this.limits.maxOutputBytes) {
      this.outputLimitHit = true;
      this.kill('output limit');
      return done();
    }
    this.bytesOut += rows.length;
    if (this.req.output.write(rows)) return done();
    void waitForDrain(this.req.output, this.giveUp.signal).then(() => done());
  }
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
