import { HARNESS_ERROR_EXIT_CODE, parseHarnessError, parseHarnessUsage } from './protocol.js';
import type { SandboxLimits, SandboxResult, SandboxResultBase, SandboxRuntime } from './types.js';

/** The outcome of code that the static policy check refused: it never reached a container. */
export interface PolicyRefusal {
  kind: 'policy_refused';
  reasons: PolicyReason[];
}

/** One rule the code broke, with its line (1-based; 0 = the whole code). */
export interface PolicyReason {
  rule: string;
  line: number;
  message: string;
}

/** Result codes, one per result kind. */
export type SandboxOutcomeCode = SandboxResult['kind'] | PolicyRefusal['kind'];

/**
 * Which outcomes are security-relevant ("violations"): the code did something the boundary had to
 * stop. policy_refused: forbidden constructs; timeout, oom, output_limit: a limit had to be
 * enforced; exit_error: the process ended outside the harness's control (killed by a signal,
 * os._exit, a forged or corrupt data stream) — except when the driver itself shut the run down;
 * transform_error only when the exception shows that the sandbox refused a permission or a resource
 * (see isRefusalError). ok and ordinary exceptions of the transform are not.
 */
export function classifyResult(result: SandboxResult | PolicyRefusal): { code: SandboxOutcomeCode; violation: boolean } {
  switch (result.kind) {
    case 'ok':
      return { code: result.kind, violation: false };
    case 'transform_error':
      return { code: result.kind, violation: isRefusalError(result.errorType, result.message) };
    case 'timeout':
    case 'oom':
    case 'output_limit':
    case 'policy_refused':
      return { code: result.kind, violation: true };
    case 'exit_error':
      return { code: result.kind, violation: !result.reason.startsWith(DRIVER_CLOSED_REASON) };
  }
}

/** errno values that mean "the sandbox said no": EPERM, EAGAIN, EACCES, ENFILE, EMFILE, ENOSPC, EROFS, ENETUNREACH, EHOSTUNREACH. */
const REFUSAL_ERRNOS = new Set([1, 11, 13, 23, 24, 28, 30, 101, 113]);

/**
 * Whether a Python exception reported by the harness shows a refusal by the sandbox rather than a
 * bug in the transform: PermissionError, BlockingIOError (fork at the process limit), an OSError
 * with one of REFUSAL_ERRNOS ("[Errno 28] No space left on device"), a failed thread start, or a
 * failed name lookup (there is no network).
 */
export function isRefusalError(errorType: string, message: string): boolean {
  if (errorType === 'PermissionError' || errorType === 'BlockingIOError' || errorType === 'gaierror') return true;
  if (errorType === 'RuntimeError' && message.startsWith("can't start new thread")) return true;
  const errno = /^\[Errno (\d+)\]/.exec(message);
  return errno !== null && REFUSAL_ERRNOS.has(Number(errno[1]));
}

/** exit_error reason of runs the driver killed because it was closed. */
export const DRIVER_CLOSED_REASON = 'killed: sandbox driver closed';

/** What the harness I/O of one run saw (see HarnessSession). */
export interface HarnessObservation {
  /** Bytes of output rows passed to the caller's sink. */
  bytesOut: number;
  /** From the output header line, once it arrived and matched the expected columns. */
  outputColumns: string[] | undefined;
  /** Input rows sent, when the whole input was sent. */
  rowsIn: number | undefined;
  timedOut: boolean;
  outputLimitHit: boolean;
  /** The output broke the protocol (bad header, unexpected columns). */
  protocolError: string | undefined;
  stderrTail: string;
}

/** How the sandbox process ended, as its driver learnt it. */
export interface SandboxExit {
  /** The exit status; -1 when unknown. */
  exitCode: number;
  /** The kernel's OOM killer ended it. */
  oomKilled: boolean;
  /** Why it ended other than by itself (driver closed, killed, gone): the exit_error reason instead of the status. */
  endedBy?: string;
  /** Appended to "exit status N", e.g. " (Error)". */
  statusDetail?: string;
}

/**
 * The result of a run from what its harness I/O saw and how the process ended: a limit the driver enforced
 * first (timeout, output limit), then out of memory (killed, or the harness's MemoryError), the harness's
 * structured error (exit status 3), ok (exit 0 with a valid header), and anything else as exit_error.
 */
export function runResult(
  base: SandboxResultBase,
  seen: HarnessObservation,
  exit: SandboxExit | undefined,
  limits: Pick<SandboxLimits, 'timeoutMs' | 'memoryBytes' | 'maxOutputBytes'>,
): SandboxResult {
  if (seen.timedOut) return { ...base, kind: 'timeout', timeoutMs: limits.timeoutMs };
  if (seen.outputLimitHit) return { ...base, kind: 'output_limit', maxOutputBytes: limits.maxOutputBytes };
  const ended = exit ?? { exitCode: -1, oomKilled: false, endedBy: 'the exit status is unknown' };
  const harnessError = ended.exitCode === HARNESS_ERROR_EXIT_CODE ? parseHarnessError(seen.stderrTail) : undefined;
  if (ended.oomKilled || harnessError?.type === 'MemoryError') return { ...base, kind: 'oom', memoryBytes: limits.memoryBytes };
  if (harnessError) {
    return { ...base, kind: 'transform_error', errorType: harnessError.type, message: harnessError.message, traceback: harnessError.traceback };
  }
  if (ended.exitCode === 0 && seen.protocolError === undefined && seen.outputColumns !== undefined) {
    const cpuMs = parseHarnessUsage(seen.stderrTail);
    return {
      ...base,
      kind: 'ok',
      outputColumns: seen.outputColumns,
      ...(seen.rowsIn !== undefined ? { rowsIn: seen.rowsIn } : {}),
      ...(cpuMs !== undefined ? { cpuMs } : {}),
    };
  }
  const reason =
    seen.protocolError ??
    ended.endedBy ??
    (ended.exitCode === 0 ? 'exited without an output header' : `exit status ${ended.exitCode}${ended.statusDetail ?? ''}`);
  return { ...base, kind: 'exit_error', exitCode: ended.exitCode, stderrTail: seen.stderrTail, reason };
}

/** Emitted once per sandbox run (and per policy refusal), e.g. published to the events stream. */
export interface SandboxEvent {
  type: 'sandbox.result';
  runId: string;
  code: SandboxOutcomeCode;
  violation: boolean;
  /** One line for humans: the error type and message, the limit hit, the first refusal reason. */
  detail: string;
  runtime?: SandboxRuntime;
  containerId?: string;
  durationMs?: number;
  /** The run used a warm-pool container. */
  warm?: boolean;
}

/** The event for a result. */
export function sandboxEvent(
  runId: string,
  result: SandboxResult | PolicyRefusal,
  extra: { runtime?: SandboxRuntime } = {},
): SandboxEvent {
  const { code, violation } = classifyResult(result);
  const event: SandboxEvent = { type: 'sandbox.result', runId, code, violation, detail: detailOf(result), ...extra };
  if (result.kind !== 'policy_refused') {
    event.containerId = result.containerId;
    event.durationMs = result.durationMs;
    if (result.warm !== undefined) event.warm = result.warm;
  }
  return event;
}

function detailOf(result: SandboxResult | PolicyRefusal): string {
  switch (result.kind) {
    case 'ok':
      return `ok, ${result.bytesOut} bytes out`;
    case 'transform_error':
      return `${result.errorType}: ${result.message}`.slice(0, 500);
    case 'timeout':
      return `killed after ${result.timeoutMs} ms`;
    case 'oom':
      return `out of memory (limit ${result.memoryBytes} bytes)`;
    case 'output_limit':
      return `output over ${result.maxOutputBytes} bytes`;
    case 'exit_error':
      return `exit ${result.exitCode}: ${result.reason}`.slice(0, 500);
    case 'policy_refused': {
      const first = result.reasons[0];
      const more = result.reasons.length > 1 ? ` (+${result.reasons.length - 1} more)` : '';
      return first ? `${first.rule} at line ${first.line}: ${first.message}${more}`.slice(0, 500) : 'refused';
    }
  }
}
