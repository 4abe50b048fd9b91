import { SandboxConfigError } from './errors.js';
import { DEFAULT_DOCKER_SOCKET, type DockerSandboxDriverOptions } from './docker-driver.js';
import type { SandboxRuntime } from './types.js';

const RUNTIMES: readonly SandboxRuntime[] = ['runc', 'runsc'];

/** Driver options from AOETL_SANDBOX_IMAGE, AOETL_SANDBOX_RUNTIME (runc|runsc) and AOETL_DOCKER_SOCKET. */
export function sandboxOptionsFromEnv(
  env: Record<string, string | undefined> = process.env,
): Pick<DockerSandboxDriverOptions, 'image' | 'runtime' | 'socketPath'> {
  const image = env.AOETL_SANDBOX_IMAGE?.trim();
  if (!image) throw new SandboxConfigError('AOETL_SANDBOX_IMAGE is not set');
  const runtime = (env.AOETL_SANDBOX_RUNTIME?.trim() || 'runsc') as SandboxRuntime;
  if (!RUNTIMES.includes(runtime)) {
    throw new SandboxConfigError(`AOETL_SANDBOX_RUNTIME must be one of ${RUNTIMES.join(', ')}, got "${runtime}"`);
  }
  const socketPath = env.AOETL_DOCKER_SOCKET?.trim() || DEFAULT_DOCKER_SOCKET;
  return { image, runtime, socketPath };
}
