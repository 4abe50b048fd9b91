import { AoetlError, ConfigError } from '@aoetl/contracts';

/**
 * The sandbox could not run a transform (engine, pod or stream failure). Retryable unless a subclass says
 * otherwise: a new attempt gets a new container or pod. (Sandbox outcomes — the transform raised, ran out of
 * time or memory — are results, not errors.)
 */
export class SandboxError extends AoetlError {
  readonly code = 'sandbox' as const;
  readonly retryable: boolean = true;
}

/** The Docker engine does not offer the configured runtime (e.g. runsc not registered). Not retryable. */
export class SandboxRuntimeUnavailableError extends SandboxError {
  override readonly retryable = false;
  constructor(
    readonly runtime: string,
    readonly available: string[],
  ) {
    super(`docker runtime "${runtime}" is not available (engine offers: ${available.join(', ') || 'none'})`);
  }
}

/** The sandbox image is not present in the engine (no registry to pull it from). Not retryable. */
export class SandboxImageMissingError extends SandboxError {
  override readonly retryable = false;
  constructor(readonly image: string) {
    super(`sandbox image "${image}" is not present; build it with deploy/local/sandbox-image.sh start`);
  }
}

/** The engine does not remap user namespaces (daemon `userns-remap`) and the configuration requires it. Not retryable. */
export class SandboxUsernsUnavailableError extends SandboxError {
  override readonly retryable = false;
  constructor() {
    super('the docker engine does not remap user namespaces (daemon option userns-remap) and AOETL_SANDBOX_REQUIRE_USERNS=true');
  }
}

/** Invalid options or limits. */
export class SandboxConfigError extends ConfigError {}

/** The driver was closed (the agent is shutting down). Not retryable in this process. */
export class SandboxClosedError extends SandboxError {
  override readonly retryable = false;
  constructor() {
    super('sandbox driver is closed');
  }
}
