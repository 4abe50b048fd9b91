import { RUN_LABEL, SANDBOX_LABEL, SANDBOX_USER } from './container-spec.js';
import { buildPodSpec, labelValue, SANDBOX_CONTAINER, SANDBOX_UID, type PodSpecInput } from './kubernetes-pod-spec.js';
import { resolveLimits } from './limits.js';
import { HARNESS_COMMAND } from './protocol.js';

const MiB = 1024 * 1024;

describe('buildPodSpec', () => {
  const input: PodSpecInput = {
    name: 'aoetl-sandbox-0123456789abcdef',
    namespace: 'aoetl-sandbox',
    image: 'aoetl/sandbox-python:abc',
    imagePullPolicy: 'IfNotPresent',
    runtimeClassName: 'gvisor',
    runId: 'run-1',
    limits: resolveLimits({ memoryBytes: 256 * MiB, cpus: 0.5, tmpfsBytes: 8 * MiB }),
    ephemeralStorageBytes: 128 * MiB,
    activeDeadlineSeconds: 180,
  };
  const pod = buildPodSpec(input);
  const spec = pod.spec!;
  const container = spec.containers[0]!;

  it('is one pod of one container, never restarted, with a deadline and the gVisor RuntimeClass', () => {
    expect(pod.metadata).toMatchObject({ name: input.name, namespace: 'aoetl-sandbox' });
    expect(spec.containers).toHaveLength(1);
    expect(spec.initContainers).toBeUndefined();
    expect(spec).toMatchObject({ restartPolicy: 'Never', activeDeadlineSeconds: 180, terminationGracePeriodSeconds: 0, runtimeClassName: 'gvisor' });
    expect(buildPodSpec({ ...input, runtimeClassName: '' }).spec!.runtimeClassName).toBeUndefined();
    expect(buildPodSpec({ ...input, runtimeClassName: undefined }).spec!.runtimeClassName).toBeUndefined();
  });

  it('labels the pod for reaping and keeps the full run id in an annotation', () => {
    expect(pod.metadata!.labels).toEqual({ [SANDBOX_LABEL]: '1', [RUN_LABEL]: 'run-1' });
    expect(pod.metadata!.annotations).toEqual({ [RUN_LABEL]: 'run-1' });
  });

  it('has no token, no service links, no host namespaces, no env, no ports', () => {
    expect(spec).toMatchObject({
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      hostNetwork: false,
      hostPID: false,
      hostIPC: false,
      shareProcessNamespace: false,
    });
    expect(spec.serviceAccountName).toBeUndefined();
    expect(container.env).toBeUndefined();
    expect(container.envFrom).toBeUndefined();
    expect(container.ports).toBeUndefined();
  });

  it('meets Pod Security "restricted" and runs as the image user on a read-only root', () => {
    expect(`${SANDBOX_UID}:${SANDBOX_UID}`).toBe(SANDBOX_USER);
    expect(spec.securityContext).toEqual({
      runAsNonRoot: true,
      runAsUser: 65532,
      runAsGroup: 65532,
      seccompProfile: { type: 'RuntimeDefault' },
    });
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
  });

  it('mounts only a memory-backed /tmp of tmpfsBytes', () => {
    expect(spec.volumes).toEqual([{ name: 'tmp', emptyDir: { medium: 'Memory', sizeLimit: String(8 * MiB) } }]);
    expect(container.volumeMounts).toEqual([{ name: 'tmp', mountPath: '/tmp' }]);
  });

  it('sets limits equal to requests for cpu, memory and ephemeral storage', () => {
    const expected = { cpu: '500m', memory: String(256 * MiB), 'ephemeral-storage': String(128 * MiB) };
    expect(container.resources).toEqual({ requests: expected, limits: expected });
    const tiny = buildPodSpec({ ...input, limits: resolveLimits({ cpus: 0.01 }) });
    expect(tiny.spec!.containers[0]!.resources!.limits!.cpu).toBe('10m');
  });

  it('runs the harness with stdin open once and no TTY', () => {
    expect(container).toMatchObject({
      name: SANDBOX_CONTAINER,
      image: 'aoetl/sandbox-python:abc',
      imagePullPolicy: 'IfNotPresent',
      command: [...HARNESS_COMMAND],
      workingDir: '/tmp',
      stdin: true,
      stdinOnce: true,
      tty: false,
    });
  });
});

describe('labelValue', () => {
  it.each([
    ['run-1', 'run-1'],
    ['0b5c4a2e-1d3f-4e5a-9b7c-1234567890ab', '0b5c4a2e-1d3f-4e5a-9b7c-1234567890ab'],
    ['pipeline/42 run:7', 'pipeline_42_run_7'],
    ['--x--', 'x'],
    ['', ''],
    ['a'.repeat(70), 'a'.repeat(63)],
    ['a'.repeat(62) + '-b', 'a'.repeat(62)],
  ])('%j -> %j', (input, expected) => {
    const value = labelValue(input);
    expect(value).toBe(expected);
    expect(value).toMatch(/^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/);
    expect(value.length).toBeLessThanOrEqual(63);
  });
});
