// The monitor quarantine's pod steps (@aoetl/quarantine) with the real @kubernetes/client-node against the local stand-in for the Kubernetes API
// server that the sandbox driver tests use (packages/sandbox/test/support/fake-kube-api.ts: HTTPS, bearer token,
// pods create/get/list/delete and a JSON merge patch of labels). No cluster here: RBAC and the NetworkPolicy that
// the label triggers are the chart's and are not exercised (the real-cluster issue's single-node cluster will).

// Jest's module loader cannot require an ES module (client-node 1.x is ESM-only); Node >= 20.19 can.
jest.mock('@kubernetes/client-node', () => {
  const { createRequire } = process.getBuiltinModule('node:module');
  return createRequire(__filename)('@kubernetes/client-node') as unknown;
});

import { KubeConfig } from '@kubernetes/client-node';
import { KubernetesPodIsolation } from '@aoetl/quarantine';
import { FakeKubeApi } from '../support/fake-kube-api.js';

const NAMESPACE = 'aoetl';
let api: FakeKubeApi;
let pods: KubernetesPodIsolation;

beforeAll(async () => {
  api = new FakeKubeApi({ namespace: NAMESPACE, token: 'monitor-token-0123456789' });
  await api.start();
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions(api.kubeConfigOptions());
  pods = new KubernetesPodIsolation(kubeConfig);
});
afterAll(() => api.stop());

test('the agent pod gets the quarantine label, then is deleted; deleting a pod already gone is not an error', async () => {
  api.addPod('etl-agent-7f9c-x2', { 'app.kubernetes.io/component': 'etl-agent' }, 1000);
  await pods.label(NAMESPACE, 'etl-agent-7f9c-x2', 'aoetl.io/quarantine', 'true');
  expect(api.pods.get('etl-agent-7f9c-x2')?.pod.metadata.labels).toEqual({ 'app.kubernetes.io/component': 'etl-agent', 'aoetl.io/quarantine': 'true' });

  await pods.delete(NAMESPACE, 'etl-agent-7f9c-x2');
  expect(api.pods.has('etl-agent-7f9c-x2')).toBe(false);
  await expect(pods.delete(NAMESPACE, 'etl-agent-7f9c-x2')).resolves.toBeUndefined();
  expect(api.requests).toEqual([
    `PATCH /api/v1/namespaces/${NAMESPACE}/pods/etl-agent-7f9c-x2`,
    `DELETE /api/v1/namespaces/${NAMESPACE}/pods/etl-agent-7f9c-x2`,
    `DELETE /api/v1/namespaces/${NAMESPACE}/pods/etl-agent-7f9c-x2`,
  ]);
});

test('labelling a pod that does not exist fails with the API error (the step is then reported failed and retried)', async () => {
  await expect(pods.label(NAMESPACE, 'etl-agent-gone', 'aoetl.io/quarantine', 'true')).rejects.toThrow(/404|not found/i);
});

test('a wrong token is refused by the API server', async () => {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({ ...api.kubeConfigOptions(), users: [{ name: 'etl-agent', token: 'wrong-token-0123456789' }] });
  api.addPod('etl-agent-other', {}, 1000);
  await expect(new KubernetesPodIsolation(kubeConfig).label(NAMESPACE, 'etl-agent-other', 'aoetl.io/quarantine', 'true')).rejects.toThrow(/401|Unauthorized/i);
  expect(api.pods.get('etl-agent-other')?.pod.metadata.labels).toEqual({});
});
