import type Docker from 'dockerode';
import { DockerSandboxDriver } from './docker-driver.js';
import { SandboxConfigError, SandboxUsernsUnavailableError } from './errors.js';

/** An engine that answers `docker info` with these security options, has the image and no containers. */
function engine(securityOptions: string[]): Docker {
  return {
    info: async () => ({ Runtimes: { runc: {}, runsc: {} }, SecurityOptions: securityOptions }),
    getImage: () => ({ inspect: async () => ({}) }),
    listContainers: async () => [],
  } as unknown as Docker;
}

function logger() {
  const warnings: string[] = [];
  const log = { debug: () => undefined, info: () => undefined, warn: (_o: unknown, msg?: string) => void warnings.push(String(msg)), error: () => undefined };
  return { log, warnings };
}

describe('the Docker engine check: user-namespace remapping', () => {
  const base = { image: 'aoetl/sandbox-python:x', runtime: 'runsc' as const, reapIntervalMs: 0 };

  it('refuses an engine without userns-remap when AOETL_SANDBOX_REQUIRE_USERNS is set', async () => {
    const driver = new DockerSandboxDriver({ ...base, docker: engine(['name=seccomp,profile=default']), requireUserns: true, logger: logger().log });
    await expect(driver.init()).rejects.toBeInstanceOf(SandboxUsernsUnavailableError);
    await driver.close();
  });

  it('starts on a remapping engine when required, and only warns without the requirement', async () => {
    const remapped = new DockerSandboxDriver({ ...base, docker: engine(['name=seccomp,profile=default', 'name=userns']), requireUserns: true, logger: logger().log });
    await expect(remapped.init()).resolves.toBeUndefined();
    await remapped.close();
    const { log, warnings } = logger();
    const lenient = new DockerSandboxDriver({ ...base, docker: engine(['name=seccomp,profile=default']), logger: log });
    await expect(lenient.init()).resolves.toBeUndefined();
    expect(warnings.join('\n')).toMatch(/does not remap user namespaces/);
    await lenient.close();
  });

  it('refuses an init process under runc', () => {
    expect(() => new DockerSandboxDriver({ ...base, runtime: 'runc', allowRunc: true, init: true, docker: engine([]) })).toThrow(SandboxConfigError);
  });
});
