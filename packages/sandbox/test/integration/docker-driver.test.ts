// Runs the real harness image in the real Docker engine, under runc and gVisor (runsc).
// Needs: deploy/local/docker.sh start && deploy/local/sandbox-image.sh start
import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import {
  DockerSandboxDriver,
  SandboxImageMissingError,
  SandboxRuntimeUnavailableError,
  type SandboxResult,
  type SandboxRunRequest,
  type SandboxRuntime,
} from '../../src/index.js';
import { Collector } from '@aoetl/testing';
import { copyInput, emptyInput, generatedInput, dockerSandbox } from '../support/env.js';

jest.setTimeout(180_000);

const { image, socketPath, docker } = dockerSandbox();

function expectKind<K extends SandboxResult['kind']>(result: SandboxResult, kind: K): Extract<SandboxResult, { kind: K }> {
  if (result.kind !== kind) throw new Error(`expected ${kind}, got ${JSON.stringify(result)}`);
  return result as Extract<SandboxResult, { kind: K }>;
}

const py = (...lines: string[]) => lines.join('\n') + '\n';

// Both runtimes must work: a missing runsc fails these tests (the driver refuses to start).
describe.each<SandboxRuntime>(['runc', 'runsc'])('DockerSandboxDriver with %s', (runtime) => {
  describe('runs', () => {
    let driver: DockerSandboxDriver;
    let n = 0;
    const request = (overrides: Partial<SandboxRunRequest> & Pick<SandboxRunRequest, 'code'>): SandboxRunRequest => ({
      runId: `it-${runtime}-${process.pid}-${++n}`,
      columns: ['id', 'name', 'amount'],
      types: ['int8', 'text', 'numeric'],
      input: emptyInput(),
      output: new Collector(),
      ...overrides,
    });

    beforeAll(async () => {
      driver = await DockerSandboxDriver.create({ image, runtime, allowRunc: true, harnessGuard: false, seccomp: 'docker-default', socketPath, limits: { timeoutMs: 60_000, memoryBytes: 256 * 1024 * 1024 } });
    });
    afterAll(() => driver.close());

    it('transforms rows and streams them back in COPY text format', async () => {
      const output = new Collector();
      const result = await driver.run(
        request({
          code: py(
            'from decimal import Decimal',
            'def transform(rows):',
            '    return [{"id": r["id"] * 10, "name": None if r["name"] is None else r["name"].upper(),',
            '             "amount": r["amount"] * 2 if r["amount"] is not None else Decimal(0), "ok": r["id"] % 2 == 1}',
            '            for r in rows]',
          ),
          input: copyInput([
            ['1', 'alice', '10.25'],
            ['2', '\\N', '\\N'],
            ['3', 'tab\\there\\\\', '-0.5'],
          ]),
          output,
        }),
      );
      const ok = expectKind(result, 'ok');
      expect(ok.outputColumns).toEqual(['id', 'name', 'amount', 'ok']);
      expect(ok.rowsIn).toBe(3);
      expect(output.lines()).toEqual(['10\tALICE\t20.50\tt', '20\t\\N\t0\tf', '30\tTAB\\tHERE\\\\\t-1.0\tt']);
      expect(ok.bytesOut).toBe(output.bytes);
      expect(ok.containerId).toMatch(/^[0-9a-f]{64}$/);
    });

    it('writes the fields in the order of the expected output columns', async () => {
      const output = new Collector();
      const code = py('def transform(rows):', '    return [{"name": r["name"], "id": r["id"]} for r in rows]');
      const ok = expectKind(
        await driver.run(request({ code, outputColumns: ['id', 'name'], input: copyInput([['1', 'a', '1']]), output })),
        'ok',
      );
      expect(ok.outputColumns).toEqual(['id', 'name']);
      expect(output.lines()).toEqual(['1\ta']);
      const error = expectKind(
        await driver.run(request({ code, outputColumns: ['id', 'email'], input: copyInput([['1', 'a', '1']]) })),
        'transform_error',
      );
      expect(error.errorType).toBe('InvalidOutput');
      expect(error.message).toContain("expected ['id', 'email']");
    });

    it('streams 200k rows through a slow sink with backpressure', async () => {
      const output = new Collector(1);
      const result = await driver.run(
        request({
          code: py('def transform(rows):', '    for r in rows:', '        r["twice"] = r["amount"] * 2', '    return rows'),
          input: generatedInput(200_000),
          output,
        }),
      );
      const ok = expectKind(result, 'ok');
      expect(ok.rowsIn).toBe(200_000);
      const lines = output.lines();
      expect(lines).toHaveLength(200_000);
      expect(lines[199_999]).toBe('199999\tname-199999\t199999.5\t399999.0');
    });

    it('reports an exception of the transform with its Python type, message and traceback', async () => {
      const result = await driver.run(
        request({
          code: py('def transform(rows):', '    print("about to fail")', '    raise ValueError(f"bad row {len(rows)}")'),
          input: copyInput([['1', 'a', '1']]),
        }),
      );
      const error = expectKind(result, 'transform_error');
      expect(error.errorType).toBe('ValueError');
      expect(error.message).toBe('bad row 1');
      expect(error.traceback).toContain('File "<transform>", line 3, in transform');
    });

    it.each([
      ['no transform', 'x = 1', 'InvalidTransform', /does not define a callable transform/],
      ['a non-list result', py('def transform(rows):', '    return {"a": 1}'), 'InvalidOutput', /returned dict, not list/],
      ['rows that are not dicts', py('def transform(rows):', '    return [1]'), 'InvalidOutput', /row 1 is int, not dict/],
      ['inconsistent keys', py('def transform(rows):', '    return [{"a": 1}, {"b": 2}]'), 'InvalidOutput', /row 2 has keys \['b'\]/],
      ['a syntax error', 'def transform(rows:', 'SyntaxError', /never closed/],
    ])('rejects code with %s', async (_name, code, errorType, message) => {
      const error = expectKind(await driver.run(request({ code, input: copyInput([['1', 'a', '1']]) })), 'transform_error');
      expect(error.errorType).toBe(errorType);
      expect(error.message).toMatch(message);
    });

    it('fails fast on bad code while a large input is still streaming', async () => {
      const started = Date.now();
      const error = expectKind(
        await driver.run(request({ code: 'def transform(rows:', input: generatedInput(2_000_000) })),
        'transform_error',
      );
      expect(error.errorType).toBe('SyntaxError');
      expect(Date.now() - started).toBeLessThan(30_000);
    });

    it('reports undecodable input as InputError', async () => {
      const error = expectKind(await driver.run(request({ code: py('def transform(rows):', '    return rows'), input: copyInput([['x', 'a', '1']]) })), 'transform_error');
      expect(error.errorType).toBe('InputError');
      expect(error.message).toContain("column 'id'");
    });

    it('kills a transform that runs past the timeout', async () => {
      const started = Date.now();
      const result = await driver.run(request({ code: py('def transform(rows):', '    while True:', '        pass'), limits: { timeoutMs: 3_000 } }));
      expect(expectKind(result, 'timeout').timeoutMs).toBe(3_000);
      expect(Date.now() - started).toBeGreaterThanOrEqual(3_000);
      expect(Date.now() - started).toBeLessThan(20_000);
    });

    it('reports a memory bomb as oom', async () => {
      const result = await driver.run(
        request({
          code: py('def transform(rows):', '    hog = []', '    while True:', '        hog.append(bytearray(1 << 20))'),
          limits: { memoryBytes: 96 * 1024 * 1024 },
        }),
      );
      expect(expectKind(result, 'oom').memoryBytes).toBe(96 * 1024 * 1024);
    });

    it('stops at the output byte cap', async () => {
      const output = new Collector();
      const result = await driver.run(
        request({
          code: py('def transform(rows):', '    return [{"line": "x" * 100} for _ in range(100_000)]'),
          output,
          limits: { maxOutputBytes: 100_000 },
        }),
      );
      expect(expectKind(result, 'output_limit').maxOutputBytes).toBe(100_000);
      expect(output.bytes).toBeLessThanOrEqual(100_000);
    });

    describe('network', () => {
      let server: Server;
      let port: number;
      beforeAll(async () => {
        server = createServer((socket) => socket.end('hello from the host\n'));
        await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
        port = (server.address() as AddressInfo).port;
      });
      afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

      it('has no network: only loopback, and the host is out of reach', async () => {
        const output = new Collector();
        const result = await driver.run(
          request({
            code: py(
              'import socket',
              `PORT = ${port}`,
              'def attempt(fn):',
              '    try:',
              '        fn()',
              '        return "connected"',
              '    except OSError as e:',
              '        return type(e).__name__',
              'def transform(rows):',
              '    names = ",".join(sorted(n for _, n in socket.if_nameindex()))',
              '    host = attempt(lambda: socket.create_connection(("127.0.0.1", PORT), timeout=3).close())',
              '    dns = attempt(lambda: socket.getaddrinfo("localhost.invalid", 80))',
              '    return [{"interfaces": names, "host_loopback": host, "dns": dns}]',
            ),
            output,
          }),
        );
        expectKind(result, 'ok');
        const [interfaces, hostLoopback, dns] = output.lines()[0]!.split('\t');
        expect(interfaces).toBe('lo');
        expect(hostLoopback).toBe('ConnectionRefusedError');
        expect(dns).toBe('gaierror');
      });
    });

    it('runs unprivileged on a read-only root with a noexec /tmp and an empty environment', async () => {
      const output = new Collector();
      const result = await driver.run(
        request({
          code: py(
            'import os, stat',
            'def attempt(fn):',
            '    try:',
            '        fn()',
            '        return "ok"',
            '    except OSError as e:',
            '        return type(e).__name__',
            'def status(field):',
            '    for line in open("/proc/self/status"):',
            '        if line.startswith(field + ":"):',
            '            return line.split()[1]',
            '    return "?"',
            'def run_from_tmp():',
            '    with open("/tmp/x.sh", "w") as f:',
            '        f.write("#!/bin/sh\\nexit 0\\n")',
            '    os.chmod("/tmp/x.sh", 0o755)',
            '    pid = os.fork()',
            '    if pid == 0:',
            '        try:',
            '            os.execv("/tmp/x.sh", ["/tmp/x.sh"])',
            '        finally:',
            '            os._exit(99)',
            '    return os.waitpid(pid, 0)[1] >> 8',
            'def transform(rows):',
            '    return [{',
            '        "uid": os.getuid(), "gid": os.getgid(),',
            '        "write_root": attempt(lambda: open("/etc/hacked", "w")),',
            '        "write_tmp": attempt(lambda: open("/tmp/ok", "w").close()),',
            '        "exec_tmp_status": run_from_tmp(),',
            '        "cap_eff": status("CapEff"),',
            '        "env": ",".join(sorted(os.environ)),',
            '    }]',
          ),
          output,
        }),
      );
      expect(expectKind(result, 'ok').outputColumns).toEqual(['uid', 'gid', 'write_root', 'write_tmp', 'exec_tmp_status', 'cap_eff', 'env']);
      const [uid, gid, writeRoot, writeTmp, execStatus, capEff, envNames] = output.lines()[0]!.split('\t');
      expect([uid, gid]).toEqual(['65532', '65532']);
      expect(writeRoot).toMatch(/^(OSError|PermissionError)$/); // EROFS
      expect(writeTmp).toBe('ok');
      expect(execStatus).toBe('99'); // execv from the noexec /tmp failed
      expect(capEff).toBe('0000000000000000');
      // Nothing of ours: HOME/HOSTNAME come from docker, PATH from the image, LC_CTYPE from Python's locale coercion.
      expect(envNames).toBe('HOME,HOSTNAME,LC_CTYPE,PATH');
    });

    it('removes its containers', async () => {
      const req = request({ code: py('def transform(rows):', '    return rows') });
      await driver.run(req);
      const left = await docker.listContainers({ all: true, filters: { label: [`aoetl.run=${req.runId}`] } });
      expect(left).toEqual([]);
    });
  });
});

describe('DockerSandboxDriver engine checks and housekeeping', () => {
  it('refuses a runtime the engine does not offer', async () => {
    await expect(
      DockerSandboxDriver.create({ image, socketPath, runtime: 'kata' as SandboxRuntime }),
    ).rejects.toBeInstanceOf(SandboxRuntimeUnavailableError);
  });

  it('refuses a missing image', async () => {
    await expect(
      DockerSandboxDriver.create({ image: 'aoetl/sandbox-python:does-not-exist', socketPath, runtime: 'runc', allowRunc: true }),
    ).rejects.toBeInstanceOf(SandboxImageMissingError);
  });

  it('reaps orphaned sandbox containers that never started, after the grace period', async () => {
    const orphan = await docker.createContainer({ Image: image, Labels: { 'aoetl.sandbox': '1', 'aoetl.run': 'orphan-test' } });
    const driver = new DockerSandboxDriver({ image, socketPath, runtime: 'runc', allowRunc: true });
    expect(await driver.reapOrphans()).not.toContain(orphan.id); // 30 s grace: it may be a run being set up
    expect(await driver.reapOrphans({ graceMs: 0, olderThanMs: 60 * 60 * 1000 })).not.toContain(orphan.id);
    expect(await driver.reapOrphans({ graceMs: 0 })).toContain(orphan.id);
    await expect(orphan.inspect()).rejects.toMatchObject({ statusCode: 404 });
  });

  it('close() kills running sandboxes', async () => {
    const driver = await DockerSandboxDriver.create({ image, socketPath, runtime: 'runc', allowRunc: true });
    const pending = driver.run({
      runId: 'close-test',
      code: py('def transform(rows):', '    while True:', '        pass'),
      columns: [],
      types: [],
      input: emptyInput(),
      output: new Collector(),
    });
    // wait until the sandbox runs, then close the driver under it
    for (let i = 0; i < 100; i++) {
      const running = await docker.listContainers({ filters: { label: ['aoetl.run=close-test'], status: ['running'] } });
      if (running.length > 0) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await driver.close();
    const result = await pending;
    expect(expectKind(result, 'exit_error').reason).toMatch(/closed/);
    await expect(driver.run({ runId: 'x', code: '', columns: [], types: [], input: emptyInput(), output: new Collector() })).rejects.toThrow(/closed/);
  });
});
