import type { ContainerCreateOptions } from 'dockerode';
import { nanoCpus } from './limits.js';
import { HARNESS_COMMAND } from './protocol.js';
import type { SandboxLimits, SandboxRuntime } from './types.js';

export const SANDBOX_LABEL = 'aoetl.sandbox';
export const RUN_LABEL = 'aoetl.run';
/** The unprivileged user baked into the sandbox image. */
export const SANDBOX_USER = '65532:65532';

export interface ContainerSpecInput {
  image: string;
  runtime: SandboxRuntime;
  runId: string;
  limits: SandboxLimits;
}

/**
 * Hardened container settings: no network, read-only root, small noexec /tmp, no capabilities,
 * no privilege escalation (Docker's default seccomp profile stays on), bounded memory (no swap),
 * CPU, processes and files, no environment, no log driver, stdin attached for the data stream.
 */
export function buildContainerSpec({ image, runtime, runId, limits }: ContainerSpecInput): ContainerCreateOptions {
  return {
    Image: image,
    Cmd: [...HARNESS_COMMAND],
    User: SANDBOX_USER,
    WorkingDir: '/tmp',
    Env: [],
    Labels: { [SANDBOX_LABEL]: '1', [RUN_LABEL]: runId },
    AttachStdin: true,
    AttachStdout: true,
    AttachStderr: true,
    OpenStdin: true,
    StdinOnce: true,
    Tty: false,
    NetworkDisabled: true,
    HostConfig: {
      Runtime: runtime,
      NetworkMode: 'none',
      ReadonlyRootfs: true,
      Tmpfs: { '/tmp': `rw,noexec,nosuid,nodev,size=${limits.tmpfsBytes}` },
      CapDrop: ['ALL'],
      SecurityOpt: ['no-new-privileges:true'],
      Privileged: false,
      PidsLimit: limits.pidsLimit,
      Memory: limits.memoryBytes,
      MemorySwap: limits.memoryBytes,
      NanoCpus: nanoCpus(limits.cpus),
      Ulimits: [{ Name: 'nofile', Soft: limits.nofile, Hard: limits.nofile }],
      LogConfig: { Type: 'none', Config: {} },
      AutoRemove: false,
    },
  };
}
