import { sandboxOptionsFromEnv } from './env.js';
import { SandboxConfigError } from './errors.js';

describe('sandboxOptionsFromEnv', () => {
  it('reads image, runtime and socket', () => {
    expect(
      sandboxOptionsFromEnv({
        AOETL_SANDBOX_IMAGE: 'aoetl/sandbox-python:0123456789ab',
        AOETL_SANDBOX_RUNTIME: 'runc',
        AOETL_SANDBOX_ALLOW_RUNC: 'true',
        AOETL_DOCKER_SOCKET: '/run/docker.sock',
      }),
    ).toEqual({ image: 'aoetl/sandbox-python:0123456789ab', runtime: 'runc', allowRunc: true, socketPath: '/run/docker.sock' });
  });

  it('refuses runc unless AOETL_SANDBOX_ALLOW_RUNC=true', () => {
    for (const allow of [undefined, '', 'false']) {
      expect(() => sandboxOptionsFromEnv({ AOETL_SANDBOX_IMAGE: 'img', AOETL_SANDBOX_RUNTIME: 'runc', AOETL_SANDBOX_ALLOW_RUNC: allow })).toThrow(
        /runc .*is refused.*AOETL_SANDBOX_ALLOW_RUNC=true/,
      );
    }
    expect(() => sandboxOptionsFromEnv({ AOETL_SANDBOX_IMAGE: 'img', AOETL_SANDBOX_RUNTIME: 'runc', AOETL_SANDBOX_ALLOW_RUNC: 'yes' })).toThrow(
      /must be true or false/,
    );
    expect(sandboxOptionsFromEnv({ AOETL_SANDBOX_IMAGE: 'img', AOETL_SANDBOX_ALLOW_RUNC: 'true' }).runtime).toBe('runsc');
  });

  it('defaults to runsc and the standard socket', () => {
    expect(sandboxOptionsFromEnv({ AOETL_SANDBOX_IMAGE: 'img' })).toEqual({
      image: 'img',
      runtime: 'runsc',
      socketPath: '/var/run/docker.sock',
    });
  });

  it('reads the warm pool size', () => {
    expect(sandboxOptionsFromEnv({ AOETL_SANDBOX_IMAGE: 'img', AOETL_SANDBOX_POOL_SIZE: '3' }).pool).toEqual({ size: 3 });
    expect(sandboxOptionsFromEnv({ AOETL_SANDBOX_IMAGE: 'img', AOETL_SANDBOX_POOL_SIZE: '' }).pool).toBeUndefined();
    expect(() => sandboxOptionsFromEnv({ AOETL_SANDBOX_IMAGE: 'img', AOETL_SANDBOX_POOL_SIZE: '-1' })).toThrow(SandboxConfigError);
    expect(() => sandboxOptionsFromEnv({ AOETL_SANDBOX_IMAGE: 'img', AOETL_SANDBOX_POOL_SIZE: 'two' })).toThrow(/integer/);
  });

  it('requires an image and a known runtime', () => {
    expect(() => sandboxOptionsFromEnv({})).toThrow(SandboxConfigError);
    expect(() => sandboxOptionsFromEnv({ AOETL_SANDBOX_IMAGE: 'img', AOETL_SANDBOX_RUNTIME: 'kata' })).toThrow(/runc, runsc/);
  });
});
