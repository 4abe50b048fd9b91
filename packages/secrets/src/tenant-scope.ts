import { ConfigError } from '@aoetl/contracts';

/**
 * What connections a tenant may use: the Vault role paths (templates, `{tenant}` replaced by the tenant, a trailing
 * `*` matching any rest) and, per tenant, the database hosts (`host` or `host:port`). Checked when a connection is
 * registered (gateway) and again when a task uses it (etl-agent, against the task's tenant), so a connection that
 * names another tenant's role or an unlisted host is refused at both ends.
 */
export interface TenantScope {
  /** Empty: any role (no scope configured). */
  vaultRoles: readonly string[];
  /** null: any host (no allow-list configured); a tenant missing from the map may use no host. */
  hosts: ReadonlyMap<string, readonly string[]> | null;
}

export interface ScopedConnection {
  vaultRole: string;
  host: string;
  port: number;
}

export type ScopeViolation = { field: 'vaultRole' | 'host'; message: string };

const TEMPLATE = /^[A-Za-z0-9_/{}.-]+\*?$/;
const HOST = /^[A-Za-z0-9_.:[\]-]+$/;

/**
 * `vaultRoles`: comma-separated templates, e.g. `database/creds/{tenant}-*`. `hosts`: `tenant=host[:port]|host…`
 * entries separated by `;`, e.g. `acme=db1.internal:5432|10.0.0.7;globex=db2.internal`. Empty: no restriction;
 * `none`: the allow-list is on and lists nobody (no tenant may use any host until one is listed).
 */
export function parseTenantScope(vaultRoles: string, hosts: string): TenantScope {
  const roles = vaultRoles.split(',').map((s) => s.trim()).filter((s) => s !== '');
  for (const r of roles) {
    if (!TEMPLATE.test(r)) throw new ConfigError(`tenant Vault role template '${r}' is invalid (path characters, {tenant}, a trailing *)`);
  }
  let byTenant: Map<string, string[]> | null = hosts.trim() === 'none' ? new Map() : null;
  for (const entry of (byTenant ? '' : hosts).split(';').map((s) => s.trim()).filter((s) => s !== '')) {
    const i = entry.indexOf('=');
    const tenant = entry.slice(0, i).trim();
    const list = entry.slice(i + 1).split('|').map((s) => s.trim()).filter((s) => s !== '');
    if (i <= 0 || list.some((h) => !HOST.test(h))) throw new ConfigError(`tenant host allow-list entry '${entry}' is invalid (tenant=host[:port]|host…)`);
    byTenant ??= new Map();
    byTenant.set(tenant, list);
  }
  return { vaultRoles: roles, hosts: byTenant };
}

const roleMatches = (template: string, tenant: string, role: string) => {
  const expected = template.replaceAll('{tenant}', tenant);
  return expected.endsWith('*') ? role.startsWith(expected.slice(0, -1)) && !role.slice(expected.length - 1).includes('/') : role === expected;
};

/** Why the tenant may not use this connection (each rule broken, by field), or an empty list. */
export function scopeViolations(scope: TenantScope, tenant: string, conn: ScopedConnection): ScopeViolation[] {
  const violations: ScopeViolation[] = [];
  if (scope.vaultRoles.length > 0 && !scope.vaultRoles.some((t) => roleMatches(t, tenant, conn.vaultRole))) {
    const allowed = scope.vaultRoles.map((t) => t.replaceAll('{tenant}', tenant)).join(', ');
    violations.push({ field: 'vaultRole', message: `Vault role '${conn.vaultRole}' is outside tenant '${tenant}'s scope (${allowed})` });
  }
  if (scope.hosts !== null) {
    const allowed = scope.hosts.get(tenant) ?? [];
    const host = conn.host.toLowerCase();
    if (!allowed.some((h) => h.toLowerCase() === host || h.toLowerCase() === `${host}:${conn.port}`)) {
      violations.push({ field: 'host', message: `database host '${conn.host}:${conn.port}' is not on tenant '${tenant}'s allow-list` });
    }
  }
  return violations;
}
