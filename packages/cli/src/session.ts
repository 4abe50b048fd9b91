import { readFileSync } from 'node:fs';
import type { Settings } from './config';
import { CliError, EXIT } from './errors';
import { clientCredentials, discover, refresh, type TokenResponse } from './oidc';
import { TokenStore, type StoredLogin } from './tokens';

/** A token is renewed when it has less than this left. */
export const RENEW_BEFORE_MS = 60_000;

type Env = Record<string, string | undefined>;

/** The client secret from AOETL_CLIENT_SECRET or a file; never from a flag value. */
export function readClientSecret(secretFile: string | undefined, env: Env = process.env): string {
  if (secretFile) {
    let text: string;
    try {
      text = readFileSync(secretFile, 'utf8');
    } catch (err) {
      throw new CliError(`cannot read the secret file ${secretFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, EXIT.usage);
    }
    const secret = text.trim();
    if (!secret) throw new CliError(`the secret file ${secretFile} is empty`, EXIT.usage);
    return secret;
  }
  const secret = env.AOETL_CLIENT_SECRET;
  if (!secret) throw new CliError('no client secret: set AOETL_CLIENT_SECRET or pass --secret-file <file>', EXIT.usage);
  return secret;
}

export function toStored(base: Omit<StoredLogin, 'accessToken' | 'expiresAt' | 'refreshToken'>, token: TokenResponse, now = Date.now()): StoredLogin {
  return {
    ...base,
    accessToken: token.access_token,
    expiresAt: now + (token.expires_in ?? 300) * 1000,
    ...(token.refresh_token ? { refreshToken: token.refresh_token } : {}),
  };
}

/** The stored login of the profile, renewed (refresh token, or client credentials again) before it expires. */
export async function currentLogin(settings: Settings, store = new TokenStore(settings.configDir), env: Env = process.env, now = Date.now): Promise<StoredLogin> {
  const login = store.get(settings.profile);
  if (!login) {
    throw new CliError(`not logged in (profile ${settings.profile}); run: aoetl login --client-credentials, or aoetl login`, EXIT.auth);
  }
  if (login.expiresAt - now() > RENEW_BEFORE_MS) return login;
  const discovery = await discover(login.issuer);
  let renewed: StoredLogin | undefined;
  if (login.refreshToken) {
    renewed = toStored(login, await refresh(discovery, login.clientId, login.refreshToken, settings.resource), now());
  } else if (login.grant === 'client_credentials') {
    const canReadSecret = login.secretFile || (env.AOETL_CLIENT_SECRET && (env.AOETL_CLIENT_ID ?? login.clientId) === login.clientId);
    if (canReadSecret) {
      const secret = readClientSecret(login.secretFile, env);
      renewed = toStored(login, await clientCredentials(discovery, { id: login.clientId, secret }, settings), now());
    }
  }
  if (!renewed) throw new CliError(`the access token of profile ${settings.profile} expired; run: aoetl login`, EXIT.auth);
  store.put(settings.profile, renewed);
  return renewed;
}
