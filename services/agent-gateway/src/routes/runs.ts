import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { hasPermission, requirePermission } from '@aoetl/auth';
import { NotFoundError } from '@aoetl/contracts';
import { FINAL_STATUSES, type GatewayRun, type RunStepRecord } from '@aoetl/store';
import type { RouteOptions } from '../app.js';
import {
  EventStream,
  IdParams,
  RunEventsHeaders,
  RunEventsQuery,
  RunListQuery,
  RunPage,
  RunResponse,
  problems,
} from '../schemas.js';

const stepView = (s: RunStepRecord) => ({ status: s.status, at: s.at, detail: s.detail });

const HEARTBEAT_MS = 15_000;

export const runRoutes: FastifyPluginAsyncTypebox<RouteOptions> = async (app, { store, ssePollMs }) => {
  // Open event streams end when the server closes, so shutdown does not wait for clients.
  const closing = new AbortController();
  app.addHook('preClose', async () => closing.abort());

  app.get(
    '/v1/runs',
    {
      preHandler: requirePermission('read'),
      schema: {
        operationId: 'listRuns',
        summary: 'List runs',
        tags: ['runs'],
        querystring: RunListQuery,
        response: { 200: RunPage, ...problems() },
      },
    },
    async (request) => {
      const { limit, cursor, pipelineId, status } = request.query;
      const page = await store.listRuns(request.principal!.tenant, { pipelineId, status: status as GatewayRun['status'] | undefined }, {
        limit: limit ?? 20,
        cursor,
      });
      return page;
    },
  );

  app.get(
    '/v1/runs/:id',
    {
      preHandler: requirePermission('read'),
      schema: {
        operationId: 'getRun',
        summary: 'Get a run with its status history',
        tags: ['runs'],
        params: IdParams,
        response: { 200: RunResponse, ...problems() },
      },
    },
    async (request) => {
      const tenant = request.principal!.tenant;
      const run = await store.getRun(tenant, request.params.id);
      const steps = await store.getRunSteps(tenant, run.id);
      return { ...run, steps: steps.map(stepView) };
    },
  );

  app.post(
    '/v1/runs/:id/cancel',
    {
      preHandler: requirePermission('submit'),
      schema: {
        operationId: 'cancelRun',
        summary: 'Cancel a run that has not started running (its submitter, or an admin)',
        tags: ['runs'],
        params: IdParams,
        response: { 200: RunResponse, ...problems(409) },
      },
    },
    async (request) => {
      const principal = request.principal!;
      const run = await store.cancelRun(principal.tenant, request.params.id, principal.id, hasPermission(principal, 'admin'));
      request.log.info({ runId: run.id }, 'run cancelled');
      const steps = await store.getRunSteps(principal.tenant, run.id);
      return { ...run, steps: steps.map(stepView) };
    },
  );

  app.get(
    '/v1/runs/:id/events',
    {
      preHandler: requirePermission('read'),
      schema: {
        operationId: 'streamRunEvents',
        summary: 'Follow a run live (server-sent events)',
        tags: ['runs'],
        params: IdParams,
        querystring: RunEventsQuery,
        headers: RunEventsHeaders,
        response: { 200: EventStream, ...problems() },
      },
    },
    async (request, reply) => {
      const tenant = request.principal!.tenant;
      const runId = request.params.id;
      const lastEventId = request.headers['last-event-id'];
      let after = request.query.after ?? (lastEventId === undefined ? 0 : Number(lastEventId));
      const first = await store.runStepsAfter(tenant, runId, after);
      if (!first) throw new NotFoundError('run not found');

      const deadline = Date.now() + (request.query.timeoutSeconds ?? 900) * 1000;
      const stop = new AbortController();
      const onClosing = () => stop.abort();
      closing.signal.addEventListener('abort', onClosing);
      reply.hijack();
      const res = reply.raw;
      res.on('close', onClosing);
      res.writeHead(200, {
        ...(reply.getHeaders() as Record<string, string>),
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        'x-accel-buffering': 'no',
        'x-request-id': String(request.id),
      });
      const send = (event: string, data: unknown, id?: number) =>
        res.write(`${id === undefined ? '' : `id: ${id}\n`}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);

      try {
        let batch = first;
        let lastWrite = Date.now();
        for (;;) {
          for (const step of batch.steps) {
            send('status', stepView(step), step.id);
            after = step.id;
          }
          if (batch.steps.length > 0) lastWrite = Date.now();
          if (FINAL_STATUSES.includes(batch.status) && batch.steps.length === 0) {
            send('end', { status: batch.status });
            break;
          }
          if (batch.steps.length === 0) {
            if (Date.now() >= deadline) {
              send('timeout', { status: batch.status });
              break;
            }
            if (Date.now() - lastWrite >= HEARTBEAT_MS) {
              res.write(': keep-alive\n\n');
              lastWrite = Date.now();
            }
            await sleep(ssePollMs, stop.signal);
          }
          if (stop.signal.aborted) break;
          const next = await store.runStepsAfter(tenant, runId, after);
          if (!next) break;
          batch = next;
        }
      } catch (err) {
        request.log.warn({ err, runId }, 'run event stream failed');
      } finally {
        closing.signal.removeEventListener('abort', onClosing);
        res.off('close', onClosing);
        res.end();
      }
    },
  );
};

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
