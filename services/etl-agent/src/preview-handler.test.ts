import { randomUUID } from 'node:crypto';
import pino from 'pino';
import { type PreviewRequested, PreviewResult, UpstreamError, isValid } from '@aoetl/contracts';
import { PREVIEW_REPLY_TTL_SECONDS, previewHandler } from './preview-handler.js';
import type { PreviewOutcome, PreviewRequest } from './sandbox-runner.js';

function request(): PreviewRequested {
  const previewId = randomUUID();
  return {
    v: 1,
    id: randomUUID(),
    type: 'preview.requested',
    requestId: 'req-p',
    at: new Date().toISOString(),
    payload: {
      previewId,
      tenant: 'acme',
      code: 'def transform(rows):\n    return rows\n',
      sha256: 'b'.repeat(64),
      columns: [{ name: 'email', type: 'text' }],
      rows: [['a@example.com'], [null]],
      replyTo: `aoetl:previews:reply:${previewId}`,
      limits: { timeoutMs: 10_000, memoryMb: 256, maxOutputBytes: 1 << 20 },
    },
  };
}

function harness(preview: (req: PreviewRequest) => Promise<PreviewOutcome>) {
  const replies: { stream: string; message: PreviewResult; ttl: number }[] = [];
  const handle = previewHandler({
    agentId: 'agent-1',
    logger: pino({ level: 'silent' }),
    preview,
    reply: async (stream, message, ttl) => void replies.push({ stream, message, ttl }),
  });
  return { handle, replies };
}

describe('previewHandler', () => {
  it('answers the output rows on the request\'s reply stream, which expires', async () => {
    const msg = request();
    const seen: PreviewRequest[] = [];
    const { handle, replies } = harness(async (req) => {
      seen.push(req);
      return { ok: true, columns: ['email'], rows: [['a@example.com'], [null]] };
    });
    await handle(msg);
    expect(seen).toEqual([msg.payload]);
    expect(replies).toHaveLength(1);
    const [reply] = replies;
    expect(reply).toMatchObject({ stream: msg.payload.replyTo, ttl: PREVIEW_REPLY_TTL_SECONDS });
    expect(isValid(PreviewResult, reply!.message)).toBe(true);
    expect(reply!.message).toMatchObject({
      type: 'preview.result',
      requestId: 'req-p',
      payload: { previewId: msg.payload.previewId, agentId: 'agent-1', ok: true, columns: ['email'], rows: [['a@example.com'], [null]] },
    });
  });

  it('answers the code\'s failure (policy, exception) as a result', async () => {
    const reason = { code: 'policy_refused' as const, message: 'the transform breaks the code policy: line 1: import: os', violation: true };
    const { handle, replies } = harness(async () => ({ ok: false, reason }));
    await handle(request());
    expect(replies[0]!.message.payload).toEqual({ previewId: expect.any(String), agentId: 'agent-1', ok: false, error: reason });
  });

  it('retries a retryable infrastructure failure once, then answers it classified (the gateway does not wait out its timeout)', async () => {
    let calls = 0;
    const { handle, replies } = harness(async () => {
      calls += 1;
      throw new UpstreamError('docker engine unreachable');
    });
    await handle(request());
    expect(calls).toBe(2);
    expect(replies).toHaveLength(1);
    expect(replies[0]!.message.payload).toMatchObject({ ok: false, error: { code: 'upstream', message: 'docker engine unreachable' } });
  });

  it('answers the second attempt when the first failed transiently; a non-retryable failure is not retried', async () => {
    let calls = 0;
    const flaky = harness(async () => {
      calls += 1;
      if (calls === 1) throw new UpstreamError('container did not start');
      return { ok: true, columns: ['email'], rows: [] };
    });
    await flaky.handle(request());
    expect(flaky.replies[0]!.message.payload).toMatchObject({ ok: true, columns: ['email'] });

    let bugs = 0;
    const broken = harness(async () => {
      bugs += 1;
      throw new TypeError('a bug');
    });
    await broken.handle(request());
    expect(bugs).toBe(1);
    expect(broken.replies[0]!.message.payload).toMatchObject({ ok: false, error: { code: 'internal' } });
  });

  it('throws when the reply cannot be written (the entry stays pending for a retry)', async () => {
    const handle = previewHandler({
      agentId: 'agent-1',
      logger: pino({ level: 'silent' }),
      preview: async () => ({ ok: true, columns: [], rows: [] }),
      reply: async () => {
        throw new Error('redis gone');
      },
    });
    await expect(handle(request())).rejects.toThrow('redis gone');
  });
});
