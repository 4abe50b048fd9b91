import { ConfigError } from '@aoetl/contracts';
import { parseTenantScope, scopeViolations } from './tenant-scope.js';

const conn = (vaultRole: string, host = 'db.acme.internal', port = 5432) => ({ vaultRole, host, port });

describe('tenant scope of connections', () => {
  const scope = parseTenantScope('database/creds/{tenant}-*', 'acme=db.acme.internal|10.0.0.7:5433;globex=db.globex.internal');

  test('a role under the tenant\'s own prefix and a listed host pass', () => {
    expect(scopeViolations(scope, 'acme', conn('database/creds/acme-reader'))).toEqual([]);
    expect(scopeViolations(scope, 'acme', conn('database/creds/acme-reader', '10.0.0.7', 5433))).toEqual([]);
  });

  test('another tenant\'s role, a shared role or a path escaping the prefix is refused, naming the field', () => {
    for (const role of ['database/creds/globex-reader', 'database/creds/source-reader', 'database/creds/acme-x/../globex-reader', 'database/creds/acme']) {
      expect(scopeViolations(scope, 'acme', conn(role))).toEqual([{ field: 'vaultRole', message: expect.stringContaining('database/creds/acme-*') }]);
    }
  });

  test('a host not on the tenant\'s list (another tenant\'s, another port, an unlisted tenant) is refused', () => {
    expect(scopeViolations(scope, 'acme', conn('database/creds/acme-r', 'db.globex.internal'))[0]?.field).toBe('host');
    expect(scopeViolations(scope, 'acme', conn('database/creds/acme-r', '10.0.0.7', 5432))[0]?.field).toBe('host');
    expect(scopeViolations(scope, 'initech', conn('database/creds/initech-r')).map((v) => v.field)).toEqual(['host']);
  });

  test('no settings: no restriction; bad settings are refused at start', () => {
    expect(scopeViolations(parseTenantScope('', ''), 'acme', conn('database/creds/anything', 'anywhere'))).toEqual([]);
    expect(() => parseTenantScope('database/creds/{tenant} *', '')).toThrow(ConfigError);
    expect(() => parseTenantScope('', 'acme')).toThrow(ConfigError);
  });

  test('`none`: the host allow-list is on and lists nobody (the chart default before tenants are listed)', () => {
    const none = parseTenantScope('', 'none');
    expect(none.hosts).toEqual(new Map());
    expect(scopeViolations(none, 'acme', conn('database/creds/acme-r', '127.0.0.1')).map((v) => v.field)).toEqual(['host']);
  });

  test('exact role templates: tenant acme does not reach tenant acme-corp\'s roles', () => {
    const exact = parseTenantScope('database/creds/{tenant}-source-reader,database/creds/{tenant}-warehouse-writer', '');
    expect(scopeViolations(exact, 'acme', conn('database/creds/acme-source-reader'))).toEqual([]);
    expect(scopeViolations(exact, 'acme', conn('database/creds/acme-corp-source-reader')).map((v) => v.field)).toEqual(['vaultRole']);
  });
});
