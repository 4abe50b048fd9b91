import type { V1Pod, V1ResourceRequirements } from '@kubernetes/client-node';
import { RUN_LABEL, SANDBOX_LABEL } from './container-spec.js';
import { HARNESS_COMMAND } from './protocol.js';
import type { SandboxLimits } from './types.js';

/** Name of the one container of a sandbox pod. */
export const SANDBOX_CONTAINER = 'sandbox';
/** uid and gid of the unprivileged user baked into the sandbox image (the Docker driver's SANDBOX_USER). */
export const SANDBOX_UID = 65532;

export type ImagePullPolicy = 'Always' | 'IfNotPresent' | 'Never';

export interface PodSpecInput {
  name: string;
  namespace: string;
  image: string;
  imagePullPolicy: ImagePullPolicy;
  /** RuntimeClass (e.g. gvisor); undefined or '' = the cluster default. */
  runtimeClassName: string | undefined;
  runId: string;
  limits: SandboxLimits;
  /** Ephemeral storage (container logs and writable layer; /tmp is memory-backed), in bytes. */
  ephemeralStorageBytes: number;
  /** Backstop for a pod its agent forgot: the kubelet fails it after this many seconds. */
  activeDeadlineSeconds: number;
}

/**
 * The sandbox pod: the Docker driver's hardening in Pod Security "restricted" terms. Non-root uid
 * 65532, read-only root, a memory-backed /tmp of limits.tmpfsBytes, no capabilities, no privilege
 * escalation, RuntimeDefault seccomp, no service-account token, no service links, no env, no host
 * namespaces, limits = requests (Guaranteed QoS), restartPolicy Never, stdin open once for the data.
 * Not expressible per pod (node or runtime settings instead): pidsLimit (kubelet podPidsLimit),
 * nofile, and noexec on /tmp.
 */
export function buildPodSpec(input: PodSpecInput): V1Pod {
  const { limits } = input;
  const resources: V1ResourceRequirements = {
    requests: quantities(limits, input.ephemeralStorageBytes),
    limits: quantities(limits, input.ephemeralStorageBytes),
  };
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: input.name,
      namespace: input.namespace,
      labels: { [SANDBOX_LABEL]: '1', [RUN_LABEL]: labelValue(input.runId) },
      annotations: { [RUN_LABEL]: input.runId },
    },
    spec: {
      ...(input.runtimeClassName ? { runtimeClassName: input.runtimeClassName } : {}),
      restartPolicy: 'Never',
      activeDeadlineSeconds: input.activeDeadlineSeconds,
      terminationGracePeriodSeconds: 0,
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      hostNetwork: false,
      hostPID: false,
      hostIPC: false,
      shareProcessNamespace: false,
      securityContext: {
        runAsNonRoot: true,
        runAsUser: SANDBOX_UID,
        runAsGroup: SANDBOX_UID,
        seccompProfile: { type: 'RuntimeDefault' },
      },
      containers: [
        {
          name: SANDBOX_CONTAINER,
          image: input.image,
          imagePullPolicy: input.imagePullPolicy,
          command: [...HARNESS_COMMAND],
          workingDir: '/tmp',
          stdin: true,
          stdinOnce: true,
          tty: false,
          resources,
          securityContext: {
            runAsNonRoot: true,
            runAsUser: SANDBOX_UID,
            runAsGroup: SANDBOX_UID,
            privileged: false,
            allowPrivilegeEscalation: false,
            readOnlyRootFilesystem: true,
            capabilities: { drop: ['ALL'] },
            seccompProfile: { type: 'RuntimeDefault' },
          },
          volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }],
          terminationMessagePolicy: 'File',
        },
      ],
      volumes: [{ name: 'tmp', emptyDir: { medium: 'Memory', sizeLimit: String(limits.tmpfsBytes) } }],
    },
  };
}

function quantities(limits: SandboxLimits, ephemeralStorageBytes: number): Record<string, string> {
  return {
    cpu: `${Math.max(1, Math.round(limits.cpus * 1000))}m`,
    memory: String(limits.memoryBytes),
    'ephemeral-storage': String(ephemeralStorageBytes),
  };
}

/**
 * A Kubernetes label value for any run id: at most 63 characters of [A-Za-z0-9._-], beginning and
 * ending alphanumeric (the full id is kept in the aoetl.run annotation).
 */
export function labelValue(value: string): string {
  return value
    .replace(/[^A-Za-z0-9._-]/g, '_')
    .slice(0, 63)
    .replace(/^[^A-Za-z0-9]+/, '')
    .replace(/[^A-Za-z0-9]+$/, '');
}
