/** Base class of the errors this package throws (sandbox outcomes are results, not errors). */
export class SandboxError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The Docker engine does not offer the configured runtime (e.g. runsc not registered). */
export class SandboxRuntimeUnavailableError extends SandboxError {
  constructor(
    readonly runtime: string,
    readonly available: string[],
  ) {
    super(`docker runtime "${runtime}" is not available (engine offers: ${available.join(', ') || 'none'})`);
  }
}

/** The sandbox image is not present in the engine (no registry to pull it from). */
export class SandboxImageMissingError extends SandboxError {
  constructor(readonly image: string) {
    super(`sandbox image "${image}" is not present; build it with deploy/local/sandbox-image.sh start`);
  }
}

/** Invalid options or limits. */
export class SandboxConfigError extends SandboxError {}

/** The driver was closed. */
export class SandboxClosedError extends SandboxError {
  constructor() {
    super('sandbox driver is closed');
  }
}
