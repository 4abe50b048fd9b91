import { costUsd } from './budget';
import { LlmBudgetExceededError } from './errors';
import { parsePlan, planJsonSchema } from './plan';
import { InMemoryBudgetLedger } from './testing';

const plan = { language: 'python', code: 'def transform(rows):\n    return rows\n', outputColumns: [{ name: 'id', type: 'int4' }], explanation: 'Identity.' };

describe('parsePlan', () => {
  it('accepts an answer of the schema', () => {
    expect(parsePlan(JSON.stringify(plan))).toEqual(plan);
  });

  it.each([
    ['malformed_json', '{"language": "python",'],
    ['malformed_json', 'Sure! Here is the code: def transform(rows): ...'],
    ['schema_mismatch', JSON.stringify({ ...plan, language: 'sql' })],
    ['schema_mismatch', JSON.stringify({ ...plan, extra: 1 })],
    ['schema_mismatch', JSON.stringify({ ...plan, outputColumns: [{ name: 'id' }] })],
    ['schema_mismatch', JSON.stringify({ code: plan.code })],
  ])('refuses %s: %s', (reason, content) => {
    expect(() => parsePlan(content)).toThrow(expect.objectContaining({ reason, code: 'upstream', retryable: false }));
  });

  it('gives the strict JSON schema as plain JSON (every property required, nothing else allowed)', () => {
    const schema = planJsonSchema();
    expect(schema).toMatchObject({ type: 'object', additionalProperties: false, required: ['language', 'code', 'outputColumns', 'explanation'] });
    expect(JSON.stringify(schema)).toContain('"enum":["python"]');
  });
});

describe('cost and budget', () => {
  it('prices tokens per million', () => {
    expect(costUsd({ promptTokens: 2_000_000, completionTokens: 500_000, totalTokens: 2_500_000 }, { inputPerMillion: 0.15, outputPerMillion: 0.6 })).toBeCloseTo(0.6, 10);
  });

  it('refuses a tenant whose spend plus the request passes its limit, and only that tenant', async () => {
    const ledger = new InMemoryBudgetLedger({ acme: 1_000 });
    await ledger.check('acme', 1_000);
    await ledger.charge('acme', { model: 'm', usage: { promptTokens: 600, completionTokens: 100, totalTokens: 700 }, costUsd: 0 });
    await expect(ledger.check('acme', 301)).rejects.toBeInstanceOf(LlmBudgetExceededError);
    await expect(ledger.check('acme', 300)).resolves.toBeUndefined();
    await expect(ledger.check('globex', 1e9)).resolves.toBeUndefined();
    expect(ledger.used('acme')).toBe(700);
  });
});
