import { STATUS_CODES } from 'node:http';
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyError, FastifyInstance, FastifyReply } from 'fastify';
import fp from 'fastify-plugin';
import { AoetlError, type ErrorCode } from '@aoetl/contracts';

/** RFC 9457 problem details, as every error response of the services carries them. Registered as `Problem#`. */
export const Problem = Type.Object(
  {
    type: Type.String(),
    title: Type.String(),
    status: Type.Integer({ minimum: 400, maximum: 599 }),
    detail: Type.Optional(Type.String()),
    errors: Type.Optional(
      Type.Array(
        Type.Object(
          { field: Type.Optional(Type.String({ description: 'where: body/…, querystring/…, params/…, headers/…' })), message: Type.String() },
          { additionalProperties: false },
        ),
      ),
    ),
  },
  { $id: 'Problem', additionalProperties: false, description: 'RFC 9457 problem details' },
);
export type Problem = Static<typeof Problem>;

/** The HTTP status of each error code. A 5xx never shows its message: it is only logged. */
export const PROBLEM_STATUS: Readonly<Record<ErrorCode, number>> = {
  input: 400,
  unauthorized: 401,
  not_allowed: 403,
  not_found: 404,
  conflict: 409,
  too_many_requests: 429,
  upstream: 503,
  config: 500,
  sandbox: 500,
  load: 500,
  internal: 500,
};

export interface ProblemsOptions {
  /** Names the service in the load-shedding (503) detail. Default `service`. */
  serviceName?: string;
}

function send(reply: FastifyReply, p: Problem): FastifyReply {
  return reply.code(p.status).type('application/problem+json').send(p);
}

const titleOf = (status: number) => (STATUS_CODES[status] ?? 'error').toLowerCase();

/** `body/target/mode`, `querystring/cursor`, `body/extra` (an unknown property), `body/name` (a missing one). */
function validationErrors(err: FastifyError): { field: string; message: string }[] {
  return (err.validation ?? []).map((v) => {
    const params = v.params as { missingProperty?: string; additionalProperty?: string };
    const named =
      v.keyword === 'required' ? `/${String(params.missingProperty)}` : v.keyword === 'additionalProperties' ? `/${String(params.additionalProperty)}` : '';
    return { field: `${err.validationContext ?? 'body'}${v.instancePath || ''}${named}`, message: v.message ?? 'is invalid' };
  });
}

/**
 * Maps every error to RFC 9457 application/problem+json: an `AoetlError` by its code (`urn:aoetl:problem:<code>`,
 * its message as `detail`, its details as `errors`); a 401 says nothing about why (RFC 6750) and carries a
 * `www-authenticate` challenge; fastify's validation errors are a 400 naming each field; fastify's other 4xx keep
 * their status; an upstream error is a 503 (retry later); everything else is a 500; neither shows its message. Also answers unknown routes with a 404
 * problem and registers the `Problem` schema for response schemas to reference (`{ $ref: 'Problem#' }`).
 */
export const problems = fp(
  async (app: FastifyInstance, opts: ProblemsOptions) => {
    app.addSchema(Problem);
    app.setErrorHandler((err: FastifyError | AoetlError, request, reply) => {
      const status = err instanceof AoetlError ? PROBLEM_STATUS[err.code] : undefined;
      if (err instanceof AoetlError && status !== undefined && status < 500) {
        if (err.code === 'unauthorized') {
          if (!reply.hasHeader('www-authenticate')) reply.header('www-authenticate', 'Bearer');
          return send(reply, { type: 'about:blank', title: 'Unauthorized', status });
        }
        return send(reply, {
          type: `urn:aoetl:problem:${err.code}`,
          title: err.code.replaceAll('_', ' '),
          status,
          detail: err.message,
          ...(err.details.length ? { errors: err.details } : {}),
        });
      }
      const fe = err as FastifyError;
      if (status === undefined && fe.validation) {
        const errors = validationErrors(fe);
        return send(reply, {
          type: 'urn:aoetl:problem:input',
          title: 'invalid request',
          status: 400,
          detail: errors.map((e) => `${e.field} ${e.message}`).join('; '),
          errors,
        });
      }
      if (status === undefined && fe.statusCode === 503) {
        // Load shedding (under-pressure): the caller may retry; nothing internal is said.
        return send(reply, {
          type: 'about:blank',
          title: 'service unavailable',
          status: 503,
          detail: `the ${opts.serviceName ?? 'service'} is shedding load; retry later`,
        });
      }
      if (status === 503) {
        // A dependency (Postgres, Redis, Vault, Docker) is unavailable: logged in full, the caller may retry later.
        request.log.error({ err }, 'request failed: a dependency is unavailable');
        return send(reply, { type: 'about:blank', title: 'service unavailable', status: 503, detail: 'a dependency is unavailable; retry later' });
      }
      const clientError = status === undefined && fe.statusCode !== undefined && fe.statusCode >= 400 && fe.statusCode < 500;
      if (!clientError) {
        request.log.error({ err }, 'request failed');
        return send(reply, { type: 'about:blank', title: 'internal error', status: 500 });
      }
      return send(reply, { type: 'about:blank', title: titleOf(fe.statusCode!), status: fe.statusCode!, detail: fe.message });
    });
    app.setNotFoundHandler((request, reply) =>
      send(reply, { type: 'about:blank', title: 'not found', status: 404, detail: `no route ${request.method} ${request.url.split('?')[0]}` }),
    );
  },
  { fastify: '5.x', name: 'problems' },
);
