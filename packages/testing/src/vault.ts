/** OpenBao (the Vault API) of the local stack, as its root token: fixtures such as throw-away mounts and roles. */
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { stackEnv } from './stack.js';

/** A request to OpenBao (root token by default); resolves to the JSON body (null for 204), rejects with the status. */
export function vaultRequest<T = any>(method: string, path: string, body?: unknown, token?: string): Promise<T> {
  const env = stackEnv('test');
  const endpoint = env.AOETL_VAULT_ADDR;
  const caFile = env.AOETL_VAULT_CACERT;
  const bearer = token ?? env.AOETL_VAULT_TOKEN;
  if (!endpoint || !caFile || !bearer) return Promise.reject(new Error('AOETL_VAULT_* missing from .state/env/test.env: OpenBao is not up (make up)'));
  return new Promise((resolve, reject) => {
    const url = new URL(`/v1/${path}`, endpoint);
    const req = request(url, { method, ca: readFileSync(caFile), headers: { 'X-Vault-Token': bearer, 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        if (status >= 200 && status < 300) resolve((text ? JSON.parse(text) : null) as T);
        else reject(new Error(`${method} ${path}: ${status} ${text.slice(0, 300)}`));
      });
    });
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}
