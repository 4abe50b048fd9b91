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

  it('uses the scopes alone when there is no roles claim, and ignores other scopes', () => {
    expect(sorted(permissionsOf({ roles: [], scopes: ['aoetl:submit', 'email'] }))).toEqual(['read', 'submit']);
    expect(sorted(permissionsOf({ roles: [], scopes: ['email', 'admin'] }))).toEqual([]);
  });
});
