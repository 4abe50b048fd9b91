import type { FastifyReply } from 'fastify';

/** RFC 9457 problem document without details. */
export interface Problem {
  type: string;
  title: string;
  status: number;
}

export function sendProblem(reply: FastifyReply, status: number, title: string): FastifyReply {
  const problem: Problem = { type: 'about:blank', title, status };
  return reply.code(status).header('content-type', 'application/problem+json; charset=utf-8').send(problem);
}

/** 401 with a problem document that says nothing about why (RFC 6750 / RFC 9457). */
export function sendUnauthorized(reply: FastifyReply, tokenPresented: boolean): FastifyReply {
  reply.header('www-authenticate', tokenPresented ? 'Bearer error="invalid_token"' : 'Bearer');
  return sendProblem(reply, 401, 'Unauthorized');
}
