import type { preHandlerHookHandler } from 'fastify';
import { ConfigError, NotAllowedError, UnauthorizedError } from '@aoetl/contracts';

import type { Principal } from './principal.js';

/** What a caller may do. Every route needs exactly one of these. */
export const PERMISSIONS = ['read', 'submit', 'approve', 'admin'] as const;
export type Permission = (typeof PERMISSIONS)[number];

/**
 * Role → the permissions it grants (an `aoetl:<role>` scope narrows to the same set). Every role may read; admin may do everything.
 * Unknown roles grant nothing.
 */
export const ROLE_PERMISSIONS: Readonly<Record<string, readonly Permission[]>> = {
  read: ['read'],
  submit: ['read', 'submit'],
  approve: ['read', 'approve'],
  admin: ['read', 'submit', 'approve', 'admin'],
};

const SCOPE_PREFIX = 'aoetl:';

function grantedBy(names: readonly string[], table: Readonly<Record<string, readonly Permission[]>>): Set<Permission> {
  const granted = new Set<Permission>();
  for (const name of names) {
    if (!Object.hasOwn(table, name)) continue;
    for (const permission of table[name]!) granted.add(permission);
  }
  return granted;
}

/**
 * The caller's permissions. Only the `roles` claim grants: it says what the identity may do. `aoetl:*` scopes
 * can only narrow that to what this token was granted (their intersection); a token without `aoetl:*` scopes
 * keeps its roles' permissions. Scopes never grant on their own: an absent or empty `roles` claim grants
 * nothing, whatever the scopes say.
 */
export function permissionsOf(
  principal: Pick<Principal, 'roles' | 'scopes'>,
  table: Readonly<Record<string, readonly Permission[]>> = ROLE_PERMISSIONS,
): Set<Permission> {
  const fromRoles = grantedBy(principal.roles, table);
  const scoped = principal.scopes.filter((s) => s.startsWith(SCOPE_PREFIX)).map((s) => s.slice(SCOPE_PREFIX.length));
  if (scoped.length === 0) return fromRoles;
  const fromScopes = grantedBy(scoped, table);
  return new Set([...fromRoles].filter((p) => fromScopes.has(p)));
}

export function hasPermission(principal: Principal | null, permission: Permission): boolean {
  return principal !== null && permissionsOf(principal).has(permission);
}

/**
 * preHandler that lets the request through when the authenticated principal holds `permission`; otherwise fails
 * it with `UnauthorizedError` (no principal) or `NotAllowedError` (a 403 naming the permission). It looks at no
 * resource, so a 403 never tells whether one exists.
 */
export function requirePermission(permission: Permission): preHandlerHookHandler {
  if (!(PERMISSIONS as readonly string[]).includes(permission)) throw new ConfigError(`unknown permission ${permission}`);
  return function requirePermissionHook(request, _reply, done) {
    const principal = request.principal;
    if (principal === null) done(new UnauthorizedError('no authenticated principal'));
    else if (permissionsOf(principal).has(permission)) done();
    else done(new NotAllowedError(`this operation needs the ${permission} permission`));
  };
}
