import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { DOCKER_TLS_PORT, dockerConnectionOptions } from './docker-connection.js';
import { SandboxConfigError } from './errors.js';

describe('dockerConnectionOptions', () => {
  let dir: string;
  let files: { caFile: string; certFile: string; keyFile: string };
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'docker-connection-'));
    files = { caFile: join(dir, 'ca.pem'), certFile: join(dir, 'cert.pem'), keyFile: join(dir, 'key.pem') };
    writeFileSync(files.caFile, 'CA PEM');
    writeFileSync(files.certFile, 'CERT PEM');
    writeFileSync(files.keyFile, 'KEY PEM');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('uses the unix socket when no remote daemon is given', () => {
    expect(dockerConnectionOptions({ socketPath: '/run/x.sock' })).toEqual({ socketPath: '/run/x.sock' });
  });

  it.each([
    ['tcp://docker.example.com:2400', 'docker.example.com', 2400],
    ['https://127.0.0.1:12376', '127.0.0.1', 12376],
    ['tcp://docker.example.com', 'docker.example.com', DOCKER_TLS_PORT],
    ['tcp://[::1]:2376', '::1', 2376],
  ])('%s: https with the CA, client certificate and key read from their files', (host, hostname, port) => {
    const options = dockerConnectionOptions({ socketPath: '/ignored.sock', remote: { host, ...files } });
    expect(options).toEqual({
      protocol: 'https',
      host: hostname,
      port,
      ca: Buffer.from('CA PEM'),
      cert: Buffer.from('CERT PEM'),
      key: Buffer.from('KEY PEM'),
    });
    expect(options).not.toHaveProperty('socketPath');
  });

  it.each([
    ['http://docker.example.com:2375', /must be tcp:\/\/ or https:\/\//],
    ['unix:///var/run/docker.sock', /must be tcp:\/\/ or https:\/\//],
    ['docker.example.com:2376', /must be tcp:\/\/ or https:\/\/|is not a URL/],
    ['not a url', /is not a URL/],
  ])('refuses %s', (host, message) => {
    expect(() => dockerConnectionOptions({ socketPath: '/x', remote: { host, ...files } })).toThrow(SandboxConfigError);
    expect(() => dockerConnectionOptions({ socketPath: '/x', remote: { host, ...files } })).toThrow(message);
  });

  it('names the TLS file it cannot read', () => {
    const remote = { host: 'tcp://d:2376', ...files, keyFile: join(dir, 'missing-key.pem') };
    expect(() => dockerConnectionOptions({ socketPath: '/x', remote })).toThrow(
      `Docker TLS client key file ${join(dir, 'missing-key.pem')} cannot be read: ENOENT`,
    );
  });
});

describe('dockerConnectionOptions with dockerode over TLS', () => {
  // A stand-in HTTPS endpoint that requires a client certificate of the test CA and answers the Docker
  // ping: proves that dockerode sends the certificate from these options and verifies the server with the
  // CA. (The real daemon over TLS: test/integration/docker-remote-tls.test.ts.)
  let dir: string;
  let server: Server;
  let port: number;
  const pem = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'docker-tls-'));
    const leaf = (name: string, ext: string) => {
      openssl('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-subj', `/CN=${name}`, '-out', `${name}.csr`);
      writeFileSync(pem(`${name}.ext`), ext);
      openssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '1', '-extfile', `${name}.ext`, '-out', `${name}.crt`);
    };
    openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-subj', '/CN=test CA', '-days', '1',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign', '-out', 'ca.crt');
    leaf('server', 'extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1\n');
    leaf('client', 'extendedKeyUsage=clientAuth\n');
    server = createServer(
      { key: readFileSync(pem('server.key')), cert: readFileSync(pem('server.crt')), ca: readFileSync(pem('ca.crt')), requestCert: true, rejectUnauthorized: true },
      (req, res) => {
        res.writeHead(req.url?.startsWith('/_ping') ? 200 : 404, { 'content-type': 'text/plain' });
        res.end('OK');
      },
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  it('reaches the daemon with the client certificate', async () => {
    const remote = { host: `tcp://127.0.0.1:${port}`, caFile: pem('ca.crt'), certFile: pem('client.crt'), keyFile: pem('client.key') };
    const docker = new Docker(dockerConnectionOptions({ socketPath: '/nonexistent.sock', remote }));
    expect(String(await docker.ping())).toBe('OK');
  });

  it('is refused without a client certificate', async () => {
    const docker = new Docker({ protocol: 'https', host: '127.0.0.1', port, ca: readFileSync(pem('ca.crt')) });
    await expect(docker.ping()).rejects.toThrow(/certificate required|socket hang up|ECONNRESET|handshake/i);
  });

  it('refuses a daemon whose certificate the CA did not sign', async () => {
    openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'other.key', '-subj', '/CN=other CA', '-days', '1', '-out', 'other.crt');
    const remote = { host: `https://127.0.0.1:${port}`, caFile: pem('other.crt'), certFile: pem('client.crt'), keyFile: pem('client.key') };
    const docker = new Docker(dockerConnectionOptions({ socketPath: '/nonexistent.sock', remote }));
    await expect(docker.ping()).rejects.toThrow(/self-signed|unable to verify|certificate/i);
  });
});
