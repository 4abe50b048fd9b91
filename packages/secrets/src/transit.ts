import { InputError } from '@aoetl/contracts';
import type { AuditEvent, AuditRecord } from './audit.js';
import type { CredentialContext, Transit } from './secret-store.js';

/** What the transit adapter borrows from its store: authenticated calls with retries, and audit. */
export interface TransitDeps {
  call<T>(what: string, method: 'GET' | 'POST', path: string, body?: unknown): Promise<T>;
  audited<T>(
    event: AuditEvent,
    fields: { path: string; ctx?: CredentialContext | undefined },
    fn: (record: Partial<AuditRecord>) => Promise<T>,
  ): Promise<T>;
}

const KEY = /^[A-Za-z0-9][A-Za-z0-9_-]{0,100}$/;
const b64 = (data: Buffer | string) => (typeof data === 'string' ? Buffer.from(data, 'utf8') : data).toString('base64');

/** Vault's Transit engine: encrypt, decrypt, sign, verify. Keys never leave Vault; every use is audited. */
export class VaultTransit implements Transit {
  constructor(
    private readonly mount: string,
    private readonly deps: TransitDeps,
  ) {}

  async encrypt(key: string, plaintext: Buffer | string, ctx?: CredentialContext): Promise<string> {
    const path = this.path('encrypt', key);
    return this.deps.audited('transit.encrypt', { path, ctx }, async () => {
      const res = await this.deps.call<{ data?: { ciphertext?: string } }>(`transit encrypt ${key}`, 'POST', path, { plaintext: b64(plaintext) });
      if (!res.data?.ciphertext) throw new InputError(`${path} returned no ciphertext`);
      return res.data.ciphertext;
    });
  }

  async decrypt(key: string, ciphertext: string, ctx?: CredentialContext): Promise<Buffer> {
    const path = this.path('decrypt', key);
    return this.deps.audited('transit.decrypt', { path, ctx }, async () => {
      const res = await this.deps.call<{ data?: { plaintext?: string } }>(`transit decrypt ${key}`, 'POST', path, { ciphertext });
      if (typeof res.data?.plaintext !== 'string') throw new InputError(`${path} returned no plaintext`);
      return Buffer.from(res.data.plaintext, 'base64');
    });
  }

  async sign(key: string, data: Buffer | string, ctx?: CredentialContext): Promise<string> {
    const path = this.path('sign', key);
    return this.deps.audited('transit.sign', { path, ctx }, async () => {
      const res = await this.deps.call<{ data?: { signature?: string } }>(`transit sign ${key}`, 'POST', path, { input: b64(data) });
      if (!res.data?.signature) throw new InputError(`${path} returned no signature`);
      return res.data.signature;
    });
  }

  async verify(key: string, data: Buffer | string, signature: string, ctx?: CredentialContext): Promise<boolean> {
    const path = this.path('verify', key);
    return this.deps.audited('transit.verify', { path, ctx }, async () => {
      const res = await this.deps.call<{ data?: { valid?: boolean } }>(`transit verify ${key}`, 'POST', path, {
        input: b64(data),
        signature,
      });
      return res.data?.valid === true;
    });
  }

  private path(op: string, key: string): string {
    if (!KEY.test(key)) throw new InputError(`not a transit key name: ${key}`);
    return `${this.mount}/${op}/${key}`;
  }
}
