import { chmodSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jwtClaims, TokenStore, type StoredLogin } from './tokens';

const login: StoredLogin = {
  grant: 'client_credentials',
  issuer: 'https://issuer',
  apiUrl: 'http://api',
  clientId: 'alice',
  accessToken: 'a.b.c',
  expiresAt: 1,
};

describe('TokenStore', () => {
  it('writes the file with mode 0600 and reads it back per profile', () => {
    const store = new TokenStore(join(mkdtempSync(join(tmpdir(), 'aoetl-')), 'aoetl'));
    store.put('default', login);
    store.put('ops', { ...login, clientId: 'bob' });
    expect(statSync(store.file).mode & 0o777).toBe(0o600);
    expect(store.get('ops')?.clientId).toBe('bob');
    expect(store.remove('default')).toBe(true);
    expect(store.get('default')).toBeUndefined();
    expect(store.remove('default')).toBe(false);
  });

  it('refuses a file others can read, saying how to fix it', () => {
    const store = new TokenStore(mkdtempSync(join(tmpdir(), 'aoetl-')));
    store.put('default', login);
    chmodSync(store.file, 0o644);
    expect(() => store.get('default')).toThrow(`has mode 0644, readable by others; fix it with: chmod 600 ${store.file}`);
  });
});

describe('jwtClaims', () => {
  it('decodes the payload', () => {
    const payload = Buffer.from(JSON.stringify({ sub: 'alice', tenant: 'acme' })).toString('base64url');
    expect(jwtClaims(`x.${payload}.y`)).toEqual({ sub: 'alice', tenant: 'acme' });
  });
  it('rejects a token that is not a JWT', () => {
    expect(() => jwtClaims('opaque')).toThrow('not a JWT');
  });
});
