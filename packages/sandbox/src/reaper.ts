import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type Docker from 'dockerode';
import {
  OWNER_HOST_LABEL,
  OWNER_LABEL,
  OWNER_PID_LABEL,
  OWNER_START_LABEL,
  SANDBOX_LABEL,
  type ContainerOwner,
} from './container-spec.js';
import type { SandboxLogger } from './types.js';

export interface ReapOptions {
  /** Owner id (OWNER_LABEL) of the caller: its containers that are not in `keep` are leaked. */
  ownerId?: string;
  /** Container ids the caller is using. */
  keep?: ReadonlySet<string>;
  /** Containers of any owner older than this are removed; default 6 h. */
  maxAgeMs?: number;
  /** A container younger than this is left alone unless its owner is gone; default 30 s. */
  graceMs?: number;
  /** Only remove containers created at least this long ago (a floor on top of the rules). */
  olderThanMs?: number;
}

/** What the reaper knows about a sandbox container. */
export interface ReapCandidate {
  id: string;
  labels: Record<string, string>;
  /** Docker state: created, running, exited, dead, ... */
  state: string;
  ageMs: number;
}

export interface ReapContext {
  ownerId?: string;
  keep: ReadonlySet<string>;
  host: string;
  maxAgeMs: number;
  graceMs: number;
  olderThanMs: number;
  /** Whether the process pid (with start time, '' = unknown) still runs on this host. */
  processAlive: (pid: number, start: string) => boolean;
}

export const DEFAULT_REAP_MAX_AGE_MS = 6 * 60 * 60 * 1000;
export const DEFAULT_REAP_GRACE_MS = 30_000;

const noop = (): void => undefined;
const SILENT_LOGGER: SandboxLogger = { debug: noop, info: noop, warn: noop, error: noop };

/**
 * Why a container must go, or undefined to keep it:
 * - its owner is the caller and the caller does not use it (leaked), after the grace period;
 * - its owner was a process on this host that is gone (crashed or killed agent), at once;
 * - it is not running (created but never started, exited) after the grace period, unless its
 *   owner is a live process on this host (which removes its own containers);
 * - it is older than maxAgeMs, whoever owns it.
 * Containers of live owners, including other agents sharing the engine, are otherwise kept.
 */
export function reapReason(c: ReapCandidate, ctx: ReapContext): string | undefined {
  if (ctx.keep.has(c.id) || c.ageMs < ctx.olderThanMs) return undefined;
  const graceOver = c.ageMs >= ctx.graceMs;
  const owner = c.labels[OWNER_LABEL];
  if (owner !== undefined && owner === ctx.ownerId) return graceOver ? 'leaked by this driver' : undefined;
  const pid = Number(c.labels[OWNER_PID_LABEL]);
  let ownerAlive = false;
  if (c.labels[OWNER_HOST_LABEL] === ctx.host && Number.isInteger(pid) && pid > 0) {
    if (!ctx.processAlive(pid, c.labels[OWNER_START_LABEL] ?? '')) return 'owner process gone';
    ownerAlive = true;
  }
  if (c.ageMs >= ctx.maxAgeMs) return 'older than the maximum age';
  if (c.state !== 'running' && graceOver && !ownerAlive) return `not running (${c.state})`;
  return undefined;
}

/**
 * Removes orphaned sandbox containers (label aoetl.sandbox=1) by the rules of reapReason.
 * Returns the removed container ids.
 */
export async function reapOrphans(docker: Docker, options: ReapOptions = {}, log: SandboxLogger = SILENT_LOGGER): Promise<string[]> {
  const containers = await docker.listContainers({ all: true, filters: { label: [`${SANDBOX_LABEL}=1`] } });
  const ctx: ReapContext = {
    ownerId: options.ownerId,
    keep: options.keep ?? new Set(),
    host: hostname(),
    maxAgeMs: options.maxAgeMs ?? DEFAULT_REAP_MAX_AGE_MS,
    graceMs: options.graceMs ?? DEFAULT_REAP_GRACE_MS,
    olderThanMs: options.olderThanMs ?? 0,
    processAlive,
  };
  const now = Date.now();
  const removed: string[] = [];
  for (const c of containers) {
    const reason = reapReason({ id: c.Id, labels: c.Labels ?? {}, state: c.State, ageMs: now - c.Created * 1000 }, ctx);
    if (reason === undefined) continue;
    try {
      await docker.getContainer(c.Id).remove({ force: true, v: true });
      removed.push(c.Id);
      log.info({ containerId: c.Id, runId: c.Labels?.['aoetl.run'], reason }, 'reaped sandbox container');
    } catch (err) {
      const code = (err as { statusCode?: number }).statusCode;
      if (code !== 404 && code !== 409) log.warn({ containerId: c.Id, err }, 'could not reap sandbox container');
    }
  }
  return removed;
}

/** The calling process as a container owner (id: a fresh random id per driver). */
export function currentOwner(id: string): ContainerOwner {
  return { id, host: hostname(), pid: process.pid, start: processStartTime(process.pid) ?? '' };
}

/** Field 22 of /proc/<pid>/stat (start time in clock ticks since boot); undefined if unreadable. */
export function processStartTime(pid: number): string | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // "pid (comm) state ppid ..." — comm may contain spaces and parentheses: split after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return fields[0] === 'Z' || fields[0] === 'X' ? undefined : fields[19];
}

/** Whether pid runs and, when start is known, is the same process (not a reused pid). */
export function processAlive(pid: number, start: string): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const now = processStartTime(pid);
  if (now === undefined) return !existsProc(); // no /proc (not Linux): trust kill(0); zombie/unreadable: gone
  return start === '' || now === start;
}

function existsProc(): boolean {
  try {
    readFileSync('/proc/self/stat');
    return true;
  } catch {
    return false;
  }
}
