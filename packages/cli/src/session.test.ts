import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveSettings } from './config';
import { currentLogin, readClientSecret, RENEW_BEFORE_MS, toStored } from './session';
import { TokenStore } from './tokens';

describe('readClientSecret', () => {
  it('reads a file (trimmed), else AOETL_CLIENT_SECRET, else says how to give one', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'aoetl-')), 's');
    writeFileSync(file, ' s3cret\n');
    expect(readClientSecret(file, {})).toBe('s3cret');
    expect(readClientSecret(undefined, { AOETL_CLIENT_SECRET: 'env' })).toBe('env');
    expect(() => readClientSecret(undefined, {})).toThrow('no client secret: set AOETL_CLIENT_SECRET or pass --secret-file <file>');
    expect(() => readClientSecret('/nonexistent', {})).toThrow('cannot read the secret file /nonexistent: ENOENT');
  });
});

describe('currentLogin', () => {
  const dir = mkdtempSync(join(tmpdir(), 'aoetl-'));
  const settings = resolveSettings({}, { AOETL_CONFIG_DIR: dir });
  const store = new TokenStore(dir);
  const base = { grant: 'device_code' as const, issuer: 'http://127.0.0.1:1', apiUrl: 'http://api', clientId: 'aoetl-cli' };

  it('says to log in when there is no login for the profile', async () => {
    await expect(currentLogin(settings, store, {})).rejects.toThrow('not logged in (profile default)');
  });
  it('uses a token that is still good for more than a minute without asking anyone', async () => {
    store.put('default', toStored(base, { access_token: 'a.b.c', expires_in: 600 }, 0));
    await expect(currentLogin(settings, store, {}, () => 600_000 - RENEW_BEFORE_MS - 1)).resolves.toMatchObject({ accessToken: 'a.b.c' });
  });
  it('renews a token about to expire (here: the issuer is unreachable, and the message names it)', async () => {
    await expect(currentLogin(settings, store, {}, () => 600_000 - RENEW_BEFORE_MS + 1)).rejects.toThrow('OIDC discovery: cannot reach http://127.0.0.1:1');
  });
});
