import { UnauthorizedError } from '@aoetl/contracts';

/** The authenticated caller, derived from a verified access token. */
export interface Principal {
  /** `iss` claim. */
  issuer: string;
  /** `sub` claim. */
  subject: string;
  /** Globally unique caller id: `${issuer}|${subject}`. */
  id: string;
  /** `tenant` claim (required). */
  tenant: string;
  /** `roles` claim (array of strings; empty when absent). */
  roles: string[];
  /** `scope` claim split on spaces (empty when absent). */
  scopes: string[];
}

/** A verified token whose claims do not make a principal (missing tenant, malformed roles…). */
export class InvalidClaimsError extends UnauthorizedError {}

function nonEmptyString(value: unknown, claim: string): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 1024) {
    throw new InvalidClaimsError(`claim ${claim} must be a non-empty string`);
  }
  return value;
}

/** Builds the principal from a verified payload; throws InvalidClaimsError on missing or malformed claims. */
export function principalFromClaims(claims: Record<string, unknown>): Principal {
  const issuer = nonEmptyString(claims.iss, 'iss');
  const subject = nonEmptyString(claims.sub, 'sub');
  const tenant = nonEmptyString(claims.tenant, 'tenant');

  let roles: string[] = [];
  if (claims.roles !== undefined) {
    if (!Array.isArray(claims.roles) || !claims.roles.every((role) => typeof role === 'string')) {
      throw new InvalidClaimsError('claim roles must be an array of strings');
    }
    roles = [...new Set(claims.roles)];
  }

  let scopes: string[] = [];
  if (claims.scope !== undefined) {
    if (typeof claims.scope !== 'string') throw new InvalidClaimsError('claim scope must be a string');
    scopes = [...new Set(claims.scope.split(' ').filter((scope) => scope.length > 0))];
  }

  return { issuer, subject, id: `${issuer}|${subject}`, tenant, roles, scopes };
}
