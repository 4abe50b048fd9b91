import { OWNER_HOST_LABEL, OWNER_LABEL, OWNER_PID_LABEL, OWNER_START_LABEL } from './container-spec.js';
import { currentOwner, processAlive, processStartTime, reapReason, type ReapCandidate, type ReapContext } from './reaper.js';

describe('reapReason', () => {
  const alive = new Set([100]);
  const ctx: ReapContext = {
    ownerId: 'me',
    keep: new Set(['in-use']),
    host: 'agent-a',
    maxAgeMs: 60 * 60 * 1000,
    graceMs: 30_000,
    olderThanMs: 0,
    processAlive: (pid) => alive.has(pid),
  };
  const owned = (id: string, pid: number, host = 'agent-a'): Record<string, string> => ({
    [OWNER_LABEL]: id,
    [OWNER_HOST_LABEL]: host,
    [OWNER_PID_LABEL]: String(pid),
    [OWNER_START_LABEL]: '1',
  });
  const c = (over: Partial<ReapCandidate>): ReapCandidate => ({ id: 'x', labels: {}, state: 'running', ageMs: 1000, ...over });

  it('keeps what the caller uses, whatever its age', () => {
    expect(reapReason(c({ id: 'in-use', labels: owned('me', 100), ageMs: 10 * 60 * 60 * 1000, state: 'exited' }), ctx)).toBeUndefined();
  });

  it('removes containers the caller leaked, after the grace period', () => {
    expect(reapReason(c({ labels: owned('me', 100), ageMs: 1000 }), ctx)).toBeUndefined();
    expect(reapReason(c({ labels: owned('me', 100), ageMs: 31_000 }), ctx)).toBe('leaked by this driver');
  });

  it('removes containers of a dead process on this host at once', () => {
    expect(reapReason(c({ labels: owned('other', 200), ageMs: 10 }), ctx)).toBe('owner process gone');
  });

  it('keeps running containers of live owners, and of other hosts, until the maximum age', () => {
    expect(reapReason(c({ labels: owned('other', 100) }), ctx)).toBeUndefined();
    expect(reapReason(c({ labels: owned('other', 200, 'agent-b') }), ctx)).toBeUndefined();
    expect(reapReason(c({ labels: owned('other', 200, 'agent-b'), ageMs: 2 * 60 * 60 * 1000 }), ctx)).toBe('older than the maximum age');
    expect(reapReason(c({ labels: {}, ageMs: 2 * 60 * 60 * 1000 }), ctx)).toBe('older than the maximum age');
  });

  it('removes stopped or never started containers after the grace period, unless a live local owner has them', () => {
    expect(reapReason(c({ labels: {}, state: 'created', ageMs: 5_000 }), ctx)).toBeUndefined();
    expect(reapReason(c({ labels: {}, state: 'created', ageMs: 40_000 }), ctx)).toBe('not running (created)');
    expect(reapReason(c({ labels: owned('other', 200, 'agent-b'), state: 'exited', ageMs: 40_000 }), ctx)).toBe('not running (exited)');
    expect(reapReason(c({ labels: owned('other', 100), state: 'exited', ageMs: 40_000 }), ctx)).toBeUndefined();
  });

  it('honours olderThanMs as a floor', () => {
    expect(reapReason(c({ labels: owned('other', 200), ageMs: 10 }), { ...ctx, olderThanMs: 60_000 })).toBeUndefined();
  });
});

describe('process liveness', () => {
  it('knows this process, with its start time', () => {
    const start = processStartTime(process.pid);
    expect(start).toMatch(/^\d+$/);
    expect(processAlive(process.pid, start!)).toBe(true);
    expect(processAlive(process.pid, '')).toBe(true);
    expect(currentOwner('id-1')).toMatchObject({ id: 'id-1', pid: process.pid, start });
  });

  it('tells a reused pid (other start time) and a missing pid from the owner', () => {
    expect(processAlive(process.pid, '1')).toBe(false);
    expect(processAlive(2 ** 22 + 1, '')).toBe(false);
  });
});
