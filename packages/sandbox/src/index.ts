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
} from './errors.js';
export { DEFAULT_LIMITS, resolveLimits } from './limits.js';
export { buildContainerSpec, OWNER_LABEL, POOL_LABEL, RUN_LABEL, SANDBOX_LABEL, SANDBOX_USER } from './container-spec.js';
export {
  encodeInputHeader,
  HARNESS_COMMAND,
  parseHarnessError,
  parseOutputHeader,
  ProtocolViolation,
  type HarnessError,
  type InputHeader,
} from './protocol.js';
export {
  DEFAULT_DOCKER_SOCKET,
  DEFAULT_REAP_INTERVAL_MS,
  DockerSandboxDriver,
  type DockerSandboxDriverOptions,
  type WarmPoolSettings,
} from './docker-driver.js';
export { reapOrphans, reapReason, type ReapCandidate, type ReapContext, type ReapOptions } from './reaper.js';
export {
  classifyResult,
  isRefusalError,
  sandboxEvent,
  type PolicyReason,
  type PolicyRefusal,
  type SandboxEvent,
  type SandboxOutcomeCode,
} from './results.js';
export { sandboxOptionsFromEnv } from './env.js';
export { KubernetesSandboxDriver, kubernetesSandboxOptionsFromEnv, SandboxPodStartError, type KubernetesReapOptions, type KubernetesSandboxDriverOptions } from './kubernetes-driver.js';
export {
  checkPolicies,
  checkPolicy,
  DEFAULT_ALLOWED_MODULES,
  DEFAULT_POLICY_MAX_BYTES,
  policyRefusal,
  POLICY_CHECK_MARKER,
  type PolicyOptions,
  type PolicyResult,
} from './policy.js';
