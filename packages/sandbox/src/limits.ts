import { SandboxConfigError } from './errors.js';
import type { SandboxLimits } from './types.js';

const MiB = 1024 * 1024;

export const DEFAULT_LIMITS: Readonly<SandboxLimits> = Object.freeze({
  timeoutMs: 120_000,
  memoryBytes: 1024 * MiB,
  cpus: 1,
  pidsLimit: 64,
  maxOutputBytes: 512 * MiB,
  tmpfsBytes: 16 * MiB,
  nofile: 256,
});

/** Smallest values Docker (or the harness) can work with. */
const MINIMUM: Readonly<SandboxLimits> = Object.freeze({
  timeoutMs: 100,
  memoryBytes: 6 * MiB, // Docker's own minimum
  cpus: 0.01,
  pidsLimit: 8,
  maxOutputBytes: 0,
  tmpfsBytes: 64 * 1024,
  nofile: 16,
});

const INTEGER_KEYS: ReadonlySet<keyof SandboxLimits> = new Set([
  'timeoutMs',
  'memoryBytes',
  'pidsLimit',
  'maxOutputBytes',
  'tmpfsBytes',
  'nofile',
]);

/** Overlays `overrides` on `base` and checks every value. */
export function resolveLimits(
  overrides: Partial<SandboxLimits> = {},
  base: Readonly<SandboxLimits> = DEFAULT_LIMITS,
): SandboxLimits {
  const limits: SandboxLimits = { ...base };
  for (const key of Object.keys(DEFAULT_LIMITS) as (keyof SandboxLimits)[]) {
    const value = overrides[key];
    if (value !== undefined) limits[key] = value;
  }
  for (const key of Object.keys(limits) as (keyof SandboxLimits)[]) {
    const value = limits[key];
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      throw new SandboxConfigError(`limit ${key} must be a finite number, got ${String(value)}`);
    }
    if (INTEGER_KEYS.has(key) && !Number.isInteger(value)) {
      throw new SandboxConfigError(`limit ${key} must be an integer, got ${value}`);
    }
    if (value < MINIMUM[key]) {
      throw new SandboxConfigError(`limit ${key} must be at least ${MINIMUM[key]}, got ${value}`);
    }
  }
  return limits;
}

/** Docker's NanoCpus for a core count. */
export function nanoCpus(cpus: number): number {
  return Math.round(cpus * 1e9);
}
