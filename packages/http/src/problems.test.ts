import Fastify from 'fastify';
import {
  ConflictError,
  InputError,
  InternalError,
  NotAllowedError,
  NotFoundError,
  TooManyRequestsError,
  UnauthorizedError,
  UpstreamError,
} from '@aoetl/contracts';
import { Collector } from '@aoetl/testing';
import { problems } from './index.js';

/** An app whose `/throw` route throws what `error` returns; its error logs land in `logs`. */
async function appThrowing(error: () => unknown, opts: { serviceName?: string } = {}) {
  const stream = new Collector();
  // As the gateway validates: every error at once, unknown properties refused (not removed).
  const app = Fastify({ logger: { level: 'error', stream }, ajv: { customOptions: { allErrors: true, removeAdditional: false } } });
  await app.register(problems, opts);
  app.get('/throw', async () => {
    throw error();
  });
  app.get('/challenge', async (_request, reply) => {
    reply.header('www-authenticate', 'Bearer error="invalid_token"');
    throw new UnauthorizedError('expired');
  });
  app.post(
    '/pipelines',
    {
      schema: {
        querystring: { type: 'object', properties: { limit: { type: 'integer', maximum: 100 } }, additionalProperties: false },
        body: {
          type: 'object',
          required: ['name', 'target'],
          additionalProperties: false,
          properties: {
            name: { type: 'string' },
            target: { type: 'object', properties: { mode: { enum: ['append', 'merge'] } }, additionalProperties: false },
          },
        },
      },
    },
    async () => ({ ok: true }),
  );
  await app.ready();
  return { app, logs: stream };
}

async function thrown(error: () => unknown) {
  const { app, logs } = await appThrowing(error);
  const res = await app.inject({ method: 'GET', url: '/throw' });
  await app.close();
  return { status: res.statusCode, type: res.headers['content-type'], body: res.json(), headers: res.headers, logs: logs.text() };
}

describe('problems: domain errors', () => {
  it.each([
    ['InputError', () => new InputError('bad cursor', { details: [{ field: 'querystring/cursor', message: 'is not a cursor' }] }), 400, 'input', 'input'],
    ['NotAllowedError', () => new NotAllowedError('four eyes: not your own run'), 403, 'not_allowed', 'not allowed'],
    ['NotFoundError', () => new NotFoundError('no such run'), 404, 'not_found', 'not found'],
    ['ConflictError', () => new ConflictError('the run is running'), 409, 'conflict', 'conflict'],
    ['TooManyRequestsError', () => new TooManyRequestsError('at most 2 requests per minute'), 429, 'too_many_requests', 'too many requests'],
  ])('%s answers its status with the code as type and the message as detail', async (_name, error, status, code, title) => {
    const err = error();
    const res = await thrown(() => err);
    expect(res.status).toBe(status);
    expect(res.type).toMatch(/^application\/problem\+json/);
    expect(res.body).toEqual({
      type: `urn:aoetl:problem:${code}`,
      title,
      status,
      detail: err.message,
      ...(err.details.length ? { errors: err.details } : {}),
    });
    expect(res.logs).toBe('');
  });

  it('answers 401 without saying why, with a bearer challenge', async () => {
    const res = await thrown(() => new UnauthorizedError('kid unknown'));
    expect(res.status).toBe(401);
    expect(res.body).toEqual({ type: 'about:blank', title: 'Unauthorized', status: 401 });
    expect(res.headers['www-authenticate']).toBe('Bearer');
  });

  it('keeps a challenge the thrower set', async () => {
    const { app } = await appThrowing(() => null);
    const res = await app.inject({ method: 'GET', url: '/challenge' });
    await app.close();
    expect(res.statusCode).toBe(401);
    expect(res.headers['www-authenticate']).toBe('Bearer error="invalid_token"');
  });

  it('answers 503 for an upstream error, logs it, and never shows its message', async () => {
    const res = await thrown(() => new UpstreamError('connect ECONNREFUSED 10.0.0.7:5432 password=hunter2'));
    expect(res.status).toBe(503);
    expect(res.body).toEqual({ type: 'about:blank', title: 'service unavailable', status: 503, detail: 'a dependency is unavailable; retry later' });
    expect(JSON.stringify(res.body)).not.toMatch(/10\.0\.0\.7|hunter2/);
    expect(res.logs).toContain('request failed');
  });

  it.each([
    ['an internal error', () => new InternalError('invariant broken at secret-path')],
    ['a plain Error', () => new Error('undefined is not a function at secret-path')],
    ['a thrown string', () => 'secret-path'],
  ])('answers 500 for %s, logs it, and never shows its message', async (_what, error) => {
    const res = await thrown(error);
    expect(res.status).toBe(500);
    expect(res.body).toEqual({ type: 'about:blank', title: 'internal error', status: 500 });
    expect(JSON.stringify(res.body)).not.toMatch(/secret-path|hunter2/);
    expect(res.logs).toContain('request failed');
  });
});

describe('problems: fastify errors', () => {
  it('answers 400 naming each offending field for validation errors', async () => {
    const { app } = await appThrowing(() => null);
    const body = await app.inject({ method: 'POST', url: '/pipelines', payload: { target: { mode: 'upsert' }, extra: 1 } });
    expect(body.statusCode).toBe(400);
    const problem = body.json();
    expect(problem).toMatchObject({ type: 'urn:aoetl:problem:input', title: 'invalid request', status: 400 });
    expect(problem.errors.map((e: { field: string }) => e.field).sort()).toEqual(['body/extra', 'body/name', 'body/target/mode']);
    expect(problem.detail).toBe(problem.errors.map((e: { field: string; message: string }) => `${e.field} ${e.message}`).join('; '));

    const query = await app.inject({ method: 'POST', url: '/pipelines?limit=1000', payload: { name: 'x', target: {} } });
    await app.close();
    expect(query.json()).toEqual({
      type: 'urn:aoetl:problem:input',
      title: 'invalid request',
      status: 400,
      detail: 'querystring/limit must be <= 100',
      errors: [{ field: 'querystring/limit', message: 'must be <= 100' }],
    });
  });

  it('keeps the status and message of fastify client errors (415)', async () => {
    const { app } = await appThrowing(() => null);
    const xml = await app.inject({ method: 'POST', url: '/pipelines', headers: { 'content-type': 'application/xml' }, payload: '<a/>' });
    expect(xml.statusCode).toBe(415);
    expect(xml.json()).toMatchObject({ type: 'about:blank', title: 'unsupported media type', status: 415, detail: expect.any(String) });
    await app.close();
  });

  it('answers 503 (load shedding) naming the service, saying nothing internal', async () => {
    const { app } = await appThrowing(() => Object.assign(new Error('event loop delay 2000 ms'), { statusCode: 503 }), { serviceName: 'gateway' });
    const res = await app.inject({ method: 'GET', url: '/throw' });
    await app.close();
    expect(res.statusCode).toBe(503);
    expect(res.json()).toEqual({ type: 'about:blank', title: 'service unavailable', status: 503, detail: 'the gateway is shedding load; retry later' });
  });

  it('answers 500 for a fastify 5xx other than 503', async () => {
    const res = await thrown(() => Object.assign(new Error('bad gateway at secret-path'), { statusCode: 502 }));
    expect(res.status).toBe(500);
    expect(res.body).toEqual({ type: 'about:blank', title: 'internal error', status: 500 });
  });

  it('answers an unknown route with a 404 problem', async () => {
    const { app } = await appThrowing(() => null);
    const res = await app.inject({ method: 'GET', url: '/nowhere?x=1' });
    await app.close();
    expect(res.statusCode).toBe(404);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.json()).toEqual({ type: 'about:blank', title: 'not found', status: 404, detail: 'no route GET /nowhere' });
  });

  it('registers the Problem schema for response schemas to reference', async () => {
    const { app } = await appThrowing(() => null);
    expect(app.getSchema('Problem')).toMatchObject({ $id: 'Problem', additionalProperties: false });
    await app.close();
  });
});
