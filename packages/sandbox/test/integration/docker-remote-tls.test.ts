// The docker sandbox driver against a remote engine over TLS with client certificates, as the chart
// deploys it (AOETL_DOCKER_HOST + AOETL_DOCKER_CA_FILE/CERT_FILE/KEY_FILE). The local stack's dockerd
// listens on a loopback TLS port with --tlsverify (deploy/local/docker.sh writes these settings to
// .state/env/etl-agent.env). Needs: deploy/local/docker.sh start && deploy/local/sandbox-image.sh start
import { connect } from 'node:net';
import Docker from 'dockerode';
import { DockerSandboxDriver, dockerConnectionOptions, type DockerRemoteTls, type SandboxResult, type SandboxRuntime } from '../../src/index.js';
import { Collector, stackEnv } from '@aoetl/testing';
import { copyInput, emptyInput } from '../support/env.js';

jest.setTimeout(180_000);

const env = stackEnv('etl-agent');
const image = env.AOETL_SANDBOX_IMAGE!;
const runtime = (env.AOETL_SANDBOX_RUNTIME || 'runsc') as SandboxRuntime;
const TLS_PORT = Number(process.env.AOETL_DOCKER_TLS_PORT ?? 2376);

/** The TLS endpoint the stack advertises, or a clear failure naming what is missing. */
function remoteFromStack(): DockerRemoteTls {
  const host = env.AOETL_DOCKER_HOST;
  if (!host) {
    throw new Error(
      `the local stack has no Docker TLS endpoint: AOETL_DOCKER_HOST is empty in .state/env/etl-agent.env. ` +
        `dockerd must listen on tcp://127.0.0.1:${TLS_PORT} with --tlsverify (deploy/local/docker.sh start; restart the stack after updating it)`,
    );
  }
  const [caFile, certFile, keyFile] = ['AOETL_DOCKER_CA_FILE', 'AOETL_DOCKER_CERT_FILE', 'AOETL_DOCKER_KEY_FILE'].map((k) => {
    const v = env[k];
    if (!v) throw new Error(`${k} is missing in .state/env/etl-agent.env (deploy/local/docker.sh writes it with AOETL_DOCKER_HOST=${host})`);
    return v;
  });
  return { host, caFile: caFile!, certFile: certFile!, keyFile: keyFile! };
}

async function portOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.setTimeout(3_000);
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => (socket.destroy(), resolve(false)));
  });
}

function expectKind<K extends SandboxResult['kind']>(result: SandboxResult, kind: K): Extract<SandboxResult, { kind: K }> {
  if (result.kind !== kind) throw new Error(`expected ${kind}, got ${JSON.stringify(result)}`);
  return result as Extract<SandboxResult, { kind: K }>;
}

const py = (...lines: string[]) => lines.join('\n') + '\n';

describe('remote Docker over TLS with client certificates', () => {
  let remote: DockerRemoteTls;
  let tls: Docker.DockerOptions;
  let driver: DockerSandboxDriver;
  let n = 0;
  const request = (code: string, input = emptyInput(), output = new Collector()) => ({
    runId: `it-tls-${process.pid}-${++n}`,
    columns: ['id', 'name', 'amount'],
    types: ['int8', 'text', 'numeric'],
    code,
    input,
    output,
  });

  beforeAll(async () => {
    remote = remoteFromStack();
    tls = dockerConnectionOptions({ socketPath: '/nonexistent.sock', remote });
    if (!(await portOpen(String(tls.host), Number(tls.port)))) {
      throw new Error(`nothing listens on the Docker TLS port ${String(tls.host)}:${String(tls.port)} (${remote.host}): restart the stack with the current deploy/local/docker.sh`);
    }
    // The remote engine, never the socket: socketPath points nowhere.
    driver = await DockerSandboxDriver.create({
      image,
      runtime,
      socketPath: '/nonexistent.sock',
      remote,
      // The container's own hardening is probed (a socket attempt): the harness's second layer would stop it first.
      allowRunc: runtime === 'runc',
      harnessGuard: false,
      seccomp: 'docker-default',
      limits: { timeoutMs: 5_000, memoryBytes: 256 * 1024 * 1024 },
      reapIntervalMs: 0,
    });
  });
  afterAll(async () => {
    await driver?.close();
  });

  it('runs a transform over the TLS endpoint and streams the rows back', async () => {
    const output = new Collector();
    const code = py('def transform(rows):', '    return [{"id": r["id"] * 10, "name": r["name"].upper()} for r in rows]');
    const ok = expectKind(await driver.run(request(code, copyInput([['1', 'alice', '1.5'], ['2', 'bob', '2.5']]), output)), 'ok');
    expect(ok.rowsIn).toBe(2);
    expect(output.lines()).toEqual(['10\tALICE', '20\tBOB']);
    expect(ok.containerId).toMatch(/^[0-9a-f]{64}$/);
  });

  it('keeps the sandbox hardening: no network, and the timeout kills the container', async () => {
    const output = new Collector();
    const noNet = py(
      'import socket',
      'def transform(rows):',
      '    try:',
      '        socket.create_connection(("1.1.1.1", 443), timeout=2)',
      '        outcome = "connected"',
      '    except OSError as e:',
      '        outcome = type(e).__name__',
      '    return [{"outcome": outcome}]',
    );
    expectKind(await driver.run(request(noNet, emptyInput(), output)), 'ok');
    expect(output.lines()).toHaveLength(1);
    expect(output.lines()[0]).not.toBe('connected');

    const spin = py('def transform(rows):', '    while True:', '        pass');
    expectKind(await driver.run(request(spin)), 'timeout');
  });

  it('the same engine refuses a client without a certificate', async () => {
    // Control: with the client certificate the engine answers.
    await expect(new Docker(tls).ping()).resolves.toBeTruthy();
    const withoutCert = new Docker({ protocol: 'https', host: tls.host, port: tls.port, ca: tls.ca });
    await expect(withoutCert.ping()).rejects.toThrow(/certificate required|bad certificate|handshake failure|socket hang up|ECONNRESET/i);
  });

  it('the TLS port does not speak plain HTTP', async () => {
    const plain = new Docker({ protocol: 'http', host: tls.host, port: tls.port });
    await expect(plain.ping()).rejects.toThrow(/HTTPS|400|socket hang up|ECONNRESET/i);
  });
});
