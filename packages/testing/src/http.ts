/** HTTP against the running services: the gateway's API, Prometheus metrics, polling until something happens. */
import { get } from 'node:https';
import { clientHeaders, type Client } from './gateway-routes.js';
import { API } from './stack.js';

export interface ApiResponse<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

/** One call to the running gateway; the body is parsed JSON (null when empty). */
export async function api<T = any>(
  method: string,
  path: string,
  opts: { token?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<ApiResponse<T>> {
  const res = await fetch(`${API}${path}`, {
    method,
    headers: {
      ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
      ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...opts.headers,
    },
    body: opts.body !== undefined ? JSON.stringify(opts.body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : null) as T, headers: res.headers };
}

/** The running gateway as a route-catalog `Client` (the in-process tests supply one over `inject`). */
export function liveClient(base = API): Client {
  return async (method, url, opts = {}) => {
    const res = await fetch(`${base}${url}`, {
      method,
      headers: clientHeaders(opts),
      ...(opts.body === undefined ? {} : { body: JSON.stringify(opts.body) }),
    });
    const text = await res.text();
    return { status: res.status, headers: Object.fromEntries(res.headers), text, json: () => JSON.parse(text) };
  };
}

/** GET a JSON document over HTTPS trusting only `ca`. */
export function httpsJson(url: string, ca: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    get(url, { ca }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => {
        try {
          resolve(JSON.parse(body));
        } catch (err) {
          reject(err instanceof Error ? err : new Error(String(err)));
        }
      });
    }).on('error', reject);
  });
}

/** Polls `fn` every `everyMs` until it returns something other than undefined; fails naming `what` after `timeoutMs`. */
export async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs: number, everyMs = 500): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Polls a run until it is succeeded, failed or cancelled; resolves to the run record. */
export async function waitForRun(runId: string, bearer: string, timeoutMs = 240_000): Promise<any> {
  return waitFor(
    `run ${runId} to finish`,
    async () => {
      const r = await api('GET', `/v1/runs/${runId}`, { token: bearer });
      return r.body && ['succeeded', 'failed', 'cancelled'].includes(r.body.status) ? r.body : undefined;
    },
    timeoutMs,
  );
}

/** Sum of a Prometheus metric's samples whose labels include `labels`. */
export async function metricValue(url: string, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await (await fetch(url)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const lbl = m[2] ?? '';
    if (Object.entries(labels).every(([k, v]) => lbl.includes(`${k}="${v}"`))) sum += Number(m[3]);
  }
  return sum;
}
