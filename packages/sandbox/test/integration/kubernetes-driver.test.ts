// The Kubernetes sandbox driver with the real @kubernetes/client-node against a local fake API
// server (test/support/fake-kube-api.ts) whose "containers" run the real harness with python3.
// There is no cluster here: scheduling, admission, cgroups and gVisor are not exercised.

// Jest's module loader cannot require an ES module (client-node 1.x is ESM-only); Node >= 20.19
// can, so hand the module to Jest from Node's own require.
jest.mock('@kubernetes/client-node', () => {
  const { createRequire } = process.getBuiltinModule('node:module');
  return createRequire(__filename)('@kubernetes/client-node') as unknown;
});

import { KubeConfig } from '@kubernetes/client-node';
import {
  KubernetesSandboxDriver,
  SandboxClosedError,
  SandboxError,
  SandboxPodStartError,
  type KubernetesSandboxDriverOptions,
  type SandboxResult,
  type SandboxRunRequest,
} from '../../src/index.js';
import { FakeKubeApi } from '../support/fake-kube-api.js';
import { Collector } from '@aoetl/testing';
import { copyInput, emptyInput, generatedInput } from '../support/env.js';

jest.setTimeout(60_000);

const NAMESPACE = 'aoetl-sandbox';
const py = (...lines: string[]) => lines.join('\n') + '\n';

function expectKind<K extends SandboxResult['kind']>(result: SandboxResult, kind: K): Extract<SandboxResult, { kind: K }> {
  if (result.kind !== kind) throw new Error(`expected ${kind}, got ${JSON.stringify(result)}`);
  return result as Extract<SandboxResult, { kind: K }>;
}

let api: FakeKubeApi;
let n = 0;

function newDriver(overrides: Partial<KubernetesSandboxDriverOptions> = {}): KubernetesSandboxDriver {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions(api.kubeConfigOptions());
  return new KubernetesSandboxDriver({
    image: 'aoetl/sandbox-python:test',
    namespace: NAMESPACE,
    runtimeClassName: 'gvisor',
    kubeConfig,
    pollIntervalMs: 20,
    startTimeoutMs: 5_000,
    limits: { timeoutMs: 20_000 },
    ...overrides,
  });
}

const request = (overrides: Partial<SandboxRunRequest> & Pick<SandboxRunRequest, 'code'>): SandboxRunRequest => ({
  runId: `it-k8s-${process.pid}-${++n}`,
  columns: ['id', 'name', 'amount'],
  types: ['int8', 'text', 'numeric'],
  input: emptyInput(),
  output: new Collector(),
  ...overrides,
});

async function waitFor(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Every pod the test created is gone and no container process is left. */
function expectCleanedUp(): void {
  expect([...api.pods.keys()]).toEqual([]);
  expect(api.runningProcesses()).toEqual([]);
  for (const pod of api.created) expect(api.requests).toContain(`DELETE /api/v1/namespaces/${NAMESPACE}/pods/${pod.metadata.name}`);
}

beforeEach(async () => {
  api = new FakeKubeApi({ namespace: NAMESPACE, token: `token-${process.pid}` });
  await api.start();
});
afterEach(() => api.stop());

describe('KubernetesSandboxDriver against a fake API server', () => {
  let driver: KubernetesSandboxDriver;
  beforeEach(() => {
    driver = newDriver();
  });
  afterEach(() => driver.close());

  it('runs a transform in one pod: data in through attach stdin, out through stdout, pod deleted', async () => {
    const output = new Collector();
    const input = [
      ['1', 'alice', '10.25'],
      ['2', '\\N', '\\N'],
      ['3', 'tab\\there\\\\', '-0.5'],
    ];
    const req = request({
      code: py(
        'def transform(rows):',
        '    print("to stderr only")',
        '    return [{"id": r["id"] * 10, "name": None if r["name"] is None else r["name"].upper(),',
        '             "amount": r["amount"] * 2 if r["amount"] is not None else None} for r in rows]',
      ),
      input: copyInput(input),
      output,
    });
    const ok = expectKind(await driver.run(req), 'ok');
    expect(ok.outputColumns).toEqual(['id', 'name', 'amount']);
    expect(ok.rowsIn).toBe(3);
    expect(output.lines()).toEqual(['10\tALICE\t20.50', '20\t\\N\t\\N', '30\tTAB\\tHERE\\\\\t-1.0']);
    expect(ok.bytesOut).toBe(output.bytes);

    expect(api.created).toHaveLength(1);
    const name = api.created[0]!.metadata.name as string;
    expect(ok.containerId).toBe(name);
    expect(name).toMatch(/^aoetl-sandbox-[0-9a-f]{16}$/);
    // The paths the driver uses, in order (status polls may repeat).
    const base = `/api/v1/namespaces/${NAMESPACE}/pods`;
    const calls = api.requests.filter((r, i, all) => r !== all[i - 1]);
    expect(calls).toEqual([`POST ${base}`, `GET ${base}/${name}`, `ATTACH ${base}/${name}/attach`, `GET ${base}/${name}`, `DELETE ${base}/${name}`]);
    // The harness got the header line and the rows, and saw the end of its input.
    const rowBytes = input.map((r) => r.join('\t') + '\n').join('').length;
    expect(api.stdinBytes.get(name)).toBeGreaterThan(rowBytes + req.code.length);
    expectCleanedUp();
  });

  it('sends the hardened pod spec over the wire', async () => {
    expectKind(await driver.run(request({ code: py('def transform(rows):', '    return rows'), runId: 'pipeline/7 run:3' })), 'ok');
    const pod = api.created[0]!;
    const spec = pod.spec;
    const container = spec.containers[0];
    expect(pod.metadata.labels).toEqual({ 'aoetl.sandbox': '1', 'aoetl.run': 'pipeline_7_run_3' });
    expect(pod.metadata.annotations).toEqual({ 'aoetl.run': 'pipeline/7 run:3' });
    expect(spec).toMatchObject({
      runtimeClassName: 'gvisor',
      restartPolicy: 'Never',
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      hostNetwork: false,
      hostPID: false,
      hostIPC: false,
      securityContext: { runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, seccompProfile: { type: 'RuntimeDefault' } },
      volumes: [{ name: 'tmp', emptyDir: { medium: 'Memory', sizeLimit: String(16 * 1024 * 1024) } }],
    });
    // startTimeoutMs 5 s + timeoutMs 20 s, rounded up, + 30 s
    expect(spec.activeDeadlineSeconds).toBe(55);
    expect(container.securityContext).toEqual({
      runAsNonRoot: true,
      runAsUser: 65532,
      runAsGroup: 65532,
      privileged: false,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(container.resources.limits).toEqual(container.resources.requests);
    expect(Object.keys(container.resources.limits).sort()).toEqual(['cpu', 'ephemeral-storage', 'memory']);
    expect(container).toMatchObject({ stdin: true, stdinOnce: true, tty: false, volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }] });
    expect(container.env).toBeUndefined();
    expect(container.envFrom).toBeUndefined();
    expect(spec.volumes.every((v: { emptyDir?: unknown }) => v.emptyDir)).toBe(true);
  });

  it('streams 200k rows through a slow sink with backpressure', async () => {
    const output = new Collector(1);
    const ok = expectKind(
      await driver.run(
        request({
          code: py('def transform(rows):', '    for r in rows:', '        r["twice"] = r["amount"] * 2', '    return rows'),
          input: generatedInput(200_000),
          output,
        }),
      ),
      'ok',
    );
    expect(ok.rowsIn).toBe(200_000);
    const lines = output.lines();
    expect(lines).toHaveLength(200_000);
    expect(lines[199_999]).toBe('199999\tname-199999\t199999.5\t399999.0');
    expectCleanedUp();
  });

  it('reports a transform error and deletes the pod', async () => {
    const error = expectKind(
      await driver.run(request({ code: py('def transform(rows):', '    raise ValueError(f"bad row {len(rows)}")'), input: copyInput([['1', 'a', '1']]) })),
      'transform_error',
    );
    expect(error.errorType).toBe('ValueError');
    expect(error.message).toBe('bad row 1');
    expect(error.traceback).toContain('File "<transform>", line 2, in transform');
    expectCleanedUp();
  });

  it('fails fast on bad code while a large input is still streaming', async () => {
    const started = Date.now();
    const error = expectKind(await driver.run(request({ code: 'def transform(rows:', input: generatedInput(2_000_000) })), 'transform_error');
    expect(error.errorType).toBe('SyntaxError');
    expect(Date.now() - started).toBeLessThan(15_000);
    expectCleanedUp();
  });

  it('kills a transform that runs past the timeout and deletes its pod', async () => {
    const started = Date.now();
    const result = await driver.run(request({ code: py('def transform(rows):', '    while True:', '        pass'), limits: { timeoutMs: 1_500 } }));
    expect(expectKind(result, 'timeout').timeoutMs).toBe(1_500);
    expect(Date.now() - started).toBeLessThan(10_000);
    expectCleanedUp();
  });

  it('reports a container the OOM killer ended as oom', async () => {
    api.harnessArgs = ['--no-guard']; // os.kill stands in for the OOM killer; the harness guard would refuse it
    const result = await driver.run(request({ code: py('import os', 'def transform(rows):', '    os.kill(os.getpid(), 9)') })).finally(() => {
      api.harnessArgs = [];
    });
    expect(expectKind(result, 'oom').memoryBytes).toBe(1024 * 1024 * 1024);
    expectCleanedUp();
  });

  it('stops at the output byte cap', async () => {
    const result = await driver.run(
      request({
        code: py('def transform(rows):', '    return [{"x": "y" * 1000} for _ in range(10_000)]'),
        limits: { maxOutputBytes: 100_000 },
      }),
    );
    const limited = expectKind(result, 'output_limit');
    expect(limited.bytesOut).toBeLessThanOrEqual(100_000);
    expectCleanedUp();
  });

  it('cleans up when the create call fails', async () => {
    api.createFailure = { status: 403, store: false };
    await expect(driver.run(request({ code: 'x = 1' }))).rejects.toThrow(/could not create sandbox pod .*HTTP 403/);
    expect(api.created).toHaveLength(1);
    expectCleanedUp(); // a DELETE was still sent (404: nothing was stored)
  });

  it('deletes a pod whose create answer was lost', async () => {
    api.createFailure = { status: 500, store: true };
    await expect(driver.run(request({ code: 'x = 1' }))).rejects.toThrow(SandboxError);
    expectCleanedUp();
  });

  it('gives up on a pod that cannot start and deletes it', async () => {
    api.startFailure = { reason: 'ImagePullBackOff', message: 'Back-off pulling image "aoetl/sandbox-python:test"' };
    const run = driver.run(request({ code: 'x = 1' }));
    await expect(run).rejects.toThrow(SandboxPodStartError);
    await expect(run).rejects.toThrow(/ImagePullBackOff/);
    expectCleanedUp();
  });

  it('refuses an API server without the v5 stream protocol (it cannot end stdin)', async () => {
    api.protocols = ['v4.channel.k8s.io'];
    await expect(driver.run(request({ code: 'x = 1' }))).rejects.toThrow(/v5\.channel\.k8s\.io/);
    expectCleanedUp();
  });
});

describe('KubernetesSandboxDriver housekeeping', () => {
  it('close() deletes the pods of running runs and refuses new runs', async () => {
    const driver = newDriver();
    const run = driver.run(request({ code: py('def transform(rows):', '    while True:', '        pass') }));
    await waitFor(() => api.runningProcesses().length === 1 && api.requests.some((r) => r.startsWith('ATTACH')));
    await driver.close();
    const result = expectKind(await run, 'exit_error');
    expect(result.reason).toBe('killed: sandbox driver closed');
    expectCleanedUp();
    await expect(driver.run(request({ code: 'x = 1' }))).rejects.toThrow(SandboxClosedError);
  });

  it('reaps labelled pods past their deadline and leaves the others', async () => {
    const driver = newDriver();
    api.addPod('old-sandbox', { 'aoetl.sandbox': '1' }, 10 * 60_000, 60);
    api.addPod('young-sandbox', { 'aoetl.sandbox': '1' }, 10 * 60_000, 3_600);
    api.addPod('old-other', { app: 'other' }, 10 * 60_000, 60);
    expect(await driver.reapOrphans()).toEqual(['old-sandbox']);
    expect([...api.pods.keys()].sort()).toEqual(['old-other', 'young-sandbox']);
    expect(await driver.reapOrphans({ olderThanMs: 0 })).toEqual(['young-sandbox']);
    expect(api.requests).toContain(`GET /api/v1/namespaces/${NAMESPACE}/pods`);
    await driver.close();
  });

  it('sends the configured credentials', async () => {
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromOptions({ ...api.kubeConfigOptions(), users: [{ name: 'etl-agent', token: 'wrong' }] });
    const driver = newDriver({ kubeConfig });
    await expect(driver.run(request({ code: 'x = 1' }))).rejects.toThrow(/HTTP 401/);
    await driver.close();
  });
});
