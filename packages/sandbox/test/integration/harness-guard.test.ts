// The harness's second layer on its own, in the real sandbox under runc and gVisor (runsc): the static
// policy check is switched off (the driver runs the code directly, as if the check had accepted it), and
// the restricted builtins and the audit hook still stop `import os`, open, sockets and subprocess. The
// same escapes with the layer switched off (harnessGuard: false) succeed, so each probe is a real one.
import { DockerSandboxDriver, type SandboxResult, type SandboxRuntime } from '../../src/index.js';
import { Collector, stackEnv } from '@aoetl/testing';
import { emptyInput } from '../support/env.js';

jest.setTimeout(60_000);

const env = stackEnv('etl-agent');
const image = env.AOETL_SANDBOX_IMAGE!;
const socketPath = env.AOETL_DOCKER_SOCKET ?? '/var/run/docker.sock';
const py = (...lines: string[]): string => lines.join('\n') + '\n';

// Real builtins, reached around the restricted mapping by walking subclasses (the static policy refuses
// this; here it is off): what is left to stop the code is the audit hook alone.
const REAL_BUILTINS = py(
  'def real_builtins():',
  '    for c in ().__class__.__base__.__subclasses__():',
  '        try:',
  '            b = c.__init__.__globals__["__builtins__"]',
  '        except (AttributeError, KeyError):',
  '            continue',
  '        b = b if isinstance(b, dict) else b.__dict__',
  '        if "open" in b and b["__import__"].__module__ == "builtins":',
  '            return b',
);
const escape = (...body: string[]): string =>
  REAL_BUILTINS + py('def transform(rows):', '    b = real_builtins()', ...body.map((l) => '    ' + l), '    return [{"escaped": "yes"}]');
const direct = (...body: string[]): string => py(...body.slice(0, -1), 'def transform(rows):', '    ' + body.at(-1)!, '    return [{"escaped": "yes"}]');

/** [name, code, the error type, text of the message] */
const STOPPED: [string, string, string, string][] = [
  // restricted builtins
  ['import os', direct('import os', 'os.listdir("/")'), 'SandboxViolation', "import of 'os'"],
  ['import socket', direct('import socket', 'socket.socket()'), 'SandboxViolation', "import of 'socket'"],
  ['import subprocess', direct('import subprocess', 'subprocess.run(["id"])'), 'SandboxViolation', "import of 'subprocess'"],
  ['open', direct('open("/etc/passwd").read()'), 'NameError', "'open' is not defined"],
  ['getattr of a dunder', direct('getattr(rows, "__class__")'), 'SandboxViolation', '__class__'],
  ['get_type_hints on a runtime-assembled annotation', py(
    'import typing',
    'def f(x: "".join(["__imp", "ort__(\'os\').listdir(\'/\')"])):',
    '    pass',
    'def transform(rows):',
    '    return [{"escaped": str(typing.get_type_hints(f))}]',
  ), 'SandboxViolation', "'compile'"],
  // the audit hook, with the real builtins in hand
  ['os.listdir through the real __import__', escape('b["__import__"]("os").listdir("/")'), 'SandboxViolation', "'os.listdir'"],
  ['os.system through the real __import__', escape('b["__import__"]("os").system("id")'), 'SandboxViolation', "'os.system'"],
  ['the real open', escape('b["open"]("/etc/passwd").read()'), 'SandboxViolation', "'open'"],
  ['a socket through the real __import__', escape('b["__import__"]("socket").socket()'), 'SandboxViolation', "'import'"],
  ['subprocess through the real __import__', escape('b["__import__"]("subprocess").run(["id"])'), 'SandboxViolation', "'import'"],
  ['posix_spawn', escape('b["__import__"]("os").posix_spawn("/bin/true", ["true"], {})'), 'SandboxViolation', "'os.posix_spawn'"],
  ['the real exec', escape('b["exec"]("x = 1")'), 'SandboxViolation', "'compile'"],
];

function expectTransformError(result: SandboxResult): Extract<SandboxResult, { kind: 'transform_error' }> {
  if (result.kind !== 'transform_error') throw new Error(`expected transform_error, got ${JSON.stringify(result).slice(0, 1500)}`);
  return result;
}

describe.each<SandboxRuntime>(['runc', 'runsc'])('the harness guard without the static check, under %s', (runtime) => {
  let guarded: DockerSandboxDriver;
  let unguarded: DockerSandboxDriver;
  let n = 0;
  const run = async (driver: DockerSandboxDriver, code: string): Promise<{ result: SandboxResult; output: Collector }> => {
    const output = new Collector();
    const result = await driver.run({ runId: `guard-${runtime}-${process.pid}-${++n}`, code, columns: [], types: [], input: emptyInput(), output });
    return { result, output };
  };

  beforeAll(async () => {
    const options = { image, runtime, allowRunc: true, socketPath, reapIntervalMs: 0, limits: { timeoutMs: 30_000 } };
    [guarded, unguarded] = await Promise.all([DockerSandboxDriver.create(options), DockerSandboxDriver.create({ ...options, harnessGuard: false })]);
  });
  afterAll(() => Promise.all([guarded.close(), unguarded.close()]));

  it.each(STOPPED)('stops %s', async (_name, code, errorType, text) => {
    const { result, output } = await run(guarded, code);
    const error = expectTransformError(result);
    expect(error.errorType).toBe(errorType);
    expect(error.message).toContain(text);
    expect(output.text()).not.toContain('escaped');
  });

  it.each(STOPPED.filter(([name]) => !/getattr|get_type_hints|exec/.test(name)).map(([name, code]) => [name, code] as const))(
    'the same probe escapes the harness when its guard is off: %s',
    async (_name, code) => {
      const { result, output } = await run(unguarded, code);
      // Without the second layer, only the container is left: the call itself goes through (or fails on the
      // container's own walls with an OSError), never with a SandboxViolation.
      if (result.kind === 'transform_error') expect(result.errorType).not.toBe('SandboxViolation');
      else expect(output.lines()).toEqual(['yes']);
    },
  );

  it('still runs ordinary transforms that use the allowed modules', async () => {
    const { result, output } = await run(
      guarded,
      py(
        'import collections, datetime, json, typing',
        'from decimal import Decimal',
        'P = collections.namedtuple("P", "a b")',
        'def transform(rows):',
        '    d = datetime.datetime.strptime("2024-02-03", "%Y-%m-%d").date()',
        '    return [{"v": json.dumps([str(d), P(1, 2)._replace(b=3).b, str(Decimal("1.5") * 2)])}]',
      ),
    );
    expect(result.kind).toBe('ok');
    expect(output.lines()).toEqual(['["2024-02-03", 3, "3.0"]']);
  });
});
