import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
