import { SandboxConfigError } from './errors.js';
import type { SandboxLogger, SandboxRuntime } from './types.js';

/** Environment variable that allows the runc runtime (development only). */
export const ALLOW_RUNC_ENV = 'AOETL_SANDBOX_ALLOW_RUNC';

/**
 * The runtime policy: gVisor (runsc) is the boundary in production. runc shares the host kernel with
 * user code, so it is refused unless explicitly allowed (AOETL_SANDBOX_ALLOW_RUNC=true, development and
 * tests only), and then every driver start says so loudly.
 */
export function assertRuntimeAllowed(runtime: SandboxRuntime, allowRunc: boolean | undefined, logger?: SandboxLogger): void {
  if (runtime !== 'runc') return;
  if (allowRunc !== true) {
    throw new SandboxConfigError(
      `the sandbox runtime runc (AOETL_SANDBOX_RUNTIME=runc) runs user code on the host kernel and is refused; ` +
        `use runsc (gVisor), or set ${ALLOW_RUNC_ENV}=true for development only`,
    );
  }
  logger?.warn(
    { runtime, devOnly: true },
    `!!! SANDBOX RUNTIME runc ALLOWED BY ${ALLOW_RUNC_ENV}=true: user code shares the host kernel; development only, never in production !!!`,
  );
}
