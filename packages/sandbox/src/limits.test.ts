import { SandboxConfigError } from './errors.js';
import { DEFAULT_LIMITS, nanoCpus, resolveLimits } from './limits.js';

describe('resolveLimits', () => {
  it('returns the defaults when nothing is overridden', () => {
    expect(resolveLimits()).toEqual(DEFAULT_LIMITS);
    expect(resolveLimits({})).not.toBe(DEFAULT_LIMITS);
  });

  it('has hardened, bounded defaults', () => {
    expect(DEFAULT_LIMITS.memoryBytes).toBe(1024 * 1024 * 1024);
    expect(DEFAULT_LIMITS.pidsLimit).toBeLessThanOrEqual(128);
    expect(DEFAULT_LIMITS.tmpfsBytes).toBe(16 * 1024 * 1024);
    expect(DEFAULT_LIMITS.timeoutMs).toBeGreaterThan(0);
    expect(DEFAULT_LIMITS.maxOutputBytes).toBeGreaterThan(0);
    expect(Object.isFrozen(DEFAULT_LIMITS)).toBe(true);
  });

  it('overlays overrides on a base and ignores undefined values', () => {
    const base = resolveLimits({ timeoutMs: 5_000 });
    const limits = resolveLimits({ memoryBytes: 64 * 1024 * 1024, cpus: 0.5, timeoutMs: undefined }, base);
    expect(limits).toEqual({ ...DEFAULT_LIMITS, timeoutMs: 5_000, memoryBytes: 64 * 1024 * 1024, cpus: 0.5 });
  });

  it('ignores keys that are not limits', () => {
    const limits = resolveLimits({ bogus: 1 } as never);
    expect(limits).toEqual(DEFAULT_LIMITS);
  });

  it.each([
    [{ timeoutMs: 0 }, /timeoutMs must be at least/],
    [{ memoryBytes: 1024 }, /memoryBytes must be at least/],
    [{ pidsLimit: 2.5 }, /pidsLimit must be an integer/],
    [{ cpus: Number.NaN }, /cpus must be a finite number/],
    [{ maxOutputBytes: -1 }, /maxOutputBytes must be at least 0/],
    [{ nofile: Number.POSITIVE_INFINITY }, /nofile must be a finite number/],
  ])('rejects %j', (overrides, message) => {
    expect(() => resolveLimits(overrides)).toThrow(SandboxConfigError);
    expect(() => resolveLimits(overrides)).toThrow(message);
  });
});

describe('nanoCpus', () => {
  it('converts cores to Docker NanoCpus', () => {
    expect(nanoCpus(1)).toBe(1_000_000_000);
    expect(nanoCpus(0.25)).toBe(250_000_000);
  });
});
