import { createHash } from 'node:crypto';
import { planFromInstruction } from '@aoetl/codegen';
import { LlmRequestError, ModelPlanner, type DryRun, type PlanResult } from '@aoetl/llm';
import { ScriptedLlmClient } from '@aoetl/llm/testing';
import { createLogger } from '@aoetl/observability';
import type { RunRecord } from '@aoetl/store';
import { ModelTransformPlanner } from './transform-planner';

const sha = (t: string) => createHash('sha256').update(t).digest('hex');
const columns = [{ name: 'id', type: 'bigint' }, { name: 'email', type: 'text' }];
const text = 'lower-case the email';
const offline = planFromInstruction(text, columns);
if (!offline.ok) throw new Error('the fixture instruction must map');
const logger = createLogger({ name: 'test', level: 'silent' });

function run(planner?: 'rules' | 'llm', approvalRequired = false): RunRecord {
  const provenance = { planner: 'rules' as const, plannerVersion: 'rules-1', instructionSha256: sha(text), sampleSha256: null, codeSha256: sha(offline.ok ? offline.code : ''), requestedBy: 'alice' };
  const code = offline.ok ? offline.code : '';
  return {
    id: '00000000-0000-4000-8000-000000000001', pipelineId: '00000000-0000-4000-8000-000000000002', tenant: 'acme', status: 'planning',
    approvalRequired, submittedBy: 'alice', cancelledBy: null, requestId: 'r', pipelineVersion: 1,
    snapshot: {
      name: 'p', source: { connection: 'src', table: 'crm.people' }, target: { connection: 'wh', table: 'silver.people', mode: 'merge', keys: ['id'] },
      transform: { kind: 'instruction', text, columns, ...(planner ? { planner } : {}), code, explanation: '', provenance },
    },
    artifactSha256: sha(code), plan: null, planning: null, options: {}, watermark: null, checks: null, chunksDispatched: 0, chunks: 1, rowsIn: null, rowsOut: null, bytesOut: null, error: null,
    createdAt: '2026-01-01T00:00:00Z', updatedAt: '2026-01-01T00:00:00Z', startedAt: null, finishedAt: null,
  };
}

const modelCode = 'def transform(rows):\n    return [{"id": r["id"], "email": (r["email"] or "").lower()} for r in rows]\n';
const answer: PlanResult = {
  plan: { language: 'python', code: modelCode, outputColumns: [{ name: 'id', type: 'bigint' }, { name: 'email', type: 'text' }], explanation: 'x' },
  model: 'scripted', parameters: { temperature: 0, seed: 1, maxTokens: 4096 }, usage: { promptTokens: 1, completionTokens: 1, totalTokens: 2 }, costUsd: 0, attempts: 1, latencyMs: 1,
};
const echo = (result?: Awaited<ReturnType<DryRun['run']>>): DryRun => ({
  run: async (req) => result ?? { ok: true, columns: ['id', 'email'], rows: req.rows },
});
const cache = () => {
  const m = new Map();
  return { get: async (_t: string, k: string) => m.get(k) ?? null, put: async (_t: string, k: string, p: unknown) => void m.set(k, p) };
};
const model = (answers: (PlanResult | Error)[], dryRun = echo()) => new ModelPlanner({ client: new ScriptedLlmClient(answers), dryRun, cache: cache() });
const ctx = { requestId: 'r' };

describe('ModelTransformPlanner', () => {
  it('keeps the snapshot code when the offline planner is asked for', async () => {
    const r = run();
    await expect(new ModelTransformPlanner({ model: model([]), defaultPlanner: 'rules', logger }).choose(r, ctx)).resolves.toMatchObject({
      ok: true, sha256: r.artifactSha256, planning: { planner: 'rules', requested: 'rules', fallbacks: [] },
    });
  });

  it('runs the model plan when asked (pipeline or default) and configured', async () => {
    const choice = await new ModelTransformPlanner({ model: model([answer]), defaultPlanner: 'rules', logger }).choose(run('llm'), ctx);
    expect(choice).toMatchObject({ ok: true, code: modelCode, sha256: sha(modelCode), planning: { planner: 'llm', requested: 'llm', fallbacks: [], cached: false } });
    const byDefault = await new ModelTransformPlanner({ model: model([answer]), defaultPlanner: 'llm', logger }).choose(run(), ctx);
    expect(byDefault).toMatchObject({ ok: true, planning: { planner: 'llm' } });
  });

  it('falls back to the offline planner with the reason, and names it when no model is configured', async () => {
    const err = new LlmRequestError('the model endpoint timed out (after 3 attempts)', { reason: 'timeout' });
    const r = run('llm');
    await expect(new ModelTransformPlanner({ model: model([err]), defaultPlanner: 'rules', logger }).choose(r, ctx)).resolves.toMatchObject({
      ok: true, sha256: r.artifactSha256,
      planning: { planner: 'rules', requested: 'llm', fallbacks: [{ from: 'llm', to: 'rules', code: 'llm_unavailable', reason: 'the model endpoint timed out (after 3 attempts)' }] },
    });
    await expect(new ModelTransformPlanner({ model: null, defaultPlanner: 'rules', logger }).choose(r, ctx)).resolves.toMatchObject({
      ok: true, planning: { planner: 'rules', fallbacks: [{ code: 'llm_not_configured' }] },
    });
  });

  it('runs the approved artifact of a run that needs an approval, without asking the model', async () => {
    const r = run('llm', true);
    await expect(new ModelTransformPlanner({ model: model([]), defaultPlanner: 'rules', logger }).choose(r, ctx)).resolves.toMatchObject({
      ok: true, sha256: r.artifactSha256, planning: { planner: 'artifact', fallbacks: [{ from: 'llm', to: 'artifact', code: 'approval_binds_artifact' }] },
    });
  });

  it('fails the run when the model code fails a check', async () => {
    const refused = echo({ ok: false, error: { code: 'policy_refused', message: 'import of os', violation: true } });
    await expect(new ModelTransformPlanner({ model: model([answer], refused), defaultPlanner: 'rules', logger }).choose(run('llm'), ctx)).resolves.toMatchObject({
      ok: false, error: { code: 'llm_policy_refused', violation: true }, planning: { planner: 'llm' },
    });
  });
});
