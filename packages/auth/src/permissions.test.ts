import { permissionsOf } from './permissions.js';

const sorted = (s: Set<string>) => [...s].sort();

describe('permissionsOf', () => {
  it.each([
    [['read'], ['read']],
    [['submit', 'read'], ['read', 'submit']],
    [['approve', 'read'], ['approve', 'read']],
    [['admin'], ['admin', 'approve', 'read', 'submit']],
    [['owner', 'toString', '__proto__'], []],
  ])('roles %p grant %p', (roles, expected) => {
    expect(sorted(permissionsOf({ roles, scopes: [] }))).toEqual(expected);
  });

  it('narrows the roles to the aoetl scopes the token was granted', () => {
    expect(sorted(permissionsOf({ roles: ['admin'], scopes: ['openid', 'aoetl:read'] }))).toEqual(['read']);
    expect(sorted(permissionsOf({ roles: ['read'], scopes: ['aoetl:admin'] }))).toEqual(['read']);
  });

  it('keeps the roles when the token has no aoetl scopes, and ignores other scopes', () => {
    expect(sorted(permissionsOf({ roles: ['submit'], scopes: ['openid', 'email'] }))).toEqual(['read', 'submit']);
    expect(sorted(permissionsOf({ roles: ['read', 'approve'], scopes: ['aoetl:approve', 'admin'] }))).toEqual(['approve', 'read']);
  });

  it.each([
    [['aoetl:admin']],
    [['aoetl:submit', 'email']],
    [['aoetl:read', 'aoetl:submit', 'aoetl:approve', 'aoetl:admin']],
    [[]],
  ])('an empty roles claim grants nothing, whatever the scopes (%p)', (scopes) => {
    expect(sorted(permissionsOf({ roles: [], scopes }))).toEqual([]);
  });

  it('scopes naming unknown or prototype roles narrow to nothing', () => {
    expect(sorted(permissionsOf({ roles: ['admin'], scopes: ['aoetl:owner', 'aoetl:__proto__'] }))).toEqual([]);
  });
});
