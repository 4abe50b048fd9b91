import type { FailureReason, TaskLimits } from '@aoetl/contracts';
import type { TransformOutcome, TransformRunner } from '@aoetl/etl';
import type { SandboxDriver, SandboxResult } from '@aoetl/sandbox';

const MiB = 1024 * 1024;

/** The failure a sandbox result means for the run; null when it succeeded. */
export function failureOf(result: SandboxResult): FailureReason | null {
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

/** Runs transforms in the sandbox driver, translating the task's limits and the sandbox's typed results. */
export class SandboxTransformRunner implements TransformRunner {
  constructor(private readonly driver: SandboxDriver) {}

  async run(req: Parameters<TransformRunner['run']>[0]): Promise<TransformOutcome> {
    const limits: TaskLimits = req.limits;
    const result = await this.driver.run({
      runId: req.runId,
      code: req.code,
      columns: req.columns,
      types: req.types,
      outputColumns: req.outputColumns,
      input: req.input,
      output: req.output,
      limits: { timeoutMs: limits.timeoutMs, memoryBytes: limits.memoryMb * MiB, maxOutputBytes: limits.maxOutputBytes },
    });
    const reason = failureOf(result);
    return reason ? { ok: false, reason } : { ok: true };
  }
}
