import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { hasPermission, requirePermission } from '@aoetl/auth';
import { InputError, NotAllowedError, NotFoundError, TERMINAL_STATUSES, TooManyRequestsError, type RunStatus } from '@aoetl/contracts';
import { runNeedsApproval } from '@aoetl/runs';
import type { RouteOptions, RunQuota } from '../app.js';
import { audienceOf, runView, stepView } from '../run-view.js';
import { LIST_FIELDS, messageContext, withRequestFields } from '../request-context.js';
import {
  EventStream,
  IdParams,
  IdempotencyHeaders,
  RunAccepted,
  RunEventsHeaders,
  RunEventsQuery,
  RunListQuery,
  RunOptionsBody,
  RunPage,
  RunResponse,
  problems,
} from '../schemas.js';

const HEARTBEAT_MS = 15_000;
/** Retry-After of a submit refused by the quota: runs take a while to finish. */
const QUOTA_RETRY_AFTER_SECONDS = 30;

/** Why the tenant may not submit another run now (the limit named), or null. */
export function quotaRefusal(active: { queued: number; inFlight: number }, quota: RunQuota): string | null {
  if (active.queued >= quota.maxQueued) {
    return `tenant run quota: at most ${quota.maxQueued} runs queued; ${active.queued} are`;
  }
  if (active.inFlight >= quota.maxInFlight) {
    return `tenant run quota: at most ${quota.maxInFlight} runs in flight (planning or running); ${active.inFlight} are`;
  }
  return null;
}
/** Retry-After of a refused event stream: streams are long-lived, so a short wait rarely frees one. */
const STREAM_RETRY_AFTER_SECONDS = 30;

export const runRoutes: FastifyPluginAsyncTypebox<RouteOptions> = async (app, { store, events, expensiveRateLimit, approvalRequiredModes, runQuota }) => {
  // Open event streams end when the server closes, so shutdown does not wait for clients.
  const closing = new AbortController();
  app.addHook('preClose', async () => closing.abort());

  app.post(
    '/v1/pipelines/:id/runs',
    {
      preHandler: requirePermission('submit'),
      // The body is optional: no body means no options.
      preValidation: (request, _reply, done) => {
        request.body ??= {};
        done();
      },
      schema: {
        operationId: 'createRun',
        summary:
          'Start a run of the pipeline\'s current version, recorded as the run\'s snapshot (it waits for an approval when ' +
          'the version, the pipeline or a policy asks for one)',
        tags: ['runs'],
        params: IdParams,
        headers: IdempotencyHeaders,
        body: RunOptionsBody,
        response: { 202: RunAccepted, ...problems(409) },
      },
    },
    async (request, reply) => {
      const principal = request.principal!;
      const key = request.headers['idempotency-key'];
      const pipeline = await store.pipelines.get(principal.tenant, request.params.id);
      const fullRefresh = request.body.fullRefresh === true;
      if (fullRefresh && !pipeline.spec.incremental) {
        const message = 'a full refresh applies to incremental pipelines only (this pipeline reads every row on every run)';
        throw new InputError(message, { details: [{ field: 'body/fullRefresh', message }] });
      }
      const refusal = quotaRefusal(await store.runs.activeCounts(principal.tenant), runQuota);
      if (refusal !== null) {
        void reply.header('retry-after', String(QUOTA_RETRY_AFTER_SECONDS));
        throw new TooManyRequestsError(refusal);
      }
      const { run, created } = await store.runs.create({
        tenant: principal.tenant,
        pipelineId: pipeline.id,
        pipelineVersion: pipeline.version,
        submittedBy: principal.id,
        ...(typeof key === 'string' ? { idempotencyKey: key } : {}),
        approvalRequired: runNeedsApproval(pipeline, approvalRequiredModes),
        ...(fullRefresh ? { options: { fullRefresh } } : {}),
        ctx: messageContext(request),
      });
      request.log.info({ runId: run.id, created, status: run.status, pipelineVersion: run.pipelineVersion }, 'run accepted');
      return reply.code(202).header('location', `/v1/runs/${run.id}`).send({ runId: run.id, status: run.status, created });
    },
  );

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
      const page = await withRequestFields(LIST_FIELDS, () =>
        store.runs.list(request.principal!.tenant, { pipelineId, status: status as RunStatus | undefined }, { limit: limit ?? 20, cursor }),
      );
      const audience = audienceOf(request.principal!);
      return { items: page.items.map((r) => runView(r, audience)), nextCursor: page.nextCursor };
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
      const run = await store.runs.get(tenant, request.params.id);
      const steps = await store.runs.steps(tenant, run.id);
      const audience = audienceOf(request.principal!);
      return { ...runView(run, audience), steps: steps.map((s) => stepView(s, audience)) };
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
      const found = await store.runs.get(principal.tenant, request.params.id);
      if (found.submittedBy !== principal.id && !hasPermission(principal, 'admin')) {
        throw new NotAllowedError('only the submitter or an admin may cancel this run');
      }
      const run = await store.runs.cancel(principal.tenant, found.id, principal.id);
      request.log.info({ runId: run.id }, 'run cancelled');
      const steps = await store.runs.steps(principal.tenant, run.id);
      const audience = audienceOf(principal);
      return { ...runView(run, audience), steps: steps.map((s) => stepView(s, audience)) };
    },
  );

  app.get(
    '/v1/runs/:id/events',
    {
      preHandler: requirePermission('read'),
      config: { rateLimit: expensiveRateLimit },
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
      const principal = request.principal!;
      const audience = audienceOf(principal);
      const runId = request.params.id;
      const lastEventId = request.headers['last-event-id'];
      let after = request.query.after ?? (lastEventId === undefined ? 0 : Number(lastEventId));
      let feed;
      try {
        feed = await events.join(principal.tenant, principal.id, runId);
      } catch (err) {
        if (err instanceof TooManyRequestsError) void reply.header('retry-after', String(STREAM_RETRY_AFTER_SECONDS));
        throw err;
      }
      if (!feed) throw new NotFoundError('run not found');

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
        let lastWrite = Date.now();
        while (!stop.signal.aborted) {
          const steps = feed.stepsAfter(after);
          for (const step of steps) {
            send('status', stepView(step, audience), step.id);
            after = step.id;
          }
          if (steps.length > 0) lastWrite = Date.now();
          const status = feed.status;
          if (status === null) break;
          if (TERMINAL_STATUSES.includes(status)) {
            send('end', { status });
            break;
          }
          if (Date.now() >= deadline) {
            send('timeout', { status });
            break;
          }
          if (Date.now() - lastWrite >= HEARTBEAT_MS) {
            res.write(': keep-alive\n\n');
            lastWrite = Date.now();
          }
          await feed.changed(Math.min(HEARTBEAT_MS, Math.max(1, deadline - Date.now())), stop.signal);
        }
      } catch (err) {
        request.log.warn({ err, runId }, 'run event stream failed');
      } finally {
        feed.leave();
        closing.signal.removeEventListener('abort', onClosing);
        res.off('close', onClosing);
        res.end();
      }
    },
  );
};
