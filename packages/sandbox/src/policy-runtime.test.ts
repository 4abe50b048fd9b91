import { DockerSandboxDriver } from './docker-driver.js';
import { SandboxConfigError } from './errors.js';
import { assertRuntimeAllowed } from './policy-runtime.js';

const logger = () => {
  const warnings: string[] = [];
  const noop = () => undefined;
  return { warnings, log: { debug: noop, info: noop, error: noop, warn: (_o: object, msg?: string) => void warnings.push(msg ?? '') } };
};

describe('the sandbox runtime policy', () => {
  it('refuses runc unless it is allowed explicitly', () => {
    for (const allow of [undefined, false]) expect(() => assertRuntimeAllowed('runc', allow)).toThrow(SandboxConfigError);
    expect(() => new DockerSandboxDriver({ image: 'i', runtime: 'runc' })).toThrow(/runc .*is refused/);
  });

  it('allows runc with the flag, loudly', () => {
    const { warnings, log } = logger();
    expect(() => new DockerSandboxDriver({ image: 'i', runtime: 'runc', allowRunc: true, logger: log })).not.toThrow();
    expect(warnings).toEqual([expect.stringMatching(/runc ALLOWED.*development only/)]);
  });

  it('lets runsc through without a warning', () => {
    const { warnings, log } = logger();
    assertRuntimeAllowed('runsc', false, log);
    expect(() => new DockerSandboxDriver({ image: 'i', logger: log })).not.toThrow();
    expect(warnings).toEqual([]);
  });
});
