import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { ConfigError, NotFoundError } from '@aoetl/contracts';
import { Collector } from '@aoetl/testing';
import type { AuditRecord } from './audit';
import { DevFileSecretStore, generateDevSecretsKey, openDevSecrets, sealDevSecrets, type DevSecrets } from './dev-file';

const contents: DevSecrets = {
  kv: { 'secret/aoetl/api': { data: { apiKey: 'kv-secret-value-123' }, version: 3 } },
  database: { 'database/creds/source-reader': { username: 'dev_reader', password: 'dev-password-456' } },
};

function memoryLogger(): { logger: pino.Logger; lines: () => string } {
  const dest = new Collector();
  return { logger: pino({ level: 'info' }, dest), lines: () => dest.text() };
}

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function writeFile(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'aoetl-devsecrets-'));
  dirs.push(dir);
  const file = join(dir, 'secrets.enc.json');
  writeFileSync(file, text, { mode: 0o600 });
  return file;
}

describe('dev-file secrets provider', () => {
  const key = Buffer.from(generateDevSecretsKey(), 'base64');

  test('seals with AES-256-GCM: no plaintext in the file, and it opens again with the key', () => {
    const text = sealDevSecrets(contents, key);
    expect(text).not.toContain('dev-password-456');
    expect(text).not.toContain('kv-secret-value-123');
    expect(JSON.parse(text)).toMatchObject({ v: 1, alg: 'aes-256-gcm' });
    expect(openDevSecrets(text, key)).toEqual(contents);
  });

  test('a wrong key or a changed byte is refused', () => {
    const text = sealDevSecrets(contents, key);
    expect(() => openDevSecrets(text, Buffer.alloc(32, 7))).toThrow(/wrong key or tampered/);
    const env = JSON.parse(text) as { data: string };
    const data = Buffer.from(env.data, 'base64');
    data[0] = (data[0] ?? 0) ^ 1;
    expect(() => openDevSecrets(JSON.stringify({ ...env, data: data.toString('base64') }), key)).toThrow(/wrong key or tampered/);
    expect(() => sealDevSecrets(contents, Buffer.alloc(16))).toThrow(ConfigError);
  });

  test('refuses to start unless explicitly enabled', () => {
    const file = writeFile(sealDevSecrets(contents, key));
    const { logger } = memoryLogger();
    expect(() => new DevFileSecretStore({ file, key, enabled: false, logger })).toThrow(/development only and is disabled/);
  });

  test('when enabled: warns loudly, serves credentials and KV, audits without values, registers secrets', async () => {
    const file = writeFile(sealDevSecrets(contents, key));
    const { logger, lines } = memoryLogger();
    const seen: string[] = [];
    const audits: AuditRecord[] = [];
    const store = new DevFileSecretStore({ file, key, enabled: true, logger, onSecret: (v) => seen.push(v), onAudit: (r) => audits.push(r), actor: 'unit' });
    expect(lines()).toMatch(/"level":40.*DEVELOPMENT ONLY/);
    expect(seen).toEqual(expect.arrayContaining(['dev-password-456', 'kv-secret-value-123']));

    const cred = await store.databaseCredential('database/creds/source-reader', { runId: 'r1' });
    expect(cred).toMatchObject({ username: 'dev_reader', password: 'dev-password-456', renewable: false, leaseDurationSec: 0 });
    await store.revoke(cred.leaseId, { runId: 'r1' });
    const kv = await store.readKv('aoetl/api');
    expect(kv).toMatchObject({ version: 3, data: { apiKey: 'kv-secret-value-123' } });
    await expect(store.readKv('aoetl/none')).rejects.toThrow(NotFoundError);
    await expect(store.databaseCredential('database/creds/other', { runId: 'r1' })).rejects.toThrow(NotFoundError);

    expect(audits.map((a) => a.event)).toEqual(['credential.issued', 'credential.revoked', 'kv.read']);
    expect(audits[0]).toMatchObject({ actor: 'unit', path: 'database/creds/source-reader', runId: 'r1', leaseId: cred.leaseId, username: 'dev_reader' });
    const everything = JSON.stringify(audits) + lines() + readFileSync(file, 'utf8');
    expect(everything).not.toContain('dev-password-456');
    expect(everything).not.toContain('kv-secret-value-123');
  });
});
