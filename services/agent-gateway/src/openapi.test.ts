import { readFileSync } from 'node:fs';
import { SPEC_PATH, generateOpenApi } from './openapi.js';

describe('the committed OpenAPI document', () => {
  it('equals what the code generates (regenerate: node services/agent-gateway/dist/openapi.js --write)', async () => {
    const generated = await generateOpenApi();
    expect(readFileSync(SPEC_PATH, 'utf8')).toBe(generated);
  });

  it('is OpenAPI 3.1 and documents every operation with a problem+json error and a bearer token', async () => {
    const spec = JSON.parse(await generateOpenApi());
    expect(spec.openapi).toBe('3.1.0');
    const operations = Object.entries(spec.paths as Record<string, Record<string, any>>).flatMap(([path, ops]) =>
      Object.entries(ops).map(([method, op]) => ({ path, method, op })),
    );
    expect(operations.length).toBeGreaterThanOrEqual(21);
    for (const { path, method, op } of operations) {
      const where = `${method.toUpperCase()} ${path}`;
      expect([where, typeof op.operationId]).toEqual([where, 'string']);
      expect([where, Object.keys(op.responses).sort()]).toEqual([where, expect.arrayContaining(['401', '403', '429', '500'])]);
      expect([where, Object.keys(op.responses['401'].content)]).toEqual([where, ['application/problem+json']]);
      expect([where, op.security ?? spec.security]).toEqual([where, [{ bearerAuth: [] }]]);
    }
  });
});
