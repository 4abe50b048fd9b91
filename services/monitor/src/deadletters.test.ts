import Fastify, { type FastifyInstance } from 'fastify';
import { FakeStreamAdmin } from '@aoetl/bus/testing';
import { problems } from '@aoetl/http';
import { deadLetterRoutes } from './deadletters';

/** The routes with a stand-in for token verification: the test names the caller's roles in a header. */
async function build(bus: FakeStreamAdmin): Promise<FastifyInstance> {
  const app = Fastify({ logger: false });
  await app.register(problems, { serviceName: 'monitor' });
  app.decorateRequest('principal', null);
  app.addHook('onRequest', async (request) => {
    const roles = request.headers['x-test-roles'];
    if (typeof roles === 'string') {
      request.principal = { issuer: 'i', subject: 's', id: 'i|s', tenant: 't', roles: roles.split(','), scopes: [] };
    }
  });
  await deadLetterRoutes(app, { deadLetters: bus });
  await app.ready();
  return app;
}

const admin = { 'x-test-roles': 'admin' };

describe('dead-letter admin routes', () => {
  let bus: FakeStreamAdmin;
  let app: FastifyInstance;
  beforeEach(async () => {
    bus = new FakeStreamAdmin();
    app = await build(bus);
  });
  afterEach(() => app.close());

  test('only admins: 401 without a principal, 403 without the role', async () => {
    expect((await app.inject({ url: '/v1/admin/deadletters' })).statusCode).toBe(401);
    expect((await app.inject({ url: '/v1/admin/deadletters', headers: { 'x-test-roles': 'read' } })).statusCode).toBe(403);
    const id = bus.addDeadLetter({ stream: 'aoetl:events', group: 'g', entry: '1-1', reason: 'r', message: '{}' });
    expect((await app.inject({ method: 'POST', url: `/v1/admin/deadletters/${id}/replay`, headers: { 'x-test-roles': 'read' } })).statusCode).toBe(403);
    expect(bus.replayed).toEqual([]);
  });

  test('lists the newest dead letters first, up to the limit', async () => {
    bus.addDeadLetter({ stream: 'aoetl:events', group: 'monitor', entry: '1-1', reason: 'old', message: '{}' });
    bus.addDeadLetter({ stream: 'aoetl:tasks', group: 'etl-agent', entry: '1-2', reason: 'new', message: '{"v":1}' });
    const res = await app.inject({ url: '/v1/admin/deadletters?limit=1', headers: admin });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ items: [expect.objectContaining({ stream: 'aoetl:tasks', group: 'etl-agent', entry: '1-2', reason: 'new', message: '{"v":1}' })] });
    expect((await app.inject({ url: '/v1/admin/deadletters?limit=0', headers: admin })).statusCode).toBe(400);
    expect((await app.inject({ url: '/v1/admin/deadletters', headers: admin })).json().items).toHaveLength(2);
  });

  test('replays onto the original stream and removes the dead letter', async () => {
    const id = bus.addDeadLetter({ stream: 'aoetl:requests', group: 'orchestrator', entry: '1-1', reason: 'r', message: '{"type":"run.requested"}' });
    const res = await app.inject({ method: 'POST', url: `/v1/admin/deadletters/${id}/replay`, headers: admin });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ stream: 'aoetl:requests', replayedAs: bus.replayed[0]!.id });
    expect(bus.replayed).toEqual([{ stream: 'aoetl:requests', message: '{"type":"run.requested"}', id: expect.any(String) }]);
    expect(await bus.count()).toBe(0);
    // A second replay finds nothing.
    const again = await app.inject({ method: 'POST', url: `/v1/admin/deadletters/${id}/replay`, headers: admin });
    expect(again.statusCode).toBe(404);
    expect(again.headers['content-type']).toContain('application/problem+json');
  });

  test('refuses to replay onto a stream the bus does not carry, and rejects malformed ids', async () => {
    const id = bus.addDeadLetter({ stream: 'aoetl:deadletter', group: 'g', entry: '1-1', reason: 'r', message: '{}' });
    const res = await app.inject({ method: 'POST', url: `/v1/admin/deadletters/${id}/replay`, headers: admin });
    expect(res.statusCode).toBe(409);
    expect(res.json()).toMatchObject({ status: 409, type: 'urn:aoetl:problem:conflict', detail: 'stream aoetl:deadletter cannot be replayed' });
    expect(bus.replayed).toEqual([]);
    expect((await app.inject({ method: 'POST', url: '/v1/admin/deadletters/abc/replay', headers: admin })).statusCode).toBe(400);
  });
});
