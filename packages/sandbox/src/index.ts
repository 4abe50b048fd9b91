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
export { buildContainerSpec, RUN_LABEL, SANDBOX_LABEL, SANDBOX_USER } from './container-spec.js';
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
  DockerSandboxDriver,
  reapOrphans,
  type DockerSandboxDriverOptions,
  type ReapOptions,
} from './docker-driver.js';
export { sandboxOptionsFromEnv } from './env.js';
