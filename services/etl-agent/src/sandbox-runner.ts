import { Readable, Writable } from 'node:stream';
import type { FailureReason, PreviewRequested, TaskLimits } from '@aoetl/contracts';
import type { TransformOutcome, TransformRunner } from '@aoetl/etl';
import {
  checkPolicy,
  classifyResult,
  escapeCopyText,
  unescapeCopyText,
  DockerSandboxDriver,
  KubernetesSandboxDriver,
  type PolicyReason,
  type SandboxDriver,
  type SandboxLogger,
  type SandboxResult,
} from '@aoetl/sandbox';
import type { SandboxSettings } from './config.js';

const MiB = 1024 * 1024;

/**
 * The sandbox driver of the settings, ready to run. Docker: refuses to start when the configured runtime (gVisor
 * by default) is not registered with the engine, and fills the warm pool. Kubernetes: one hardened pod per run in
 * the sandbox namespace (no pool); pods of dead agents are reaped first.
 */
export async function createSandboxDriver(settings: SandboxSettings, logger: SandboxLogger): Promise<SandboxDriver> {
  const limits = { memoryBytes: settings.memoryBytes };
  if (settings.driver === 'kubernetes') {
    const { driver: _driver, memoryBytes: _memoryBytes, ...options } = settings;
    const k8s = new KubernetesSandboxDriver({ ...options, limits, logger });
    await k8s.reapOrphans();
    return k8s;
  }
  return DockerSandboxDriver.create({
    image: settings.image,
    runtime: settings.runtime,
    allowRunc: settings.allowRunc,
    init: settings.init,
    requireUserns: settings.requireUserns,
    socketPath: settings.socketPath,
    ...(settings.remote ? { remote: settings.remote } : {}),
    limits,
    pool: { size: settings.poolSize },
    logger,
  });
}

/** The failure a sandbox result means for the run, flagged when security-relevant; null when it succeeded. */
export function failureOf(result: SandboxResult): FailureReason | null {
  const reason = describe(result);
  return reason && { ...reason, violation: classifyResult(result).violation };
}

function describe(result: SandboxResult): FailureReason | null {
  switch (result.kind) {
    case 'ok':
      return null;
    case 'transform_error':
      return {
        code: 'transform',
        message: `${result.errorType}: ${result.message}`.slice(0, 4000),
        pythonType: result.errorType,
        traceback: result.traceback.slice(-16_000),
      };
    case 'timeout':
      return { code: 'sandbox_timeout', message: `the transform ran longer than ${result.timeoutMs} ms and was killed` };
    case 'oom':
      return { code: 'sandbox_oom', message: `the transform used more than ${Math.round(result.memoryBytes / MiB)} MiB and was killed` };
    case 'output_limit':
      return { code: 'sandbox_output_limit', message: `the transform wrote more than ${result.maxOutputBytes} bytes and was stopped` };
    case 'exit_error':
      return { code: 'sandbox_exit', message: `the sandbox ended abnormally (exit ${result.exitCode}): ${result.reason}`.slice(0, 4000) };
  }
}

export function policyFailure(reasons: PolicyReason[]): FailureReason {
  const listed = reasons.map((r) => `line ${r.line}: ${r.rule}: ${r.message}`).join('; ');
  return { code: 'policy_refused', message: `the transform breaks the code policy: ${listed}`.slice(0, 4000), violation: true };
}

/** Policy verdicts kept per agent (least recently used forgotten first). */
export const DEFAULT_MAX_VERDICTS = 1000;

/**
 * Runs transforms in the sandbox driver: the static policy check first (its verdict cached per code hash, at
 * most `maxVerdicts` of them, least recently used evicted), then the run, translating the task's limits and
 * the sandbox's typed results.
 */
export class SandboxTransformRunner implements TransformRunner {
  /** Insertion order = recency: a hit moves its entry to the end, the first entry is the eviction candidate. */
  private readonly verdicts = new Map<string, Promise<FailureReason | null>>();

  constructor(
    private readonly driver: SandboxDriver,
    private readonly maxVerdicts = DEFAULT_MAX_VERDICTS,
  ) {}

  private policy(code: string, sha256: string, runId: string): Promise<FailureReason | null> {
    let verdict = this.verdicts.get(sha256);
    if (verdict) {
      this.verdicts.delete(sha256);
      this.verdicts.set(sha256, verdict);
      return verdict;
    }
    verdict = checkPolicy(this.driver, code, { runId }).then((r) => (r.ok ? null : policyFailure(r.reasons)));
    const pending = verdict;
    // an infrastructure failure is not a verdict
    verdict.catch(() => {
      if (this.verdicts.get(sha256) === pending) this.verdicts.delete(sha256);
    });
    this.verdicts.set(sha256, verdict);
    if (this.verdicts.size > this.maxVerdicts) this.verdicts.delete(this.verdicts.keys().next().value!);
    return verdict;
  }

  async run(req: Parameters<TransformRunner['run']>[0]): Promise<TransformOutcome> {
    const result = await this.execute(req);
    if ('refused' in result) return { ok: false, reason: result.refused };
    const reason = failureOf(result);
    if (reason) return { ok: false, reason };
    return result.kind === 'ok' && result.cpuMs !== undefined ? { ok: true, cpuMs: result.cpuMs } : { ok: true };
  }

  /**
   * A preview: the same policy check and sandbox as a run, over rows given in memory (COPY text fields, null for
   * NULL); answers the output columns and rows (at most `limits.maxOutputBytes` of them) or why it did not run.
   */
  async preview(req: PreviewRequest): Promise<PreviewOutcome> {
    const input = Readable.from([req.rows.map((r) => `${r.map((v) => (v === null ? '\\N' : escapeCopyText(v))).join('\t')}\n`).join('')]);
    const chunks: Buffer[] = [];
    const output = new Writable({
      write(chunk: Buffer, _enc, done) {
        chunks.push(chunk);
        done();
      },
    });
    const result = await this.execute({
      runId: req.previewId,
      code: req.code,
      codeSha256: req.sha256,
      columns: req.columns.map((c) => c.name),
      types: req.columns.map((c) => c.type),
      input,
      output,
      limits: req.limits,
    });
    if ('refused' in result) return { ok: false, reason: result.refused };
    const reason = failureOf(result);
    if (reason || result.kind !== 'ok') return { ok: false, reason: reason! };
    const text = Buffer.concat(chunks).toString('utf8');
    const rows = text === '' ? [] : text.replace(/\n$/, '').split('\n').map((line) => line.split('\t').map(fromCopyField));
    return { ok: true, columns: result.outputColumns, rows };
  }

  private async execute(req: Omit<Parameters<TransformRunner['run']>[0], 'outputColumns'> & { outputColumns?: string[] }): Promise<SandboxResult | { refused: FailureReason }> {
    const refused = await this.policy(req.code, req.codeSha256, req.runId);
    if (refused) return { refused };
    const limits: TaskLimits = req.limits;
    return this.driver.run({
      runId: req.runId,
      code: req.code,
      columns: req.columns,
      types: req.types,
      ...(req.outputColumns ? { outputColumns: req.outputColumns } : {}),
      input: req.input,
      output: req.output,
      limits: { timeoutMs: limits.timeoutMs, memoryBytes: limits.memoryMb * MiB, maxOutputBytes: limits.maxOutputBytes },
    });
  }
}

export type PreviewRequest = Pick<PreviewRequested['payload'], 'previewId' | 'code' | 'sha256' | 'columns' | 'rows' | 'limits'>;
export type PreviewOutcome = { ok: true; columns: string[]; rows: (string | null)[][] } | { ok: false; reason: FailureReason };

/** One COPY text field as a value: `\\N` is NULL, escapes undone. */
export function fromCopyField(field: string): string | null {
  return field === '\\N' ? null : unescapeCopyText(field);
}
