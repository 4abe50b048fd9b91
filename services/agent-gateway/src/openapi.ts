/**
 * The committed OpenAPI document (docs/api/openapi.json) is generated from the route schemas:
 *
 *   node services/agent-gateway/dist/openapi.js --write   regenerate it
 *   node services/agent-gateway/dist/openapi.js --check   exit 1 when the code and the committed file differ
 *
 * (`pnpm --filter @aoetl/agent-gateway run openapi` runs --write.) src/openapi.test.ts fails when they differ.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLogger } from '@aoetl/observability';
import { buildApp, type GatewayQueries } from './app.js';

export const SPEC_PATH = join(__dirname, '..', '..', '..', 'docs', 'api', 'openapi.json');

/** A store for building the app without a database: generating the document never queries. */
const noStore = new Proxy({} as GatewayQueries, {
  get: (_target, name) => () => {
    throw new Error(`the store is not available while generating the OpenAPI document (${String(name)})`);
  },
});

/** The OpenAPI document as the code defines it, serialized exactly as committed. */
export async function generateOpenApi(): Promise<string> {
  const app = await buildApp({
    store: noStore,
    logger: createLogger({ name: 'openapi', level: 'silent' }),
    auth: { issuers: ['https://issuer.invalid'], audience: 'aoetl-api' },
    docs: false, // Swagger UI's routes are hidden from the document anyway
  });
  try {
    await app.ready();
    return `${JSON.stringify(app.swagger(), null, 2)}\n`;
  } finally {
    await app.close();
  }
}

async function main(mode: string | undefined): Promise<number> {
  const generated = await generateOpenApi();
  if (mode === '--write') {
    writeFileSync(SPEC_PATH, generated);
    process.stdout.write(`wrote ${SPEC_PATH}\n`);
    return 0;
  }
  if (mode === '--check') {
    let committed = '';
    try {
      committed = readFileSync(SPEC_PATH, 'utf8');
    } catch {
      committed = '';
    }
    if (committed === generated) return 0;
    process.stderr.write(`${SPEC_PATH} differs from the code; run: node services/agent-gateway/dist/openapi.js --write\n`);
    return 1;
  }
  process.stdout.write(generated);
  return 0;
}

if (require.main === module) {
  main(process.argv[2]).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`${String(err)}\n`);
      process.exit(1);
    },
  );
}
