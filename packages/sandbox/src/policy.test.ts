import { createHash } from 'node:crypto';
import { checkPolicy, escapeCopyText } from './policy.js';
import type { SandboxDriver, SandboxRunRequest } from './types.js';

/** A driver that must not be reached. */
const unreachable: SandboxDriver = {
  run: () => Promise.reject(new Error('the sandbox was called')),
  close: () => Promise.resolve(),
};

describe('checkPolicy before the sandbox', () => {
  it('refuses code over the size limit without starting a sandbox', async () => {
    const result = await checkPolicy(unreachable, 'x'.repeat(101), { maxBytes: 100 });
    expect(result).toEqual({ ok: false, reasons: [{ rule: 'size', line: 0, message: 'the code is 101 bytes; the limit is 100' }] });
  });

  it('counts the size in UTF-8 bytes', async () => {
    const result = await checkPolicy(unreachable, 'é'.repeat(60), { maxBytes: 100 });
    expect(result.ok).toBe(false);
  });

  it('refuses NUL characters and unpaired surrogates (they would not reach Python as sent)', async () => {
    expect(await checkPolicy(unreachable, 'def transform(rows):\n    return "\0"')).toMatchObject({ ok: false, reasons: [{ rule: 'syntax', line: 2 }] });
    expect(await checkPolicy(unreachable, 'x = "\uD800"')).toMatchObject({ ok: false, reasons: [{ rule: 'syntax', line: 1 }] });
  });
});

describe('checkPolicy verdicts', () => {
  /** A driver that answers like the checker would, with a given digest. */
  function answering(rows: (code: string) => string[]): SandboxDriver & { requests: SandboxRunRequest[] } {
    const requests: SandboxRunRequest[] = [];
    return {
      requests,
      close: () => Promise.resolve(),
      run: async (req) => {
        requests.push(req);
        let input = '';
        for await (const chunk of req.input) input += String(chunk);
        const code = input.split('\t')[1]!.replace(/\n$/, '').replace(/\\(.)/g, (_m, c: string) => ({ n: '\n', t: '\t', r: '\r' })[c] ?? c);
        req.output.write(rows(code).join('\n') + '\n');
        return { kind: 'ok', containerId: 'c', durationMs: 1, bytesOut: 1, outputColumns: ['idx', 'rule', 'line', 'message'] };
      },
    };
  }
  const sha = (code: string) => createHash('sha256').update(code).digest('hex');

  it('refuses when the checker saw other code than was sent', async () => {
    const driver = answering(() => ['0\t#sha256\t0\t' + '0'.repeat(64)]);
    expect(await checkPolicy(driver, 'def transform(rows):\n\treturn rows\n')).toMatchObject({ ok: false, reasons: [{ rule: 'check_failed' }] });
  });

  it('accepts when the checker found nothing, and reports its findings otherwise', async () => {
    const code = 'def transform(rows):\n\treturn rows  # \\ tab\there\n';
    const ok = answering((c) => [`0\t#sha256\t0\t${sha(c)}`]);
    expect(await checkPolicy(ok, code)).toEqual({ ok: true });
    expect(ok.requests[0]).toMatchObject({ columns: ['idx', 'code'], outputColumns: ['idx', 'rule', 'line', 'message'] });
    const refused = answering((c) => [`0\t#sha256\t0\t${sha(c)}`, '0\timport\t1\timport of \'os\'\\tis not allowed']);
    const events: unknown[] = [];
    expect(await checkPolicy(refused, code, { onEvent: (e) => events.push(e) })).toEqual({
      ok: false,
      reasons: [{ rule: 'import', line: 1, message: "import of 'os'\tis not allowed" }],
    });
    expect(events).toMatchObject([{ type: 'sandbox.result', code: 'policy_refused', violation: true }]);
  });

  it('fails closed when the check run does not finish', async () => {
    const driver: SandboxDriver = {
      close: () => Promise.resolve(),
      run: async () => ({ kind: 'timeout', timeoutMs: 30_000, containerId: 'c', durationMs: 30_000, bytesOut: 0 }),
    };
    expect(await checkPolicy(driver, 'def transform(rows):\n    return rows\n')).toMatchObject({
      ok: false,
      reasons: [{ rule: 'check_failed', message: expect.stringContaining('timeout') }],
    });
  });
});

describe('escapeCopyText', () => {
  it('escapes backslash, newline, carriage return and tab', () => {
    expect(escapeCopyText('a\\b\nc\rd\te')).toBe('a\\\\b\\nc\\rd\\te');
  });
});
