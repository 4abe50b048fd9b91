import { SandboxConfigError } from './errors.js';
import { DEFAULT_DOCKER_SOCKET, type DockerSandboxDriverOptions } from './docker-driver.js';
import { ALLOW_RUNC_ENV, assertRuntimeAllowed } from './policy-runtime.js';
import type { SandboxRuntime } from './types.js';

const RUNTIMES: readonly SandboxRuntime[] = ['runc', 'runsc'];

/**
 * Driver options from AOETL_SANDBOX_IMAGE, AOETL_SANDBOX_RUNTIME (runc|runsc; runc only with
 * AOETL_SANDBOX_ALLOW_RUNC=true), AOETL_DOCKER_SOCKET and, when set, AOETL_SANDBOX_POOL_SIZE (warm
 * containers, 0 = none).
 */
export function sandboxOptionsFromEnv(
  env: Record<string, string | undefined> = process.env,
): Pick<DockerSandboxDriverOptions, 'image' | 'runtime' | 'allowRunc' | 'socketPath' | 'pool'> {
  const image = env.AOETL_SANDBOX_IMAGE?.trim();
  if (!image) throw new SandboxConfigError('AOETL_SANDBOX_IMAGE is not set');
  const runtime = (env.AOETL_SANDBOX_RUNTIME?.trim() || 'runsc') as SandboxRuntime;
  if (!RUNTIMES.includes(runtime)) {
    throw new SandboxConfigError(`AOETL_SANDBOX_RUNTIME must be one of ${RUNTIMES.join(', ')}, got "${runtime}"`);
  }
  const allowRunc = env[ALLOW_RUNC_ENV]?.trim();
  if (allowRunc !== undefined && allowRunc !== '' && allowRunc !== 'true' && allowRunc !== 'false') {
    throw new SandboxConfigError(`${ALLOW_RUNC_ENV} must be true or false, got "${allowRunc}"`);
  }
  assertRuntimeAllowed(runtime, allowRunc === 'true');
  const socketPath = env.AOETL_DOCKER_SOCKET?.trim() || DEFAULT_DOCKER_SOCKET;
  const options: ReturnType<typeof sandboxOptionsFromEnv> = { image, runtime, socketPath };
  if (runtime === 'runc') options.allowRunc = true;
  const poolSize = env.AOETL_SANDBOX_POOL_SIZE?.trim();
  if (poolSize) {
    if (!/^\d+$/.test(poolSize) || Number(poolSize) > 64) {
      throw new SandboxConfigError(`AOETL_SANDBOX_POOL_SIZE must be an integer from 0 to 64, got "${poolSize}"`);
    }
    options.pool = { size: Number(poolSize) };
  }
  return options;
}
