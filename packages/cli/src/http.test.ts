import { EXIT } from './errors';
import { jsonOrThrow, unreachable } from './http';

describe('unreachable', () => {
  it('names the origin and the cause, and hints at the CA for TLS failures', () => {
    const refused = unreachable('http://127.0.0.1:9/v1/x?y=1', 'list pipelines', Object.assign(new Error('fetch failed'), { cause: { code: 'ECONNREFUSED' } }));
    expect(refused.message).toBe('list pipelines: cannot reach http://127.0.0.1:9 (ECONNREFUSED)');
    expect(refused.exitCode).toBe(EXIT.unreachable);
    const tls = unreachable('https://issuer:9400/x', 'OIDC discovery', Object.assign(new Error('fetch failed'), { cause: { code: 'SELF_SIGNED_CERT_IN_CHAIN' } }));
    expect(tls.message).toContain('point NODE_EXTRA_CA_CERTS at that CA file');
  });
});

describe('jsonOrThrow', () => {
  it('turns problem+json into one line with the field and the status into an exit code', async () => {
    const res = new Response(JSON.stringify({ type: 'about:blank', title: 'Bad Request', status: 400, detail: 'invalid body', errors: [{ field: 'body/name', message: 'must match' }] }), { status: 400 });
    await expect(jsonOrThrow(res, 'create pipeline')).rejects.toMatchObject({ message: 'create pipeline: invalid body (field body/name: must match)', exitCode: EXIT.usage });
  });
  it('a non-JSON error body is cut and shown', async () => {
    await expect(jsonOrThrow(new Response('<html>bad gateway</html>', { status: 502 }), 'get run')).rejects.toMatchObject({ message: 'get run: <html>bad gateway</html>', exitCode: EXIT.server });
  });
  it('returns the JSON of a 2xx', async () => {
    await expect(jsonOrThrow(new Response('{"a":1}', { status: 200 }), 'x')).resolves.toEqual({ a: 1 });
  });
});
