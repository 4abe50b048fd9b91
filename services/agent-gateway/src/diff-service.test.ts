import { InputError } from '@aoetl/contracts';
import { DiffService } from './diff-service.js';
import { unifiedDiff } from './diff.js';

// A hostile pair: 64 KiB of distinct short lines each side (the diff takes ~250 ms of CPU).
const before = Array.from({ length: 16_000 }, (_, i) => `a${i}`).join('\n');
const after = Array.from({ length: 16_000 }, (_, i) => `b${i}`).join('\n');

/** The longest gap between ticks of a 5 ms timer while `work` runs. */
async function longestStall(work: () => Promise<unknown>): Promise<number> {
  let last = Date.now();
  let longest = 0;
  const timer = setInterval(() => {
    longest = Math.max(longest, Date.now() - last);
    last = Date.now();
  }, 5);
  try {
    await work();
    await new Promise((r) => setTimeout(r, 20));
  } finally {
    clearInterval(timer);
  }
  return longest;
}

describe('DiffService', () => {
  let diffs: DiffService;
  beforeEach(() => (diffs = new DiffService({ maxBytes: 256 * 1024, cacheEntries: 2 })));
  afterEach(async () => diffs.close());

  test('gives the same diff as unifiedDiff, without stalling the event loop', async () => {
    await diffs.diff('warm', 'a', 'b', 'x\n', 'y\n'); // the worker's start-up is not the diff's cost
    let result;
    const stall = await longestStall(async () => (result = await diffs.diff('k1', 'v1', 'v2', before, after)));
    expect(result).toEqual(unifiedDiff('v1', 'v2', before, after));
    expect(stall).toBeLessThan(100);
    // The measure can fail: the same diff computed in-line, as the route did, stalls the loop past it.
    expect(await longestStall(async () => unifiedDiff('v1', 'v2', before, after))).toBeGreaterThanOrEqual(100);
  });

  test('computes each pair once (LRU by key) and forgets the least recently used', async () => {
    const first = diffs.diff('k1', 'v1', 'v2', 'a\n', 'b\n');
    expect(diffs.diff('k1', 'v1', 'v2', 'a\n', 'b\n')).toBe(first);
    await first;
    const second = diffs.diff('k2', 'v1', 'v2', 'a\n', 'c\n');
    void diffs.diff('k1', 'v1', 'v2', 'a\n', 'b\n'); // k1 is now the most recent
    void diffs.diff('k3', 'v1', 'v2', 'a\n', 'd\n'); // evicts k2
    expect(diffs.diff('k1', 'v1', 'v2', 'a\n', 'b\n')).toBe(first);
    expect(diffs.diff('k2', 'v1', 'v2', 'a\n', 'c\n')).not.toBe(second);
    await expect(first).resolves.toMatchObject({ additions: 1, deletions: 1 });
  });

  test('refuses texts over the size cap, naming it', () => {
    const big = 'x'.repeat(200 * 1024);
    expect(() => diffs.diff('big', 'v1', 'v2', big, big)).toThrow(InputError);
    expect(() => diffs.diff('big', 'v1', 'v2', big, big)).toThrow(/at most 262144/);
  });
});
