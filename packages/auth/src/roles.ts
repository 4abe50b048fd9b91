import type { preHandlerHookHandler } from 'fastify';
import { NotAllowedError, UnauthorizedError } from '@aoetl/contracts';

/**
 * preHandler (or onRequest, after authentication) that lets the request through when the
 * authenticated principal has at least one of `roles`; `UnauthorizedError` without a principal,
 * `NotAllowedError` otherwise. Callback style, so it fits fastify's hook types without promise lint exceptions.
 */
export function requireRole(...roles: string[]): preHandlerHookHandler {
  if (roles.length === 0) throw new TypeError('requireRole needs at least one role');
  return function requireRoleHook(request, _reply, done) {
    const principal = request.principal;
    if (principal === null) {
      done(new UnauthorizedError('no authenticated principal'));
    } else if (roles.some((role) => principal.roles.includes(role))) {
      done();
    } else {
      done(new NotAllowedError(`this operation needs one of the roles ${roles.join(', ')}`));
    }
  };
}
