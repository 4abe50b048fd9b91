import { MultiBar, Presets, type SingleBar } from 'cli-progress';
import type { Api } from './api';
import { CliError, EXIT } from './errors';
import { jsonOrThrow } from './http';
import { readSse } from './sse';

export interface RunRecord {
  id: string;
  pipelineId: string;
  status: string;
  chunks: number;
  rowsIn: number | null;
  rowsOut: number | null;
  error: { code: string; message: string } | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  [key: string]: unknown;
}

export const TERMINAL = new Set(['succeeded', 'failed', 'cancelled']);

export interface Progress {
  chunksDone: number;
  chunksTotal: number;
  rows: number;
  rowsPerSecond: number;
  elapsedSeconds: number;
}

/** What a run record says about its progress (chunks are only known done when the run succeeded). */
export function progressOf(run: RunRecord, detail: unknown, now = Date.now()): Progress {
  const total = Math.max(1, run.chunks ?? 1);
  const reported = (detail as { chunksDone?: unknown } | null)?.chunksDone;
  const chunksDone = run.status === 'succeeded' ? total : typeof reported === 'number' ? Math.min(total, reported) : 0;
  const rows = run.rowsOut ?? run.rowsIn ?? 0;
  const start = Date.parse(run.startedAt ?? run.createdAt);
  const end = run.finishedAt ? Date.parse(run.finishedAt) : now;
  const elapsedSeconds = Number.isFinite(start) ? Math.max(0, (end - start) / 1000) : 0;
  return { chunksDone, chunksTotal: total, rows, rowsPerSecond: elapsedSeconds > 0 ? Math.round(rows / elapsedSeconds) : 0, elapsedSeconds };
}

export function plainLine(run: RunRecord, p: Progress): string {
  const base = `run ${run.id}: ${run.status} (chunks ${p.chunksDone}/${p.chunksTotal}, rows ${p.rows}, ${p.elapsedSeconds.toFixed(1)}s)`;
  return run.error ? `${base}: ${run.error.code}: ${run.error.message}` : base;
}

/** The exit code and stderr line of a finished run. */
export function runOutcome(run: RunRecord): { exitCode: number; message?: string } {
  if (run.status === 'succeeded') return { exitCode: EXIT.ok };
  if (run.status === 'cancelled') return { exitCode: EXIT.runCancelled, message: `run ${run.id} was cancelled` };
  const reason = run.error ? `${run.error.code}: ${run.error.message}` : 'no reason recorded';
  return { exitCode: EXIT.runFailed, message: `run ${run.id} failed: ${reason}` };
}

export async function getRun(api: Api, runId: string): Promise<RunRecord> {
  return api.call<RunRecord>('GET', `/v1/runs/${encodeURIComponent(runId)}`, `get run ${runId}`);
}

/** Follows one run's server-sent events until it is final; calls `onUpdate` with the run after each event. */
export async function followRun(api: Api, runId: string, onUpdate: (run: RunRecord, detail: unknown) => void): Promise<RunRecord> {
  let after: string | undefined;
  for (;;) {
    const res = await api.raw('GET', `/v1/runs/${encodeURIComponent(runId)}/events`, `watch run ${runId}`, {
      query: { after, timeoutSeconds: 300 },
      headers: { accept: 'text/event-stream' },
    });
    if (!res.ok || !res.body) await jsonOrThrow(res, `watch run ${runId}`);
    for await (const ev of readSse(res.body!)) {
      if (ev.id) after = ev.id;
      if (ev.event !== 'status' && ev.event !== 'end') continue;
      let detail: unknown = null;
      try {
        detail = (JSON.parse(ev.data) as { detail?: unknown }).detail ?? null;
      } catch {
        detail = null;
      }
      const run = await getRun(api, runId);
      onUpdate(run, detail);
      if (ev.event === 'end' || TERMINAL.has(run.status)) return run;
    }
    const run = await getRun(api, runId);
    if (TERMINAL.has(run.status)) {
      onUpdate(run, null);
      return run;
    }
  }
}

export interface WatchOptions {
  /** draw bars (a terminal) or print a line per change */
  tty: boolean;
  stream: NodeJS.WriteStream;
  /** how often the bars refresh rows and elapsed time */
  pollMs?: number;
}

/** Follows runs to the end: one progress bar per run on a terminal, plain lines otherwise. */
export async function watchRuns(api: Api, runIds: string[], opts: WatchOptions): Promise<RunRecord[]> {
  if (!opts.tty) {
    return Promise.all(
      runIds.map((id) => {
        let last = '';
        return followRun(api, id, (run, detail) => {
          const line = plainLine(run, progressOf(run, detail));
          if (run.status !== last) opts.stream.write(`${line}\n`);
          last = run.status;
        });
      }),
    );
  }
  const multi = new MultiBar(
    {
      stream: opts.stream,
      format: '{run} |{bar}| {percentage}% | chunks {value}/{total} | rows {rows} | {rate} rows/s | {elapsed}s | {status}',
      hideCursor: true,
      barsize: 24,
      clearOnComplete: false,
      stopOnComplete: false,
      forceRedraw: true,
    },
    Presets.shades_classic,
  );
  try {
    return await Promise.all(
      runIds.map(async (id) => {
        const bar: SingleBar = multi.create(1, 0, { run: id.slice(0, 8), rows: 0, rate: 0, elapsed: '0.0', status: 'connecting' });
        let detail: unknown = null;
        const draw = (run: RunRecord) => {
          const p = progressOf(run, detail);
          bar.setTotal(p.chunksTotal);
          bar.update(p.chunksDone, { rows: p.rows, rate: p.rowsPerSecond, elapsed: p.elapsedSeconds.toFixed(1), status: run.status });
        };
        let done = false;
        const poll = setInterval(() => {
          getRun(api, id)
            .then((run) => {
              if (!done) draw(run);
            })
            .catch(() => undefined); // the event stream reports failures
        }, opts.pollMs ?? 1000);
        try {
          return await followRun(api, id, (run, d) => {
            detail = d;
            draw(run);
          });
        } finally {
          done = true;
          clearInterval(poll);
        }
      }),
    );
  } finally {
    multi.stop();
  }
}

/** `aoetl runs start --wait`'s and `runs watch`'s single exit code for several runs: the worst. */
export function worstOutcome(runs: RunRecord[]): { exitCode: number; messages: string[] } {
  const outcomes = runs.map(runOutcome);
  const messages = outcomes.flatMap((o) => (o.message ? [o.message] : []));
  const exitCode = outcomes.reduce((worst, o) => (o.exitCode === EXIT.ok ? worst : Math.max(worst, o.exitCode)), 0);
  return { exitCode, messages };
}

export function assertRunId(id: string): string {
  if (!/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/.test(id)) {
    throw new CliError(`"${id}" is not a run id (a UUID)`, EXIT.usage);
  }
  return id;
}
