// The Kubernetes sandbox driver against a REAL single-node cluster (deploy/cluster): the real API
// server (Pod Security "restricted", the sandbox ValidatingAdmissionPolicy, RBAC), scheduler, kubelet,
// containerd and the sandbox image, with data through the real pods/attach WebSocket.
// Run by test/cluster/run.sh inside the cluster's network namespace, with:
//   AOETL_CLUSTER_AGENT_KUBECONFIG  a kubeconfig holding a token of the chart's etl-agent ServiceAccount
//                                   (so the driver runs with exactly the chart's Role, nothing more)
//   AOETL_CLUSTER_SANDBOX_IMAGE     the sandbox image imported into the cluster's containerd
//   AOETL_CLUSTER_RUNTIME_CLASS     the RuntimeClass of sandbox pods (gvisor)

// Jest's module loader cannot require an ES module (client-node 1.x is ESM-only); Node >= 20.19
// can, so hand the module to Jest from Node's own require.
jest.mock('@kubernetes/client-node', () => {
  const { createRequire } = process.getBuiltinModule('node:module');
  return createRequire(__filename)('@kubernetes/client-node') as unknown;
});

import type { Readable } from 'node:stream';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { Collector } from '@aoetl/testing';
import { KubernetesSandboxDriver, type SandboxResult } from '../../src/index.js';
import { copyInput, generatedInput } from '../support/env.js';

jest.setTimeout(120_000);

const NAMESPACE = 'aoetl-sandbox';

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run this suite through test/cluster/run.sh`);
  return value;
}

const kubeConfig = new KubeConfig();
kubeConfig.loadFromFile(required('AOETL_CLUSTER_AGENT_KUBECONFIG'));
const api = kubeConfig.makeApiClient(CoreV1Api);
let driver: KubernetesSandboxDriver;
let n = 0;

beforeEach(() => {
  driver = new KubernetesSandboxDriver({
    image: required('AOETL_CLUSTER_SANDBOX_IMAGE'),
    namespace: NAMESPACE,
    runtimeClassName: required('AOETL_CLUSTER_RUNTIME_CLASS'),
    kubeConfig,
    pollIntervalMs: 200,
    startTimeoutMs: 60_000,
    limits: { timeoutMs: 30_000 },
  });
});
afterEach(() => driver.close());

/** One run of CODE over INPUT (columns id int8, name text, amount numeric); the result must be ok. */
async function runOk(code: string, input: Readable, output: Collector): Promise<Extract<SandboxResult, { kind: 'ok' }>> {
  const result = await driver.run({
    runId: `cluster-${process.pid}-${++n}`,
    columns: ['id', 'name', 'amount'],
    types: ['int8', 'text', 'numeric'],
    code,
    input,
    output,
  });
  if (result.kind !== 'ok') throw new Error(`expected ok, got ${JSON.stringify(result)}`);
  return result;
}

async function sandboxPods(): Promise<string[]> {
  const list = await api.listNamespacedPod({ namespace: NAMESPACE, labelSelector: 'aoetl.sandbox=1' });
  return list.items.map((p) => p.metadata?.name ?? '');
}

describe('KubernetesSandboxDriver on a real cluster', () => {
  it('runs a transform in one hardened pod, data through the real attach API, and deletes the pod', async () => {
    const output = new Collector();
    const ok = await runOk(
      'def transform(rows):\n    return [{"id": r["id"] * 10, "name": r["name"].upper(), "amount": r["amount"] * 2} for r in rows]\n',
      copyInput([
        ['1', 'alice', '10.25'],
        ['2', 'bob', '-0.5'],
      ]),
      output,
    );
    expect(output.lines()).toEqual(['10\tALICE\t20.50', '20\tBOB\t-1.0']);
    expect(ok.rowsIn).toBe(2);
    expect(ok.containerId).toMatch(/^aoetl-sandbox-[0-9a-f]{16}$/);
    expect(await sandboxPods()).not.toContain(ok.containerId);
  });

  it('streams 20 000 rows through attach with backpressure', async () => {
    const output = new Collector();
    const ok = await runOk('def transform(rows):\n    return rows\n', generatedInput(20_000), output);
    expect(ok.rowsIn).toBe(20_000);
    expect(output.lines()).toHaveLength(20_000);
    expect(output.lines()[19_999]).toBe('19999\tname-19999\t19999.5');
    expect(await sandboxPods()).toEqual([]);
  });
});
