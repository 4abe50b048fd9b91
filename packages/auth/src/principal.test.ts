import { InvalidClaimsError, principalFromClaims } from './principal.js';

const base = { iss: 'https://issuer.test', sub: 'alice', tenant: 'acme' };

describe('principalFromClaims', () => {
  it('maps the claims', () => {
    expect(principalFromClaims({ ...base, roles: ['read', 'read', 'submit'], scope: 'a  b a' })).toStrictEqual({
      issuer: 'https://issuer.test',
      subject: 'alice',
      id: 'https://issuer.test|alice',
      tenant: 'acme',
      roles: ['read', 'submit'],
      scopes: ['a', 'b'],
    });
  });

  it('defaults roles and scopes to empty', () => {
    expect(principalFromClaims(base)).toMatchObject({ roles: [], scopes: [] });
  });

  it.each([
    [{ ...base, tenant: undefined }],
    [{ ...base, tenant: 42 }],
    [{ ...base, sub: '' }],
    [{ ...base, iss: undefined }],
    [{ ...base, roles: [1] }],
    [{ ...base, roles: 'read' }],
    [{ ...base, scope: 7 }],
  ])('rejects %p', (claims) => {
    expect(() => principalFromClaims(claims)).toThrow(InvalidClaimsError);
  });
});
