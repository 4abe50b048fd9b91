import type { Readable, Writable } from 'node:stream';

/** Container runtimes the driver can use: plain runc, or gVisor's runsc (user-space kernel). */
export type SandboxRuntime = 'runc' | 'runsc';

/** Resource limits of one sandbox run. */
export interface SandboxLimits {
  /** Wall-clock limit for the whole run (start, input, transform, output), in ms. */
  timeoutMs: number;
  /** Memory limit (swap is set equal, so no swap), in bytes. */
  memoryBytes: number;
  /** CPU quota in cores (1 = one full core). */
  cpus: number;
  /** Maximum number of processes/threads. */
  pidsLimit: number;
  /** Maximum bytes of output rows (after the header line) passed to the output sink. */
  maxOutputBytes: number;
  /** Size of the writable /tmp (tmpfs, noexec), in bytes. */
  tmpfsBytes: number;
  /** Open file descriptors (soft = hard). */
  nofile: number;
}

export interface SandboxRunRequest {
  /** Label for the container (`aoetl.run`), e.g. the ETL run id. */
  runId: string;
  /** Python source that defines `transform(rows: list[dict]) -> list[dict]` (and may set OUTPUT_COLUMNS). */
  code: string;
  /** Input column names and their PostgreSQL type names (int4, numeric, text, ...). */
  columns: string[];
  types: string[];
  /**
   * The output columns the caller expects (e.g. the target table's), in its order: the harness
   * writes fields in this order and fails with InvalidOutput when a row has other keys.
   * Without it the output columns are OUTPUT_COLUMNS from the code or the first row's keys.
   */
  outputColumns?: string[];
  /** Input rows in PostgreSQL COPY text format (e.g. a `COPY ... TO STDOUT` stream). */
  input: Readable;
  /**
   * Receives the output rows in COPY text format, without the header line, with backpressure.
   * The driver never ends or destroys it: on `ok` end it, otherwise discard what it got.
   */
  output: Writable;
  /** Overrides of the driver's default limits. */
  limits?: Partial<SandboxLimits>;
}

/** Fields every result carries. */
export interface SandboxResultBase {
  containerId: string;
  /** From container creation until the run settled. */
  durationMs: number;
  /** Bytes of output rows written to the output sink. */
  bytesOut: number;
  /** The run used a pre-started warm-pool container. */
  warm?: boolean;
  /** Time until the container was running and ready for input (about 0 when warm), in ms. */
  startMs?: number;
}

export interface SandboxOk extends SandboxResultBase {
  kind: 'ok';
  outputColumns: string[];
  /** Input rows sent (newline count of the input), when the input was fully sent. */
  rowsIn?: number;
  /** CPU time the transform's process used, as the harness reported it (counted against the run's CPU budget). */
  cpuMs?: number;
}

/** The user code raised (or defined no transform, or returned something that is not a list of uniform dicts). */
export interface SandboxTransformError extends SandboxResultBase {
  kind: 'transform_error';
  /** Python exception type (e.g. ValueError) or a harness type (InvalidTransform, InvalidOutput, InputError). */
  errorType: string;
  message: string;
  traceback: string;
}

export interface SandboxTimeout extends SandboxResultBase {
  kind: 'timeout';
  timeoutMs: number;
}

export interface SandboxOom extends SandboxResultBase {
  kind: 'oom';
  memoryBytes: number;
}

export interface SandboxOutputLimit extends SandboxResultBase {
  kind: 'output_limit';
  maxOutputBytes: number;
}

/** Any other ending: unexpected exit status, missing/invalid output header, killed from outside. */
export interface SandboxExitError extends SandboxResultBase {
  kind: 'exit_error';
  exitCode: number;
  stderrTail: string;
  reason: string;
}

export type SandboxResult =
  | SandboxOk
  | SandboxTransformError
  | SandboxTimeout
  | SandboxOom
  | SandboxOutputLimit
  | SandboxExitError;

export interface SandboxDriver {
  /** Runs one transform. Resolves with the outcome; rejects only for infrastructure failures. */
  run(req: SandboxRunRequest): Promise<SandboxResult>;
  /** Kills running sandboxes and releases resources. */
  close(): Promise<void>;
}

/** pino-compatible logger subset. */
export interface SandboxLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}
