/**
 * The gateway app built in-process (buildApp) over the real control database and the real local OIDC issuer,
 * optionally also trusting test issuers (for tokens the real issuer will not mint: expired, other audience…).
 * Needs the local stack (make up); a missing component fails the test and says which.
 */
import { execFileSync } from 'node:child_process';
import { get } from 'node:https';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createLogger } from '@aoetl/observability';
import { Store, createPool } from '@aoetl/store';
import type pg from 'pg';
import { buildApp, type AppDeps, type GatewayApp } from '../../src/app.js';
import type { Client, Response } from './routes.js';

export const REPO = resolve(__dirname, '..', '..', '..', '..');
export const STATE = process.env.AOETL_STATE_DIR ?? join(REPO, '.state');
export const REAL_ISSUER = process.env.AOETL_OIDC_ISSUER ?? 'https://127.0.0.1:9400';
export const AUDIENCE = 'aoetl-api';
export const DEV_CA = readFileSync(join(STATE, 'certs', 'ca.crt'), 'utf8');

export function stackEnv(name: string): Record<string, string> {
  const file = join(STATE, 'env', `${name}.env`);
  if (!existsSync(file)) throw new Error(`${file} is missing: the local stack is not up (run: make up)`);
  const env: Record<string, string> = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const i = line.indexOf('=');
    if (i > 0 && !line.startsWith('#')) env[line.slice(0, i)] = line.slice(i + 1);
  }
  return env;
}

const tokens = new Map<string, string>();
/** A real access token from the local OIDC issuer (deploy/local/token.sh), cached per identity. */
export function realToken(identity: string): string {
  let t = tokens.get(identity);
  if (t === undefined) {
    t = execFileSync(join(REPO, 'deploy/local/token.sh'), [identity], { encoding: 'utf8' }).trim();
    tokens.set(identity, t);
  }
  return t;
}

/** A pool as the gateway's own database role (its grants are what is tested). */
export function gatewayPool(): pg.Pool {
  const env = stackEnv('agent-gateway');
  return createPool({ url: env.AOETL_DATABASE_URL!, password: env.AOETL_DATABASE_PASSWORD!, max: 4, applicationName: 'gateway-test' });
}

/** Runs SQL as the PostgreSQL superuser (fixtures only the orchestrator could write, e.g. artifacts). */
export function psqlAdmin(database: string, sql: string): string {
  const env = stackEnv('test');
  return execFileSync(
    'runuser',
    ['-u', 'postgres', '--', 'psql', '-h', env.AOETL_PG_SUPERUSER_SOCKET!, '-p', env.AOETL_PG_PORT ?? '5433', '-d', database,
      '-v', 'ON_ERROR_STOP=1', '-AtX', '-c', sql],
    { encoding: 'utf8', env: { PATH: process.env.PATH, TZ: 'UTC', PGTZ: 'UTC' } },
  ).trim();
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
      ca: `${DEV_CA}\n${extra.ca ?? ''}`,
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
      headers: {
        ...(opts.authorization === undefined ? {} : { authorization: opts.authorization }),
        ...(opts.body === undefined ? {} : { 'content-type': 'application/json' }),
        ...opts.headers,
      },
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

/** A client for the running gateway (services.sh), for end-to-end tests. */
export function liveClient(base = 'http://127.0.0.1:8080'): Client {
  return async (method, url, opts = {}) => {
    const res = await fetch(`${base}${url}`, {
      method,
      headers: {
        ...(opts.authorization === undefined ? {} : { authorization: opts.authorization }),
        ...(opts.body === undefined ? {} : { 'content-type': 'application/json' }),
        ...opts.headers,
      },
      ...(opts.body === undefined ? {} : { body: JSON.stringify(opts.body) }),
    });
    const text = await res.text();
    return { status: res.status, headers: Object.fromEntries(res.headers), text, json: () => JSON.parse(text) };
  };
}

/** GET a JSON document over HTTPS trusting only `ca`. */
export function httpsJson(url: string, ca: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    get(url, { ca }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => {
        try {
          resolve(JSON.parse(body));
        } catch (err) {
          reject(err instanceof Error ? err : new Error(String(err)));
        }
      });
    }).on('error', reject);
  });
}
