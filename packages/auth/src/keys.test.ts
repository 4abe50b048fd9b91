import { generateKeyPairSync } from 'node:crypto';

import { makeKey } from '@aoetl/testing';
import { KeyResolutionError, toPem } from './keys.js';

describe('toPem', () => {
  it('converts RSA, EC and Ed25519 public keys', () => {
    for (const alg of ['RS256', 'ES256', 'EdDSA'] as const) {
      const key = makeKey(alg);
      expect(toPem(key.jwk, alg)).toBe(key.publicKey.export({ format: 'pem', type: 'spki' }).toString());
    }
  });

  it('never returns private material, even when the JWKS publishes it', () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const privateJwk = privateKey.export({ format: 'jwk' }) as Record<string, unknown>;
    const pem = toPem(privateJwk, 'ES256');
    expect(pem).toContain('BEGIN PUBLIC KEY');
    expect(pem).not.toContain('PRIVATE');
  });

  it('rejects keys that do not fit the algorithm', () => {
    const rsa = makeKey('RS256').jwk;
    const ec = makeKey('ES256').jwk;
    expect(() => toPem(rsa, 'ES256')).toThrow(KeyResolutionError);
    expect(() => toPem(ec, 'RS256')).toThrow(KeyResolutionError);
    expect(() => toPem(ec, 'EdDSA')).toThrow(KeyResolutionError);
    expect(() => toPem({ ...ec, crv: 'P-384' }, 'ES256')).toThrow(KeyResolutionError);
    expect(() => toPem({ ...rsa, use: 'enc' }, 'RS256')).toThrow(KeyResolutionError);
    expect(() => toPem({ ...rsa, alg: 'RS512' }, 'RS256')).toThrow(KeyResolutionError);
    expect(() => toPem({ kty: 'RSA', n: 'AQAB', e: 'AQAB' }, 'RS256')).toThrow(KeyResolutionError);
  });

  it('rejects RSA keys shorter than 2048 bits', () => {
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
    expect(() => toPem(publicKey.export({ format: 'jwk' }) as Record<string, unknown>, 'RS256')).toThrow(/too short/);
  });
});
