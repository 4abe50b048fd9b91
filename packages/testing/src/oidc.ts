// Test-only: an in-process HTTPS "issuer" (discovery document + JWKS) with a throwaway CA,
// plus helpers to mint keys and sign JWTs with node:crypto.
import { execFileSync } from 'node:child_process';
import { createHash, createHmac, generateKeyPairSync, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestCa {
  caPem: string;
  certPem: string;
  keyPem: string;
}

/** A throwaway CA and a server certificate for 127.0.0.1/localhost, made with the openssl CLI. */
export function makeTestCa(): TestCa {
  const dir = mkdtempSync(join(tmpdir(), 'aoetl-auth-ca-'));
  const run = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  try {
    run('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key',
      '-out', 'ca.crt', '-days', '2', '-subj', '/CN=aoetl auth test CA',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
    run('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'server.key',
      '-out', 'server.csr', '-subj', '/CN=127.0.0.1');
    writeFileSync(join(dir, 'ext.cnf'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
    run('x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial',
      '-out', 'server.crt', '-days', '2', '-extfile', 'ext.cnf');
    const read = (name: string) => readFileSync(join(dir, name), 'utf8');
    return { caPem: read('ca.crt'), certPem: read('server.crt'), keyPem: read('server.key') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export type Alg = 'RS256' | 'ES256' | 'EdDSA';

export interface SigningKey {
  alg: Alg;
  kid: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
  jwk: Record<string, unknown>;
}

export function makeKey(alg: Alg, kid?: string): SigningKey {
  const pair =
    alg === 'RS256'
      ? generateKeyPairSync('rsa', { modulusLength: 2048 })
      : alg === 'ES256'
        ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
        : generateKeyPairSync('ed25519');
  const publicJwk = pair.publicKey.export({ format: 'jwk' }) as Record<string, unknown>;
  const id = kid ?? createHash('sha256').update(JSON.stringify(publicJwk)).digest('base64url');
  return { alg, kid: id, ...pair, jwk: { ...publicJwk, kid: id, alg, use: 'sig' } };
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** Signs header.payload with the given key; the header is used as given (alg, kid, typ...). */
export function signJwt(header: Record<string, unknown>, payload: Record<string, unknown>, key: KeyObject): string {
  const input = `${b64(header)}.${b64(payload)}`;
  const alg = header.alg;
  let signature: Buffer;
  if (alg === 'RS256') signature = cryptoSign('sha256', Buffer.from(input), key);
  else if (alg === 'ES256') signature = cryptoSign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });
  else if (alg === 'EdDSA') signature = cryptoSign(null, Buffer.from(input), key);
  else throw new Error(`signJwt cannot sign ${String(alg)}`);
  return `${input}.${signature.toString('base64url')}`;
}

/** HS256 with an arbitrary secret (e.g. the issuer's RSA public key PEM: the classic confusion attack). */
export function signHs256(header: Record<string, unknown>, payload: Record<string, unknown>, secret: string): string {
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

/** An HTTPS server on 127.0.0.1 serving an OpenID discovery document and a JWKS, counting requests. */
export class LocalIssuer {
  readonly requests: string[] = [];
  keys: SigningKey[];
  private server: Server | undefined;
  private url = '';

  constructor(
    private readonly tls: TestCa,
    keys: SigningKey[],
  ) {
    this.keys = keys;
  }

  get issuer(): string {
    return this.url;
  }

  async start(): Promise<this> {
    this.server = createServer({ cert: this.tls.certPem, key: this.tls.keyPem }, (req, res) => {
      this.requests.push(req.url ?? '');
      const send = (body: unknown) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (req.url === '/.well-known/openid-configuration') send({ issuer: this.url, jwks_uri: `${this.url}/jwks` });
      else if (req.url === '/jwks') send({ keys: this.keys.map((key) => key.jwk) });
      else {
        res.writeHead(404);
        res.end();
      }
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `https://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  jwksFetches(): number {
    return this.requests.filter((url) => url === '/jwks').length;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
