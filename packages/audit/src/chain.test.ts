import { createHash } from 'node:crypto';
import { canonicalJson } from './canonical.js';
import { GENESIS, entryHash, verifyChain, type LedgerEntry } from './chain.js';
import { signCheckpoint, type Checkpoint } from './checkpoint.js';
import { TAMPER_KINDS, buildChain, fakeSigner, seededRng, tamper } from './testing.js';

const signer = fakeSigner(Buffer.alloc(32, 7));

async function checkpointsOf(chain: LedgerEntry[], every: number): Promise<Checkpoint[]> {
  const heads = chain.filter((e) => e.seq % every === 0 || e.seq === chain.length);
  return Promise.all(heads.map((e) => signCheckpoint(signer, { tenant: e.tenant, seq: e.seq, hash: e.hash, at: e.at })));
}

describe('canonicalJson', () => {
  it('sorts keys by code point, drops undefined, keeps no whitespace', () => {
    expect(canonicalJson({ b: 1, a: [true, null, 'x'], 'é': 'y', Z: { d: undefined, c: 'q"\n' } })).toBe(
      '{"Z":{"c":"q\\"\\n"},"a":[true,null,"x"],"b":1,"é":"y"}',
    );
  });

  it('refuses numbers that are not safe integers, naming where', () => {
    expect(() => canonicalJson({ a: { b: 1.5 } })).toThrow('$.a.b: canonical JSON holds safe integers only, not 1.5');
    expect(() => canonicalJson({ a: 2 ** 60 })).toThrow('$.a');
  });
});

describe('verifyChain', () => {
  it('answers ok on an empty ledger', async () => {
    await expect(verifyChain([], [], signer)).resolves.toEqual({ ok: true, entries: 0, checkpoints: 0, head: null });
  });

  it('hashes prev_hash ‖ canonical entry', () => {
    const [e] = buildChain('acme', 1);
    expect(e!.prevHash).toBe(GENESIS);
    const body = `{"action":"${e!.action}","actor":"${e!.actor}","at":"${e!.at}","object":"${e!.object}","payload":${canonicalJson(e!.payload)},"seq":1,"tenant":"acme"}`;
    expect(entryHash(GENESIS, e!)).toBe(createHash('sha256').update(GENESIS + body).digest('hex'));
  });

  it('answers ok with the head on untampered ledgers of every length (no false positives)', async () => {
    for (let n = 1; n <= 60; n += 1) {
      const chain = buildChain(`t${n}`, n);
      const result = await verifyChain(chain, await checkpointsOf(chain, 7), signer, `t${n}`);
      expect(result).toEqual({ ok: true, entries: n, checkpoints: Math.ceil(n / 7), head: { seq: n, hash: chain[n - 1]!.hash } });
    }
  });

  it('catches a checkpoint that names an entry past the end, and a checkpoint of another key', async () => {
    const chain = buildChain('acme', 10);
    const cps = await checkpointsOf(chain, 5);
    await expect(verifyChain(chain.slice(0, 7), cps, signer)).resolves.toMatchObject({ ok: false, entries: 7, firstBad: { seq: 8 } });
    const other = await signCheckpoint(fakeSigner(), { tenant: 'acme', seq: 10, hash: chain[9]!.hash, at: chain[9]!.at });
    const forged = await verifyChain(chain, [other], signer);
    expect(forged).toMatchObject({ ok: false, firstBad: { seq: 10 } });
    expect(!forged.ok && forged.firstBad.reason).toMatch(/signature that does not verify/);
  });

  it('detects 1,000 randomised tamperings (every kind), naming the first bad entry', async () => {
    const chain = buildChain('acme', 50);
    const cps = await checkpointsOf(chain, 10);
    const rng = seededRng(12);
    const seen = new Set<string>();
    let detected = 0;
    for (let trial = 0; trial < 1000; trial += 1) {
      const t = tamper(chain, cps, rng);
      seen.add(t.kind);
      const result = await verifyChain(t.entries, t.checkpoints, signer, 'acme');
      if (result.ok) throw new Error(`trial ${trial}: ${t.what} went undetected`);
      if (result.firstBad.seq < t.lo || result.firstBad.seq > t.hi) {
        throw new Error(`trial ${trial}: ${t.what}: named entry ${result.firstBad.seq}, expected ${t.lo}..${t.hi} (${result.firstBad.reason})`);
      }
      detected += 1;
    }
    expect(detected).toBe(1000);
    expect([...seen].sort()).toEqual([...TAMPER_KINDS].sort());
    // The untouched original still verifies: the trials worked on copies.
    await expect(verifyChain(chain, cps, signer, 'acme')).resolves.toMatchObject({ ok: true, entries: 50 });
  });
});
