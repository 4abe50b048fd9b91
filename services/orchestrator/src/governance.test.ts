import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CheckpointFile, verifyChain } from '@aoetl/audit';
import { buildChain, fakeSigner } from '@aoetl/audit/testing';
import { createLogger } from '@aoetl/observability';
import type { PurgeCounts } from '@aoetl/store';
import { RETENTION_ACTOR, checkpointOnce, purgeOnce, retentionDays, type GovernanceStore } from './governance.js';

const log = createLogger({ name: 'governance-test', level: 'silent' });
const NONE: PurgeCounts = { runs: 0, steps: 0, chunks: 0, approvals: 0, artifacts: 0 };

describe('retentionDays', () => {
  it('takes per-tenant overrides over the default', () => {
    const days = retentionDays(90, 'acme=7,globex=30');
    expect([days('acme'), days('globex'), days('initech')]).toEqual([7, 30, 90]);
  });
  it('names a malformed override', () => {
    expect(() => retentionDays(90, 'acme=0')).toThrow('"acme=0" is not tenant=days');
    expect(() => retentionDays(90, 'acme')).toThrow('AOETL_RETENTION_TENANT_DAYS');
  });
});

describe('purgeOnce', () => {
  it('purges each tenant with its own cutoff, as the retention actor', async () => {
    const calls: [string, string, string][] = [];
    const store = {
      retention: {
        tenants: async () => ['acme', 'globex'],
        purge: async (tenant: string, cutoff: Date, actor: string) => {
          calls.push([tenant, cutoff.toISOString(), actor]);
          return { ...NONE, runs: tenant === 'acme' ? 3 : 0 };
        },
      },
    } as unknown as GovernanceStore;
    const now = Date.UTC(2026, 11, 10);
    await expect(purgeOnce(store, retentionDays(30, 'acme=1'), log, now)).resolves.toBe(3);
    expect(calls).toEqual([
      ['acme', '2026-12-09T00:00:00.000Z', RETENTION_ACTOR],
      ['globex', '2026-11-10T00:00:00.000Z', RETENTION_ACTOR],
    ]);
  });
});

describe('checkpointOnce', () => {
  it('signs only heads that moved, and the export verifies the chain', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cp-'));
    try {
      const chain = buildChain('acme', 12);
      let length = 5;
      const store = {
        ledger: { heads: async () => [{ tenant: 'acme', seq: length, hash: chain[length - 1]!.hash, at: chain[length - 1]!.at }] },
      } as unknown as GovernanceStore;
      const signer = fakeSigner();
      const file = new CheckpointFile(join(dir, 'sub', 'checkpoints.jsonl'));
      const signed = new Map<string, number>();
      await expect(checkpointOnce(store, signer, file, signed)).resolves.toBe(1);
      await expect(checkpointOnce(store, signer, file, signed)).resolves.toBe(0);
      length = 12;
      await expect(checkpointOnce(store, signer, file, signed)).resolves.toBe(1);
      const cps = await file.read('acme');
      expect(cps.map((c) => c.seq)).toEqual([5, 12]);
      await expect(verifyChain(chain, cps, signer, 'acme')).resolves.toMatchObject({ ok: true, checkpoints: 2 });
      // The export catches a chain cut back to before the last checkpoint.
      await expect(verifyChain(chain.slice(0, 10), cps, signer, 'acme')).resolves.toMatchObject({ ok: false, firstBad: { seq: 11 } });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
