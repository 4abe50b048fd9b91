/**
 * The model planner's records on the real control database, as the orchestrator's role: a plan stored under a cache
 * key reads back (per tenant, immutable, the first writer wins), and token spend adds up per tenant since a time.
 */
import { randomUUID } from 'node:crypto';
import { stackEnv } from '@aoetl/testing';
import { Store, createPool } from '../../src/index.js';

const env = stackEnv('orchestrator');
const store = new Store(createPool({ url: env.AOETL_DATABASE_URL!, password: env.AOETL_DATABASE_PASSWORD!, max: 2, applicationName: 'llm-plans-test' }), 'llm-plans-test');
const tenant = `llm-test-${randomUUID().slice(0, 8)}`;
const key = 'a'.repeat(64);
const plan = {
  code: 'def transform(rows):\n    return rows\n',
  sha256: 'b'.repeat(64),
  explanation: 'identity',
  outputColumns: [{ name: 'id', type: 'bigint' }],
  provenance: { planner: 'llm', model: 'm', pii: [{ column: 'email', maskedValues: 2, kinds: { email: 2 } }] },
};
afterAll(() => store.close());

test('a plan reads back by tenant and key; another tenant does not see it; a second write keeps the first', async () => {
  expect(await store.llmPlans.get(tenant, key)).toBeNull();
  await store.llmPlans.put(tenant, key, plan);
  await store.llmPlans.put(tenant, key, { ...plan, code: 'def transform(rows):\n    return []\n' });
  expect(await store.llmPlans.get(tenant, key)).toEqual(plan);
  expect(await store.llmPlans.get(`${tenant}-other`, key)).toBeNull();
});

test('spend adds up per tenant since a time', async () => {
  const before = new Date(Date.now() - 1000);
  await store.llmPlans.recordSpend(tenant, { model: 'm', usage: { promptTokens: 100, completionTokens: 20, totalTokens: 120 }, costUsd: 0.0004 });
  await store.llmPlans.recordSpend(tenant, { model: 'm', usage: { promptTokens: 10, completionTokens: 5, totalTokens: 15 }, costUsd: 0 });
  expect(await store.llmPlans.tokensUsed(tenant, before)).toBe(135);
  expect(await store.llmPlans.tokensUsed(tenant, new Date(Date.now() + 60_000))).toBe(0);
  expect(await store.llmPlans.tokensUsed(`${tenant}-other`, before)).toBe(0);
});
