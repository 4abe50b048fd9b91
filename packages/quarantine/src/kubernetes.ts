import type { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import type { PodIsolation } from './ports.js';

type KubeClient = typeof import('@kubernetes/client-node');

/**
 * The pod steps of a quarantine through the Kubernetes API (@kubernetes/client-node): a JSON merge patch that sets
 * the quarantine label (the chart's NetworkPolicy selects it: no ingress, no egress), then the pod's deletion (its
 * Deployment starts a fresh one). RBAC: get/patch/delete on pods of the release's namespace (the chart's monitor Role).
 */
export class KubernetesPodIsolation implements PodIsolation {
  private api: CoreV1Api | undefined;

  constructor(private readonly kubeConfig?: KubeConfig) {}

  async label(namespace: string, name: string, key: string, value: string): Promise<void> {
    const k8s = loadClient();
    await this.core().patchNamespacedPod(
      { name, namespace, body: { metadata: { labels: { [key]: value } } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
  }

  async delete(namespace: string, name: string): Promise<void> {
    try {
      await this.core().deleteNamespacedPod({ name, namespace, gracePeriodSeconds: 0 });
    } catch (err) {
      if ((err as { code?: number }).code === 404) return; // already gone
      throw err;
    }
  }

  private core(): CoreV1Api {
    if (!this.api) {
      const k8s = loadClient();
      const config = this.kubeConfig ?? new k8s.KubeConfig();
      if (!this.kubeConfig) config.loadFromDefault();
      this.api = config.makeApiClient(k8s.CoreV1Api);
    }
    return this.api;
  }
}

function loadClient(): KubeClient {
  // ESM-only package: require(esm) (Node >= 20.19) keeps it out of monitors that do not use Kubernetes.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('@kubernetes/client-node') as KubeClient;
}
