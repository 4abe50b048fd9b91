import type { Settings } from './config';
import { jsonOrThrow, send } from './http';
import { currentLogin } from './session';

export interface RequestOptions {
  body?: unknown;
  query?: Record<string, string | number | undefined>;
  headers?: Record<string, string>;
}

/** The gateway's public v1 API with the profile's bearer token. */
export class Api {
  constructor(readonly settings: Settings) {}

  url(path: string, query: RequestOptions['query'] = {}): string {
    const url = new URL(`${this.settings.apiUrl}${path}`);
    for (const [k, v] of Object.entries(query)) if (v !== undefined) url.searchParams.set(k, String(v));
    return url.toString();
  }

  async headers(extra: Record<string, string> = {}): Promise<Record<string, string>> {
    const login = await currentLogin(this.settings);
    return { authorization: `Bearer ${login.accessToken}`, accept: 'application/json', ...extra };
  }

  async raw(method: string, path: string, what: string, opts: RequestOptions = {}): Promise<Response> {
    const headers = await this.headers({ ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}), ...opts.headers });
    return send(this.url(path, opts.query), { method, headers, body: opts.body !== undefined ? JSON.stringify(opts.body) : undefined }, what);
  }

  async call<T>(method: string, path: string, what: string, opts: RequestOptions = {}): Promise<T> {
    return jsonOrThrow<T>(await this.raw(method, path, what, opts), what);
  }
}
