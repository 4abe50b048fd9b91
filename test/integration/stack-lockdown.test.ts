/**
 * The local stack's components are real and locked down (issue: foundation). Each test talks to the running
 * component itself: Redis over TLS, Docker under runc and runsc, OpenBao's database engine, the OIDC issuer.
 */
import { execFileSync } from 'node:child_process';
import { createPublicKey, verify, type JsonWebKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import pg from 'pg';
import { STATE, stackEnv, stackRedis, token } from '@aoetl/testing';

jest.setTimeout(60_000);

const test_ = stackEnv('test');
const certs = join(STATE, 'certs');
const ca = readFileSync(join(certs, 'ca.crt'));

const redisAs = (user: string, password: string, clientCert = true) =>
  stackRedis(user, password, { clientCert, maxRetriesPerRequest: 0, retryStrategy: () => null, lazyConnect: true });

describe('Redis', () => {
  test('a TLS client without a client certificate is refused', async () => {
    const outcome = await new Promise<string>((resolve) => {
      const socket = tlsConnect({ host: '127.0.0.1', port: 6390, ca }, () => {
        socket.write('PING\r\n');
      });
      socket.on('data', (d) => resolve(`answered: ${d.toString()}`));
      socket.on('error', (err) => resolve(`refused: ${err.message}`));
      socket.on('close', () => resolve('refused: closed'));
    });
    expect(outcome).toMatch(/^refused/);
  });

  test('the plain-text port is closed', () => {
    expect(() => execFileSync('bash', ['-c', 'exec 3<>/dev/tcp/127.0.0.1/6379'], { stdio: 'pipe' })).toThrow();
  });

  test("the agent-gateway's ACL user may add run requests but cannot read the tasks stream", async () => {
    const gw = redisAs('agent-gateway', test_.AOETL_REDIS_AGENT_GATEWAY_PASSWORD!, true);
    await gw.connect();
    try {
      await expect(gw.xrange('aoetl:tasks', '-', '+', 'COUNT', 1)).rejects.toThrow(/NOPERM/);
      await expect(gw.xreadgroup('GROUP', 'etl-agent', 'intruder', 'COUNT', 1, 'STREAMS', 'aoetl:tasks', '>')).rejects.toThrow(/NOPERM/);
      await expect(gw.xadd('aoetl:tasks', '*', 'm', '{}')).rejects.toThrow(/NOPERM/);
      await expect(gw.call('KEYS', '*')).rejects.toThrow(/NOPERM/);
    } finally {
      gw.disconnect();
    }
  });

  test('the default user is off', async () => {
    // The admin's certificate, but no user name or password: the default user.
    const anon = stackRedis('admin', undefined, { username: undefined, maxRetriesPerRequest: 0, retryStrategy: () => null, lazyConnect: true });
    await anon.connect().catch(() => undefined);
    try {
      await expect(anon.ping()).rejects.toThrow(/NOAUTH|NOPERM|WRONGPASS|closed|Connection/i);
    } finally {
      anon.disconnect();
    }
  });
});

describe('Docker sandbox image', () => {
  const image = stackEnv('etl-agent').AOETL_SANDBOX_IMAGE!;
  for (const runtime of ['runc', 'runsc']) {
    test(`runs python3 under ${runtime} with no network`, () => {
      const out = execFileSync(
        'docker',
        ['run', '--rm', '--runtime', runtime, '--network', 'none', '--read-only', '--cap-drop', 'ALL', '--user', '65532',
          image, 'python3', '-c',
          'import socket\nprint(1)\ntry:\n socket.create_connection(("1.1.1.1", 53), timeout=2)\n print("net")\nexcept OSError:\n print("nonet")'],
        { encoding: 'utf8', timeout: 60_000 },
      );
      expect(out.trim().split('\n')).toEqual(['1', 'nonet']);
    });
  }
});

describe('OpenBao database engine', () => {
  test('hands out a Postgres credential that can SELECT from the source and cannot write', async () => {
    const env = stackEnv('test');
    const res = await fetch(`${env.AOETL_VAULT_ADDR}/v1/database/creds/source-reader`, {
      headers: { 'x-vault-token': env.AOETL_VAULT_TOKEN! },
      // Node's fetch trusts NODE_EXTRA_CA_CERTS; the test runner sets it to the dev CA (see Makefile).
    }).catch((err: Error) => {
      throw new Error(`OpenBao unreachable: ${err.message}`);
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { lease_id: string; data: { username: string; password: string } };
    const client = new pg.Client({
      host: '127.0.0.1', port: 5433, database: 'source', user: body.data.username, password: body.data.password,
      ssl: { ca },
    });
    await client.connect();
    try {
      const { rows } = await client.query('SELECT count(*)::int AS n FROM crm.customers');
      expect(rows[0].n).toBeGreaterThanOrEqual(100_000);
      await expect(client.query("INSERT INTO crm.customers (customer_id) VALUES (-1)")).rejects.toThrow(/permission denied/);
      await expect(client.query('UPDATE crm.customers SET email = NULL WHERE customer_id = 1')).rejects.toThrow(/permission denied/);
      await expect(client.query('CREATE TABLE crm.evil (x int)')).rejects.toThrow(/permission denied/);
    } finally {
      await client.end();
      await fetch(`${env.AOETL_VAULT_ADDR}/v1/sys/leases/revoke`, {
        method: 'PUT',
        headers: { 'x-vault-token': env.AOETL_VAULT_TOKEN!, 'content-type': 'application/json' },
        body: JSON.stringify({ lease_id: body.lease_id }),
      });
    }
  });
});

describe('OIDC issuer', () => {
  test('a token from the local issuer verifies against its JWKS', async () => {
    const jwt = token('alice');
    const [h, p, s] = jwt.split('.') as [string, string, string];
    const header = JSON.parse(Buffer.from(h, 'base64url').toString());
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString());
    const issuer = stackEnv('agent-gateway').AOETL_OIDC_ISSUER!;
    expect(claims.iss).toBe(issuer);
    const discovery = (await (await fetch(`${issuer}/.well-known/openid-configuration`)).json()) as { jwks_uri: string };
    const jwks = (await (await fetch(discovery.jwks_uri)).json()) as { keys: (JsonWebKey & { kid: string })[] };
    const jwk = jwks.keys.find((k) => k.kid === header.kid);
    expect(jwk).toBeDefined();
    const key = createPublicKey({ key: jwk!, format: 'jwk' });
    const ok = verify('RSA-SHA256', Buffer.from(`${h}.${p}`), key, Buffer.from(s, 'base64url'));
    expect(header.alg).toBe('RS256');
    expect(ok).toBe(true);
    const tampered = verify('RSA-SHA256', Buffer.from(`${h}.${p}x`), key, Buffer.from(s, 'base64url'));
    expect(tampered).toBe(false);
  });
});
