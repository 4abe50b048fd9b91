/**
 * The audit ledger on the real PostgreSQL and the real OpenBao transit (Ed25519 key aoetl-signing), in a throwaway
 * control database migrated from this tree: triggers chain every control-table change, the INSERT-only role and the
 * triggers refuse UPDATE/DELETE/TRUNCATE, a failing ledger write fails the change it records, 1,000 tamperings of a
 * copy of the real ledger are all caught, and retention removes expired runs but keeps the ledger and live artifacts.
 */
import { randomUUID } from 'node:crypto';
import { signCheckpoint, transitSigner, verifyChain, type Checkpoint, type CheckpointVerifier, type LedgerEntry } from '@aoetl/audit';
import { TAMPER_KINDS, seededRng, tamper } from '@aoetl/audit/testing';
import { createLogger } from '@aoetl/observability';
import { VaultSecretStore } from '@aoetl/secrets';
import { Store } from '../../src/index.js';
import { freshControlDb, psqlAdmin, stackEnv, type FreshDb } from '@aoetl/testing';

jest.setTimeout(180_000);

const db: FreshDb = freshControlDb(`aoetl_ledger_it_${randomUUID().slice(0, 8)}`);
const gateway = new Store(db.pool('aoetl_gateway'), 'ledger-it-gateway');
const orchestrator = new Store(db.pool('aoetl_orchestrator'), 'ledger-it-orchestrator');
const vaultEnv = stackEnv('test');
const vault = new VaultSecretStore({
  endpoint: vaultEnv.AOETL_VAULT_ADDR!,
  caFile: vaultEnv.AOETL_VAULT_CACERT!,
  auth: { method: 'token', token: vaultEnv.AOETL_VAULT_TOKEN! },
  logger: createLogger({ name: 'ledger-it', level: 'silent' }),
});
const signer = transitSigner(vault.transit(), 'aoetl-signing');
const tenant = 'ledger-it';
const ctx = { requestId: 'ledger-it' };

afterAll(async () => {
  vault.close();
  await db.drop();
});

const all = async (t: string) => {
  const out: LedgerEntry[] = [];
  for await (const e of gateway.ledger.entries(t, 7)) out.push(e);
  return out;
};
const checkpoint = async (t: string): Promise<Checkpoint> => {
  const head = (await orchestrator.ledger.heads()).find((h) => h.tenant === t)!;
  return signCheckpoint(signer, head);
};

async function succeededRun(name: string): Promise<string> {
  return (await succeeded(name)).runId;
}
async function succeeded(name: string): Promise<{ runId: string; pipelineId: string }> {
  const p = await gateway.pipelines.create(tenant, {
    name,
    source: { connection: 'crm-source', table: 'crm.customers' },
    target: { connection: 'warehouse', table: 'silver.customers', mode: 'merge', keys: ['email'] },
    transform: { kind: 'python', code: `def transform(rows):\n    return rows  # ${name}\n` },
  } as never, 'https://issuer.test|alice', { approvalRequired: false });
  const { run } = await gateway.runs.create({ tenant, pipelineId: p.id, pipelineVersion: p.version, submittedBy: 'https://issuer.test|alice', approvalRequired: false, ctx });
  await orchestrator.runs.transition(run.id, ['queued'], 'planning');
  await orchestrator.runs.transition(run.id, ['planning'], 'running');
  await orchestrator.runs.transition(run.id, ['running'], 'succeeded', { rowsIn: 5, rowsOut: 5 });
  return { runId: run.id, pipelineId: p.id };
}

describe('audit ledger', () => {
  it('verifies an empty ledger as ok', async () => {
    await expect(verifyChain(gateway.ledger.entries('nobody'), [], signer, 'nobody')).resolves.toEqual({ ok: true, entries: 0, checkpoints: 0, head: null });
  });

  it('chains every change in the changing transaction, with the actor, and records lineage at success', async () => {
    const runId = await succeededRun('first');
    const entries = await all(tenant);
    expect(entries.map((e) => e.action)).toEqual(
      expect.arrayContaining(['pipeline.created', 'run.submitted', 'run.planning', 'run.running', 'run.succeeded', 'lineage.recorded']),
    );
    expect(entries.find((e) => e.action === 'run.submitted')).toMatchObject({ actor: 'https://issuer.test|alice', object: `run:${runId}` });
    expect(entries.find((e) => e.action === 'run.running')).toMatchObject({ actor: 'service:aoetl_orchestrator' });
    expect(entries.find((e) => e.action === 'run.succeeded')!.payload).toMatchObject({ from: 'running', to: 'succeeded', rowsOut: 5 });
    expect(entries.map((e) => e.seq)).toEqual(entries.map((_, i) => i + 1));
    await expect(gateway.lineage.targets(tenant)).resolves.toEqual([{ connection: 'warehouse', table: 'silver.customers', keyColumns: ['email'] }]);
    // No raw code or spec: only its hash.
    expect(JSON.stringify(entries)).not.toContain('def transform');
  });

  it('refuses UPDATE, DELETE and TRUNCATE to the INSERT-only role, and to the owner (triggers)', () => {
    for (const sql of ['UPDATE audit_ledger SET actor = $$x$$', 'DELETE FROM audit_ledger', 'TRUNCATE audit_ledger']) {
      expect(() => psqlAdmin(db.name, `SET ROLE aoetl_audit; ${sql}`)).toThrow(/permission denied/);
      expect(() => psqlAdmin(db.name, `SET ROLE aoetl_owner; ${sql}`)).toThrow(/append-only/);
    }
    // The services cannot write the table directly either: only through audit_append.
    expect(() => psqlAdmin(db.name, `SET ROLE aoetl_gateway; INSERT INTO audit_ledger VALUES ('x', 99, now(), 'a', 'b', 'c', '{}', repeat('0', 64), repeat('0', 64))`)).toThrow(/permission denied/);
    expect(psqlAdmin(db.name, `SELECT count(*) FROM audit_ledger WHERE tenant = '${tenant}'`)).not.toBe('0');
  });

  it('fails the change when its ledger entry cannot be written', async () => {
    psqlAdmin(db.name, 'REVOKE INSERT ON audit_ledger FROM aoetl_audit');
    try {
      await expect(succeededRun('unaudited')).rejects.toThrow(/permission denied/);
      expect(psqlAdmin(db.name, `SELECT count(*) FROM pipelines WHERE spec->>'name' = 'unaudited'`)).toBe('0');
    } finally {
      psqlAdmin(db.name, 'GRANT INSERT ON audit_ledger TO aoetl_audit');
    }
  });

  it('serialises concurrent appends into one chain without forks', async () => {
    await Promise.all(Array.from({ length: 12 }, (_, i) => gateway.ledger.append({ tenant, actor: 'service:test', action: 'test.concurrent', object: `n:${i}`, payload: { i } })));
    const result = await verifyChain(gateway.ledger.entries(tenant), [], signer, tenant);
    expect(result).toMatchObject({ ok: true });
  });

  it('records a redelivered event (same eventId) once', async () => {
    const entry = { tenant, actor: 'service:etl-agent/x', action: 'credential.issued', object: `run:${randomUUID()}`, payload: { eventId: randomUUID(), path: 'database/creds/warehouse-writer' } };
    await expect(orchestrator.ledger.appendOnce(entry)).resolves.toEqual(expect.any(Number));
    await expect(orchestrator.ledger.appendOnce(entry)).resolves.toBeNull();
    await expect(orchestrator.ledger.appendOnce({ ...entry, payload: { ...entry.payload, eventId: randomUUID() } })).resolves.toEqual(expect.any(Number));
  });

  it('catches 1,000 randomised tamperings of a copy of the real ledger, signed with transit; none on the original', async () => {
    const checkpoints: Checkpoint[] = [];
    for (let i = 0; i < 5; i += 1) {
      await succeededRun(`batch-${i}`);
      checkpoints.push(await checkpoint(tenant));
    }
    const chain = await all(tenant);
    expect(chain.length).toBeGreaterThan(40);
    await expect(verifyChain(gateway.ledger.entries(tenant), checkpoints, signer, tenant)).resolves.toMatchObject({ ok: true, entries: chain.length, checkpoints: 5 });

    // Transit verify is deterministic: answer repeated (message, signature) pairs from memory to keep 1,000 trials fast.
    const seen = new Map<string, Promise<boolean>>();
    const cached: CheckpointVerifier = {
      verify: (m, s) => {
        const key = `${m}\n${s}`;
        if (!seen.has(key)) seen.set(key, signer.verify(m, s));
        return seen.get(key)!;
      },
    };
    const rng = seededRng(2026);
    const kinds = new Set<string>();
    for (let trial = 0; trial < 1000; trial += 1) {
      const t = tamper(chain, checkpoints, rng);
      kinds.add(t.kind);
      const result = await verifyChain(t.entries, t.checkpoints, cached, tenant);
      if (result.ok) throw new Error(`trial ${trial}: ${t.what} went undetected`);
      if (result.firstBad.seq < t.lo || result.firstBad.seq > t.hi) {
        throw new Error(`trial ${trial}: ${t.what}: named ${result.firstBad.seq}, expected ${t.lo}..${t.hi}: ${result.firstBad.reason}`);
      }
    }
    expect([...kinds].sort()).toEqual([...TAMPER_KINDS].sort());
    await expect(verifyChain(chain, checkpoints, signer, tenant)).resolves.toMatchObject({ ok: true });
  });

  it('purges expired runs, keeps the ledger (and it still verifies) and the artifacts a live pipeline uses', async () => {
    const { runId, pipelineId } = await succeeded('retained');
    const live = { sha256: (await gateway.pipelines.get(tenant, pipelineId)).artifactSha256 };
    const before = (await all(tenant)).length;
    const counts = await orchestrator.retention.purge(tenant, new Date(Date.now() + 1000), 'service:retention');
    expect(counts.runs).toBeGreaterThanOrEqual(7);
    expect(counts.steps).toBeGreaterThanOrEqual(counts.runs * 3);
    await expect(orchestrator.runs.getById(runId)).rejects.toThrow();
    const after = await all(tenant);
    expect(after.length).toBe(before + 1);
    expect(after[after.length - 1]).toMatchObject({ action: 'retention.purged', actor: 'service:retention', payload: { runs: counts.runs } });
    await expect(verifyChain(gateway.ledger.entries(tenant), [], signer, tenant)).resolves.toMatchObject({ ok: true });
    // The live pipeline's current artifact stays.
    expect(psqlAdmin(db.name, `SELECT count(*) FROM artifacts WHERE pipeline_id = '${pipelineId}' AND sha256 = '${live.sha256}'`)).toBe('1');
    // Lineage outlives the runs (erasure still finds the targets).
    await expect(gateway.lineage.targets(tenant)).resolves.toHaveLength(1);
    // Nothing else is purged with a cutoff in the past.
    await expect(orchestrator.retention.purge(tenant, new Date(0), 'service:retention')).resolves.toEqual({ runs: 0, steps: 0, chunks: 0, approvals: 0, artifacts: 0 });
  });
});
