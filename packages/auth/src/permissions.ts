import type { preHandlerHookHandler } from 'fastify';
import { ConfigError, NotAllowedError, UnauthorizedError } from '@aoetl/contracts';

import type { Principal } from './principal.js';

/** What a caller may do. Every route needs exactly one of these. */
export const PERMISSIONS = ['read', 'submit', 'approve', 'admin'] as const;
export type Permission = (typeof PERMISSIONS)[number];

/**
 * Role (or `aoetl:<role>` scope) → the permissions it grants. Every role may read; admin may do everything.
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
 * The caller's permissions. The `roles` claim says what the identity may do; `aoetl:*` scopes say what this
 * token was granted. When both are present the token gets their intersection (a token asked for fewer
 * scopes is narrowed), when only one is present it alone counts, and with neither there is no permission.
 */
export function permissionsOf(
  principal: Pick<Principal, 'roles' | 'scopes'>,
  table: Readonly<Record<string, readonly Permission[]>> = ROLE_PERMISSIONS,
): Set<Permission> {
  const scoped = principal.scopes.filter((s) => s.startsWith(SCOPE_PREFIX)).map((s) => s.slice(SCOPE_PREFIX.length));
  const fromRoles = principal.roles.length > 0 ? grantedBy(principal.roles, table) : null;
  const fromScopes = scoped.length > 0 ? grantedBy(scoped, table) : null;
  if (fromRoles && fromScopes) return new Set([...fromRoles].filter((p) => fromScopes.has(p)));
  return fromRoles ?? fromScopes ?? new Set();
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
