/**
 * @aoetl/sandbox: runs untrusted Python transforms in hardened, network-less containers (Docker with runc or
 * gVisor, or one Kubernetes pod per run) behind the SandboxDriver interface. Only the public API is exported
 * here; the harness protocol, its I/O and the reaper are internal.
 */
export type {
  SandboxDriver,
  SandboxExitError,
  SandboxLimits,
  SandboxLogger,
  SandboxOk,
  SandboxOom,
  SandboxOutputLimit,
  SandboxResult,
  SandboxResultBase,
  SandboxRunRequest,
  SandboxRuntime,
  SandboxTimeout,
  SandboxTransformError,
} from './types.js';
export {
  SandboxClosedError,
  SandboxConfigError,
  SandboxError,
  SandboxImageMissingError,
  SandboxRuntimeUnavailableError,
  SandboxUsernsUnavailableError,
} from './errors.js';
export { DEFAULT_LIMITS, resolveLimits } from './limits.js';
/** Labels on every sandbox container (and pod): how operators and the reaper find them. */
export { OWNER_LABEL, POOL_LABEL, RUN_LABEL, SANDBOX_LABEL } from './container-spec.js';
/** The hardened container definition, for inspection and benchmarks; the driver builds it itself. */
export { buildContainerSpec } from './container-spec.js';
export { DockerSandboxDriver, usernsRemapped, type DockerSandboxDriverOptions, type EngineInfo, type ReapOptions, type WarmPoolSettings } from './docker-driver.js';
export { KubernetesSandboxDriver, SandboxPodStartError, type KubernetesReapOptions, type KubernetesSandboxDriverOptions } from './kubernetes-driver.js';
export { DOCKER_TLS_PORT, dockerConnectionOptions, type DockerRemoteTls } from './docker-connection.js';
export {
  classifyResult,
  sandboxEvent,
  type PolicyReason,
  type PolicyRefusal,
  type SandboxEvent,
  type SandboxOutcomeCode,
} from './results.js';
export {
  checkPolicies,
  checkPolicy,
  DEFAULT_ALLOWED_MODULES,
  DEFAULT_POLICY_MAX_BYTES,
  escapeCopyText,
  unescapeCopyText,
  policyRefusal,
  POLICY_CHECK_MARKER,
  type PolicyOptions,
  type PolicyResult,
} from './policy.js';
