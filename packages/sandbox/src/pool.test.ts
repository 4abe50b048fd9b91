import { WarmPool, type PoolSlot } from './pool.js';

class FakeSlot implements PoolSlot {
  gone = false;
  destroyed = false;
  constructor(readonly n: number) {}
}

const logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

function pool(size: number, start?: () => Promise<FakeSlot>) {
  let n = 0;
  const destroyed: FakeSlot[] = [];
  const p = new WarmPool<FakeSlot>({
    size,
    start: start ?? (async () => new FakeSlot(++n)),
    destroy: async (slot) => {
      slot.destroyed = true;
      destroyed.push(slot);
    },
    logger,
    retryMs: 10,
  });
  return { p, destroyed, started: () => n };
}

describe('WarmPool', () => {
  it('fills to its size and hands each sandbox out once, starting a replacement', async () => {
    const { p, started } = pool(2);
    await p.ready();
    expect(p.available).toBe(2);
    const a = p.take();
    const b = p.take();
    expect(a).toBeDefined();
    expect(b).toBeDefined();
    expect(a).not.toBe(b);
    expect(p.take()).toBeUndefined(); // replacements are still starting
    await p.ready();
    expect(p.available).toBe(2);
    expect(started()).toBe(4);
    await p.close();
  });

  it('never hands out a sandbox that died while waiting', async () => {
    const { p, destroyed } = pool(1);
    await p.ready();
    const first = p.take()!;
    await p.ready();
    expect(first.n).toBe(1);
    // the second one dies while waiting
    const internal = (p as unknown as { idle: { slot: FakeSlot }[] }).idle;
    internal[0]!.slot.gone = true;
    expect(p.take()).toBeUndefined();
    expect(destroyed.map((s) => s.n)).toEqual([2]);
    await p.close();
  });

  it('retries after a failed start', async () => {
    let calls = 0;
    const { p } = pool(1, async () => {
      if (++calls === 1) throw new Error('engine busy');
      return new FakeSlot(calls);
    });
    await p.ready();
    expect(calls).toBe(2);
    expect(p.take()!.n).toBe(2);
    await p.close();
  });

  it('destroys waiting sandboxes on close and stops refilling', async () => {
    const { p, destroyed } = pool(2);
    await p.ready();
    await p.close();
    expect(destroyed).toHaveLength(2);
    expect(p.take()).toBeUndefined();
    expect(p.available).toBe(0);
  });

  it('size 0 is no pool', async () => {
    const { p, started } = pool(0);
    await p.ready();
    expect(p.take()).toBeUndefined();
    expect(started()).toBe(0);
    await p.close();
  });

  it('rejects a negative size', () => {
    expect(() => pool(-1)).toThrow(RangeError);
  });
});
