import type { preHandlerHookHandler } from 'fastify';

import { sendProblem, sendUnauthorized } from './problem.js';

/**
 * preHandler (or onRequest, after authentication) that lets the request through when the
 * authenticated principal has at least one of `roles`; 401 without a principal, 403 problem+json
 * otherwise. Callback style, so it fits fastify's hook types without promise lint exceptions.
 */
export function requireRole(...roles: string[]): preHandlerHookHandler {
  if (roles.length === 0) throw new TypeError('requireRole needs at least one role');
  return function requireRoleHook(request, reply, done) {
    const principal = request.principal;
    if (principal === null) {
      sendUnauthorized(reply, false);
    } else if (roles.some((role) => principal.roles.includes(role))) {
      done();
    } else {
      sendProblem(reply, 403, 'Forbidden');
    }
  };
}
