import { CliError, EXIT, exitCodeForStatus, problemLine, type Problem } from './errors';

/** fetch that turns a connection failure into one line naming the URL. */
export async function send(url: string, init: RequestInit, what: string): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (err) {
    throw unreachable(url, what, err);
  }
}

export function unreachable(url: string, what: string, err: unknown): CliError {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  const reason = cause?.code ?? cause?.message ?? (err as Error).message;
  const origin = safeOrigin(url);
  const tls = /CERT|SIGNATURE|SELF_SIGNED|UNABLE_TO_GET_ISSUER/.test(String(reason)) ? '; if it uses a private CA, point NODE_EXTRA_CA_CERTS at that CA file' : '';
  return new CliError(`${what}: cannot reach ${origin} (${reason})${tls}`, EXIT.unreachable);
}

function safeOrigin(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return url;
  }
}

/** Reads a JSON body; a non-2xx status becomes a CliError with the problem+json detail and field. */
export async function jsonOrThrow<T>(res: Response, what: string): Promise<T> {
  const text = await res.text();
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  if (!res.ok) {
    const problem = body && typeof body === 'object' ? (body as Problem) : { detail: text.slice(0, 200) || undefined };
    throw new CliError(problemLine(what, res.status, problem), exitCodeForStatus(res.status));
  }
  if (body === undefined && text) throw new CliError(`${what}: the server sent a body that is not JSON`, EXIT.server);
  return body as T;
}
