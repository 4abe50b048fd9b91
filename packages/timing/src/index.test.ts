import { backoffMs, sleep } from './index';

describe('backoffMs', () => {
  afterEach(() => jest.restoreAllMocks());

  test('attempt 1 waits between half the base and the base', () => {
    jest.spyOn(Math, 'random').mockReturnValue(0);
    expect(backoffMs(1, 200, 30_000)).toBe(100);
    jest.spyOn(Math, 'random').mockReturnValue(0.999999);
    expect(backoffMs(1, 200, 30_000)).toBe(200);
  });

  test('each attempt doubles the window, up to the cap', () => {
    jest.spyOn(Math, 'random').mockReturnValue(0);
    expect([1, 2, 3, 4].map((a) => backoffMs(a, 100, 10_000))).toEqual([50, 100, 200, 400]);
    expect(backoffMs(30, 100, 10_000)).toBe(5_000);
    expect(backoffMs(0, 100, 10_000)).toBe(50);
  });

  test('jitter spreads the waits over the window', () => {
    const waits = new Set(Array.from({ length: 50 }, () => backoffMs(3, 1000, 60_000)));
    expect(waits.size).toBeGreaterThan(10);
    for (const w of waits) {
      expect(w).toBeGreaterThanOrEqual(2000);
      expect(w).toBeLessThanOrEqual(4000);
    }
  });
});

describe('sleep', () => {
  test('waits about the given time', async () => {
    const t0 = Date.now();
    await sleep(60);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(55);
  });

  test('an abort ends the wait at once, and an aborted signal does not wait at all', async () => {
    const ac = new AbortController();
    const t0 = Date.now();
    setTimeout(() => ac.abort(), 20);
    await sleep(10_000, ac.signal);
    await sleep(10_000, ac.signal);
    expect(Date.now() - t0).toBeLessThan(1_000);
  });
});
