import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CliError, EXIT } from './errors';

/** What `aoetl login` keeps for one profile. Never a client secret: only where to find it again. */
export interface StoredLogin {
  grant: 'client_credentials' | 'device_code';
  issuer: string;
  apiUrl: string;
  clientId: string;
  accessToken: string;
  /** epoch milliseconds */
  expiresAt: number;
  refreshToken?: string;
  /** client credentials: the file the secret came from, to re-obtain a token without a new login */
  secretFile?: string;
}

interface CredentialsFile {
  profiles: Record<string, StoredLogin>;
}

export const CREDENTIALS_FILE = 'credentials.json';

/** The token file of a config dir; refuses a file that others can read or write. */
export class TokenStore {
  readonly file: string;
  constructor(readonly dir: string) {
    this.file = join(dir, CREDENTIALS_FILE);
  }

  private read(): CredentialsFile {
    if (!existsSync(this.file)) return { profiles: {} };
    const mode = statSync(this.file).mode & 0o777;
    if (mode & 0o077) {
      throw new CliError(
        `${this.file} has mode ${mode.toString(8).padStart(4, '0')}, readable by others; fix it with: chmod 600 ${this.file}`,
        EXIT.auth,
      );
    }
    try {
      const parsed = JSON.parse(readFileSync(this.file, 'utf8')) as CredentialsFile;
      return parsed && typeof parsed.profiles === 'object' ? parsed : { profiles: {} };
    } catch {
      throw new CliError(`${this.file} is not valid JSON; remove it and log in again (aoetl logout)`, EXIT.auth);
    }
  }

  private write(content: CredentialsFile): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const tmp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(content, null, 2)}\n`, { mode: 0o600 });
    chmodSync(tmp, 0o600);
    renameSync(tmp, this.file);
  }

  get(profile: string): StoredLogin | undefined {
    return this.read().profiles[profile];
  }

  put(profile: string, login: StoredLogin): void {
    const content = this.read();
    content.profiles[profile] = login;
    this.write(content);
  }

  /** Forgets a profile; returns whether it was there. Removes the file when no profile is left. */
  remove(profile: string): boolean {
    const content = this.read();
    if (!content.profiles[profile]) return false;
    delete content.profiles[profile];
    if (Object.keys(content.profiles).length === 0) unlinkSync(this.file);
    else this.write(content);
    return true;
  }
}

/** Claims of a JWT access token, without verifying it (the gateway does). */
export function jwtClaims(token: string): Record<string, unknown> {
  const payload = token.split('.')[1];
  if (!payload) throw new CliError('the stored access token is not a JWT; log in again', EXIT.auth);
  try {
    return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch {
    throw new CliError('the stored access token is not a JWT; log in again', EXIT.auth);
  }
}
