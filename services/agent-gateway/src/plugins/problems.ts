import { STATUS_CODES } from 'node:http';
import type { FastifyError, FastifyInstance, FastifyReply } from 'fastify';
import fp from 'fastify-plugin';
import { AoetlError, type ErrorCode } from '@aoetl/contracts';
import { Problem as ProblemSchema } from '../schemas.js';

const STATUS: Partial<Record<ErrorCode, number>> = {
  input: 400,
  not_found: 404,
  conflict: 409,
  not_allowed: 403,
  unauthorized: 401,
};

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  errors?: { field?: string; message: string }[];
}

export function problem(reply: FastifyReply, p: Problem): FastifyReply {
  return reply.code(p.status).type('application/problem+json').send(p);
}

const titleOf = (status: number) => (STATUS_CODES[status] ?? 'error').toLowerCase();

/**
 * Maps domain and validation errors to RFC 9457 problem+json. A 5xx never shows its message. Registers the shared
 * `Problem` schema that every route's error responses reference.
 */
export const problems = fp(
  async (app: FastifyInstance) => {
    app.addSchema(ProblemSchema);
    app.setErrorHandler((err: FastifyError | AoetlError, request, reply) => {
      if (err instanceof AoetlError) {
        const status = STATUS[err.code];
        if (status) {
          return problem(reply, {
            type: `urn:aoetl:problem:${err.code}`,
            title: err.code.replace('_', ' '),
            status,
            detail: err.message,
            ...(err.details.length ? { errors: err.details } : {}),
          });
        }
      }
      const fe = err as FastifyError;
      if (fe.validation) {
        const errors = fe.validation.map((v) => ({
          field: `${fe.validationContext ?? 'body'}${v.instancePath || ''}${
            v.keyword === 'required' ? `/${String((v.params as { missingProperty?: string }).missingProperty)}` : ''
          }${v.keyword === 'additionalProperties' ? `/${String((v.params as { additionalProperty?: string }).additionalProperty)}` : ''}`,
          message: v.message ?? 'is invalid',
        }));
        return problem(reply, {
          type: 'urn:aoetl:problem:input',
          title: 'invalid request',
          status: 400,
          detail: errors.map((e) => `${e.field} ${e.message}`).join('; '),
          errors,
        });
      }
      if (fe.statusCode === 503) {
        // Load shedding (under-pressure): the caller may retry; nothing internal is said.
        return problem(reply, { type: 'about:blank', title: 'service unavailable', status: 503, detail: 'the gateway is shedding load; retry later' });
      }
      const status = fe.statusCode && fe.statusCode >= 400 && fe.statusCode < 500 ? fe.statusCode : 500;
      if (status >= 500) {
        request.log.error({ err }, 'request failed');
        return problem(reply, { type: 'about:blank', title: 'internal error', status });
      }
      return problem(reply, { type: 'about:blank', title: titleOf(status), status, detail: fe.message });
    });
    app.setNotFoundHandler((request, reply) =>
      problem(reply, { type: 'about:blank', title: 'not found', status: 404, detail: `no route ${request.method} ${request.url.split('?')[0]}` }),
    );
  },
  { name: 'problems' },
);
