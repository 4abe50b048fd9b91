import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';

/** A signed-in person, as the session cookie carries it (encrypted and authenticated, never readable by the browser). */
export interface Session {
  /** Issuer and subject of the access token the login produced. */
  issuer: string;
  subject: string;
  tenant: string;
  roles: string[];
  /** The double-submit token every POST must send back in the `x-csrf-token` header. */
  csrf: string;
  /** Unix milliseconds after which the session is over (the person logs in again). */
  expiresAt: number;
}

/** A login in progress, between the redirect to the issuer and its callback (a short-lived cookie of its own). */
export interface PendingLogin {
  state: string;
  verifier: string;
  returnTo: string;
  expiresAt: number;
}

/** A cookie that does not decrypt or does not authenticate: forged, tampered with, or sealed under another key. */
export class TamperedCookieError extends Error {}

const VERSION = 'v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/**
 * Seals values into cookie strings with AES-256-GCM under a key derived (HKDF-SHA256) from the session secret;
 * the purpose (`session`, `login`) is bound as additional data, so one kind of cookie never passes for the other.
 * Every replica with the same secret reads every other replica's cookies.
 */
export class CookieSealer {
  private readonly key: Buffer;

  constructor(secret: string) {
    if (secret.length < 32) throw new RangeError('the session secret must be at least 32 characters long');
    this.key = Buffer.from(hkdfSync('sha256', secret, 'aoetl-monitor', 'dashboard cookies v1', 32));
  }

  seal(purpose: string, value: unknown): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from(`${VERSION}:${purpose}`));
    const body = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final()]);
    return `${VERSION}.${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url')}`;
  }

  /** The sealed value; TamperedCookieError when it was not sealed by this key for this purpose. */
  unseal(purpose: string, cookie: string): unknown {
    const [version, data, extra] = cookie.split('.');
    if (version !== VERSION || data === undefined || extra !== undefined) throw new TamperedCookieError('malformed cookie');
    const raw = Buffer.from(data, 'base64url');
    if (raw.length < IV_BYTES + TAG_BYTES + 2) throw new TamperedCookieError('cookie too short');
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, IV_BYTES));
      decipher.setAAD(Buffer.from(`${VERSION}:${purpose}`));
      decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
      const text = Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
      return JSON.parse(text) as unknown;
    } catch {
      throw new TamperedCookieError('cookie does not authenticate');
    }
  }
}

const isStringArray = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');

/** Checks the shape of an unsealed session (a sealed value of an older shape counts as tampered). */
export function asSession(value: unknown): Session {
  const s = value as Partial<Session> | null;
  if (
    typeof s !== 'object' || s === null ||
    typeof s.issuer !== 'string' || typeof s.subject !== 'string' || typeof s.tenant !== 'string' ||
    !isStringArray(s.roles) || typeof s.csrf !== 'string' || typeof s.expiresAt !== 'number'
  ) {
    throw new TamperedCookieError('session cookie has an unexpected shape');
  }
  return s as Session;
}

export function asPendingLogin(value: unknown): PendingLogin {
  const p = value as Partial<PendingLogin> | null;
  if (typeof p !== 'object' || p === null || typeof p.state !== 'string' || typeof p.verifier !== 'string' || typeof p.returnTo !== 'string' || typeof p.expiresAt !== 'number') {
    throw new TamperedCookieError('login cookie has an unexpected shape');
  }
  return p as PendingLogin;
}

export const randomToken = (bytes = 32): string => randomBytes(bytes).toString('base64url');

/** The PKCE S256 challenge of a verifier (RFC 7636). */
export const pkceChallenge = (verifier: string): string => createHash('sha256').update(verifier).digest('base64url');

/** Compares two tokens in constant time (by their hashes, so lengths leak nothing either). */
export function sameToken(a: string, b: string): boolean {
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());
}

/** Only a path on this site: no scheme, no host, no `//` (an open redirect otherwise). */
export function safeReturnPath(value: unknown): string {
  if (typeof value !== 'string' || !value.startsWith('/') || value.startsWith('//') || value.startsWith('/\\') || value.length > 500) return '/';
  return value;
}

export interface CookieOptions {
  secure: boolean;
  maxAgeSeconds: number;
  path?: string;
}

/** A Set-Cookie value: HttpOnly, SameSite=Lax (the issuer's redirect back is a top-level GET), Secure over TLS. */
export function setCookie(name: string, value: string, opts: CookieOptions): string {
  return [
    `${name}=${value}`,
    `Path=${opts.path ?? '/'}`,
    `Max-Age=${opts.maxAgeSeconds}`,
    'HttpOnly',
    'SameSite=Lax',
    ...(opts.secure ? ['Secure'] : []),
  ].join('; ');
}

export const clearCookie = (name: string, secure: boolean, path = '/'): string => setCookie(name, '', { secure, maxAgeSeconds: 0, path });

/** The named cookie from a Cookie header (the last one wins when a name repeats). */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  let found: string | undefined;
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) found = part.slice(i + 1).trim();
  }
  return found;
}
