/**
 * The gateway app built in-process (buildApp) over the real control database and the real local OIDC issuer,
 * optionally also trusting test issuers (for tokens the real issuer will not mint: expired, other audience…).
 * Needs the local stack (make up); a missing component fails the test and says which. The stack itself (env,
 * tokens, psql) and the route catalog come from @aoetl/testing.
 */
import { AUDIENCE, REAL_ISSUER, clientHeaders, devCa, stackEnv, type Client, type Response } from '@aoetl/testing';
import { createLogger } from '@aoetl/observability';
import { Store, createPool } from '@aoetl/store';
import type pg from 'pg';
import { buildApp, type AppDeps, type GatewayApp } from '../../src/app.js';

/** A pool as the gateway's own database role (its grants are what is tested). */
export function gatewayPool(): pg.Pool {
  const env = stackEnv('agent-gateway');
  return createPool({ url: env.AOETL_DATABASE_URL!, password: env.AOETL_DATABASE_PASSWORD!, max: 4, applicationName: 'gateway-test' });
}

export interface TestGateway {
  app: GatewayApp;
  pool: pg.Pool;
  call: Client;
  close: () => Promise<void>;
}

/** buildApp over the real database, trusting the real issuer plus `extra` issuers (whose CA is added). */
export async function buildTestGateway(
  extra: { issuers?: string[]; ca?: string } = {},
  overrides: Partial<AppDeps> = {},
): Promise<TestGateway> {
  const pool = gatewayPool();
  const app = await buildApp({
    store: new Store(pool, 'agent-gateway-test'),
    logger: createLogger({ name: 'agent-gateway-test', level: process.env.GATEWAY_TEST_LOG ?? 'silent' }),
    auth: {
      issuers: [REAL_ISSUER, ...(extra.issuers ?? [])],
      audience: AUDIENCE,
      ca: `${devCa()}\n${extra.ca ?? ''}`,
    },
    ssePollMs: 100,
    // Tests block the loop on purpose (token.sh as a synchronous child process, RSA key generation), and
    // under-pressure takes a loop blocked for a whole sampling interval as infinite delay: no shedding here.
    maxEventLoopDelayMs: 0,
    docs: false, // jest cannot load Swagger UI's static file server (ESM-only dependency); e2e tests /docs
    ...overrides,
  });
  await app.ready();
  const call: Client = async (method, url, opts = {}) => {
    const res = await app.inject({
      method: method as 'GET',
      url,
      headers: clientHeaders(opts),
      ...(opts.body === undefined ? {} : { payload: JSON.stringify(opts.body) }),
    });
    return {
      status: res.statusCode,
      headers: res.headers as Record<string, string>,
      text: res.body,
      json: () => JSON.parse(res.body),
    } satisfies Response;
  };
  return {
    app,
    pool,
    call,
    close: async () => {
      await app.close();
      await pool.end();
    },
  };
}
