// Issue 13, finding 2: a flood of tokens with unknown kids must not keep valid tokens from verifying.
// Real timings, scaled down by configuration (key refresh every 300 ms instead of 5 min), against the real
// local OIDC issuer of the stack (deploy/local/oidc-issuer.sh start) and, where keys must rotate or fetches be
// counted, against an in-process HTTPS issuer.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { Agent } from 'undici';

import { JwksKeyResolver, type KeyResolverOptions, type SupportedAlgorithm } from '../../src/index.js';
import { LocalIssuer, makeKey, makeTestCa } from '@aoetl/testing';

jest.setTimeout(30_000);

const repoRoot = resolve(__dirname, '../../../..');
const stateDir = process.env.AOETL_STATE_DIR ?? join(repoRoot, '.state');
const realIssuer = process.env.AOETL_OIDC_ISSUER ?? 'https://127.0.0.1:9400';
const caFile = process.env.AOETL_OIDC_CA_FILE ?? join(stateDir, 'certs', 'ca.crt');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const randomKid = () => randomBytes(16).toString('base64url');

/**
 * Runs a flood of unknown-kid lookups (from ever new client addresses, so that only the global limit holds)
 * for `ms`, while a legitimate client looks up `kid` every 25 ms. Returns the legitimate outcomes.
 */
async function flood(resolver: JwksKeyResolver, issuer: string, alg: SupportedAlgorithm, kid: () => string, ms: number) {
  const end = Date.now() + ms;
  let attackers = 0;
  const attack = (async () => {
    while (Date.now() < end) {
      const batch = Array.from({ length: 5 }, () =>
        resolver.publicKeyPem(issuer, alg, randomKid(), { clientAddress: `10.66.${attackers % 250}.${attackers++ % 250}` }).catch(() => undefined),
      );
      await Promise.all(batch);
      await sleep(2);
    }
  })();
  const outcomes: string[] = [];
  while (Date.now() < end) {
    outcomes.push(
      await resolver.publicKeyPem(issuer, alg, kid(), { clientAddress: '192.0.2.1' }).then(
        () => 'ok',
        (error: Error) => error.message,
      ),
    );
    await sleep(25);
  }
  await attack;
  return { outcomes, attackers };
}

describe('against the real local issuer', () => {
  let realKid: string;
  let realAlg: SupportedAlgorithm;

  beforeAll(async () => {
    const dispatcher = new Agent({ connect: { ca: readFileSync(caFile) } });
    const discovery = (await (await fetch(`${realIssuer}/.well-known/openid-configuration`, { dispatcher })).json()) as { jwks_uri: string };
    const jwks = (await (await fetch(discovery.jwks_uri, { dispatcher })).json()) as { keys: { kid: string; alg: SupportedAlgorithm }[] };
    await dispatcher.close();
    realKid = jwks.keys[0]!.kid;
    realAlg = jwks.keys[0]!.alg;
  });

  it('keeps serving a known key through a flood of unknown kids while its cache time runs out many times', async () => {
    const options: KeyResolverOptions = { issuers: [realIssuer], caFile, cacheTtlMs: 300, unknownKidCooldownMs: 200, unknownKidClientCooldownMs: 5_000 };
    const resolver = new JwksKeyResolver(options);
    try {
      await resolver.publicKeyPem(realIssuer, realAlg, realKid);
      const { outcomes, attackers } = await flood(resolver, realIssuer, realAlg, () => realKid, 2_500);
      expect(attackers).toBeGreaterThan(200);
      expect(outcomes.length).toBeGreaterThan(40);
      expect(outcomes.filter((o) => o !== 'ok')).toEqual([]);
    } finally {
      await resolver.close();
    }
  });
});

describe('against an in-process issuer', () => {
  const tls = makeTestCa();
  const first = makeKey('ES256');
  const second = makeKey('ES256');
  const third = makeKey('RS256');
  let issuer: LocalIssuer;

  beforeEach(async () => {
    issuer = await new LocalIssuer(tls, [first, second, third]).start();
  });
  afterEach(() => issuer.stop());

  const resolverFor = (options: Partial<KeyResolverOptions> = {}) =>
    new JwksKeyResolver({ issuers: [issuer.issuer], ca: tls.caPem, cacheTtlMs: 300, unknownKidCooldownMs: 10_000, unknownKidClientCooldownMs: 60_000, ...options });

  it('caches every key of a fetch', async () => {
    const resolver = resolverFor({ cacheTtlMs: 60_000 });
    try {
      for (const key of [first, second, third]) await resolver.publicKeyPem(issuer.issuer, key.alg, key.kid);
      expect(issuer.jwksFetches()).toBe(1);
    } finally {
      await resolver.close();
    }
  });

  it('picks up a rotated-in key on its refresh timer while unknown-kid fetches are rate-limited by a flood', async () => {
    const resolver = resolverFor();
    const rotated = makeKey('ES256');
    try {
      await resolver.publicKeyPem(issuer.issuer, first.alg, first.kid);
      let rotatedAt = 0;
      const { outcomes } = await flood(resolver, issuer.issuer, 'ES256', () => {
        if (rotatedAt === 0) {
          // The IdP rotates: the new key is published and the old one withdrawn; clients get tokens with the new kid.
          rotatedAt = Date.now();
          issuer.keys = [rotated, second, third];
        }
        return Date.now() - rotatedAt < 700 ? first.kid : rotated.kid;
      }, 2_500);
      // From 700 ms after the rotation (two refresh periods) on, every lookup of the new kid succeeds.
      const late = outcomes.slice(Math.ceil(700 / 25) + 4);
      expect(late.length).toBeGreaterThan(30);
      expect(late.filter((o) => o !== 'ok')).toEqual([]);
      await expect(resolver.publicKeyPem(issuer.issuer, first.alg, first.kid)).rejects.toThrow(/unknown key id/);
    } finally {
      await resolver.close();
    }
  });

  it('rate-limits unknown-kid fetches globally and per client address', async () => {
    const resolver = resolverFor({ cacheTtlMs: 60_000, unknownKidCooldownMs: 300, unknownKidClientCooldownMs: 5_000 });
    try {
      await resolver.publicKeyPem(issuer.issuer, first.alg, first.kid);
      expect(issuer.jwksFetches()).toBe(1);
      // 50 unknown kids from 50 addresses at once: one fetch (shared), the rest refused without fetching.
      await Promise.all(Array.from({ length: 50 }, (_, i) => resolver.publicKeyPem(issuer.issuer, 'ES256', randomKid(), { clientAddress: `10.0.0.${i}` }).catch(() => undefined)));
      expect(issuer.jwksFetches()).toBe(2);
      await sleep(350);
      // The global cooldown is over, but 10.0.0.0 .. 10.0.0.49 are still in theirs... only those that fetched: the first one.
      await expect(resolver.publicKeyPem(issuer.issuer, 'ES256', randomKid(), { clientAddress: '10.0.0.0' })).rejects.toThrow(/rate-limited for this client/);
      expect(issuer.jwksFetches()).toBe(2);
      await expect(resolver.publicKeyPem(issuer.issuer, 'ES256', randomKid(), { clientAddress: '10.0.1.1' })).rejects.toThrow(/unknown key id/);
      expect(issuer.jwksFetches()).toBe(3);
      // Known keys never wait for the limits.
      await expect(resolver.publicKeyPem(issuer.issuer, second.alg, second.kid, { clientAddress: '10.0.0.0' })).resolves.toContain('PUBLIC KEY');
      expect(issuer.jwksFetches()).toBe(3);
    } finally {
      await resolver.close();
    }
  });
});
