/**
 * The real `aoetl` binary (packages/cli/dist/main.js, built by `pnpm run build`) as a subprocess against the
 * live local stack: the gateway on 127.0.0.1:8080 and the local OIDC issuer.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO, STATE } from '@aoetl/testing';

const BIN = join(REPO, 'packages/cli/dist/main.js');
const CA = join(STATE, 'certs/ca.crt');
const secretFile = (identity: string) => join(STATE, 'secrets', `oidc-client-${identity}.secret`);
const suffix = Math.random().toString(16).slice(2, 10);

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function aoetl(args: string[], opts: { config: string; env?: Record<string, string>; timeout?: number }): Result {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    encoding: 'utf8',
    timeout: opts.timeout ?? 60_000,
    env: { PATH: process.env.PATH ?? '', HOME: opts.config, XDG_CONFIG_HOME: opts.config, NODE_EXTRA_CA_CERTS: CA, ...opts.env },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** stderr has exactly one line (and no stack trace). */
function oneLine(stderr: string): string {
  const lines = stderr.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  expect(stderr).not.toMatch(/^\s+at /m);
  return lines[0]!;
}

function pipelineDir(name: string, transform: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'aoetl-cli-it-'));
  writeFileSync(join(dir, 'transform.py'), transform);
  const yaml = readFileSync(join(REPO, 'examples/customers.pipeline.yaml'), 'utf8')
    .replace(/^name: .*$/m, `name: ${name}`)
    .replace('file: customers_transform.py', 'file: transform.py');
  writeFileSync(join(dir, 'pipeline.yaml'), yaml);
  return dir;
}

let config: string;

beforeAll(() => {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run pnpm run build first`);
  config = mkdtempSync(join(tmpdir(), 'aoetl-cli-cfg-'));
  const r = aoetl(['login', '--client-credentials', '--secret-file', secretFile('alice')], { config, env: { AOETL_CLIENT_ID: 'alice' } });
  expect(r.stderr).toContain('logged in as alice (tenant acme)');
  expect(r.code).toBe(0);
});

describe('login', () => {
  it('keeps the tokens in the config dir with mode 0600 and whoami reads the claims', () => {
    const file = join(config, 'aoetl', 'credentials.json');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8')).not.toContain(readFileSync(secretFile('alice'), 'utf8').trim());
    const r = aoetl(['whoami', '--output', 'json'], { config });
    expect(r.code).toBe(0);
    const me = JSON.parse(r.stdout);
    expect(me).toMatchObject({ identity: 'alice', tenant: 'acme' });
    expect(me.roles).toEqual(expect.arrayContaining(['submit', 'read']));
  });

  it('takes the secret from AOETL_CLIENT_SECRET too', () => {
    const other = mkdtempSync(join(tmpdir(), 'aoetl-cli-cfg-'));
    const secret = readFileSync(secretFile('bob'), 'utf8').trim();
    const r = aoetl(['login', '--client-credentials'], { config: other, env: { AOETL_CLIENT_ID: 'bob', AOETL_CLIENT_SECRET: secret } });
    expect(r.code).toBe(0);
    expect(JSON.parse(aoetl(['whoami', '-o', 'json'], { config: other }).stdout).roles).toContain('approve');
  });

  it('wrong credentials: exit 3 and one line with the issuer error', () => {
    const other = mkdtempSync(join(tmpdir(), 'aoetl-cli-cfg-'));
    const wrong = join(other, 'wrong.secret');
    writeFileSync(wrong, 'not-the-secret', { mode: 0o600 });
    const r = aoetl(['login', '--client-credentials', '--secret-file', wrong], { config: other, env: { AOETL_CLIENT_ID: 'alice' } });
    expect(r.code).toBe(3);
    expect(oneLine(r.stderr)).toMatch(/^aoetl: login as alice failed: invalid_client/);
  });

  it('refuses a token file others can read, saying how to fix it', () => {
    const other = mkdtempSync(join(tmpdir(), 'aoetl-cli-cfg-'));
    aoetl(['login', '--client-credentials', '--secret-file', secretFile('alice')], { config: other, env: { AOETL_CLIENT_ID: 'alice' } });
    const file = join(other, 'aoetl', 'credentials.json');
    chmodSync(file, 0o644);
    const r = aoetl(['whoami'], { config: other });
    expect(r.code).toBe(3);
    expect(oneLine(r.stderr)).toBe(`aoetl: ${file} has mode 0644, readable by others; fix it with: chmod 600 ${file}`);
  });

  it('re-obtains an expired client-credentials token from the secret file; a token the gateway refuses is one line', () => {
    const other = mkdtempSync(join(tmpdir(), 'aoetl-cli-cfg-'));
    aoetl(['login', '--client-credentials', '--secret-file', secretFile('alice')], { config: other, env: { AOETL_CLIENT_ID: 'alice' } });
    const file = join(other, 'aoetl', 'credentials.json');
    const stored = JSON.parse(readFileSync(file, 'utf8'));
    const before = stored.profiles.default.accessToken;
    stored.profiles.default.expiresAt = Date.now() - 1000;
    writeFileSync(file, JSON.stringify(stored), { mode: 0o600 });
    expect(aoetl(['connections', 'get', 'warehouse', '-o', 'json'], { config: other }).code).toBe(0);
    const renewed = JSON.parse(readFileSync(file, 'utf8')).profiles.default;
    expect(renewed.accessToken).not.toBe(before);
    expect(renewed.expiresAt).toBeGreaterThan(Date.now());

    renewed.accessToken = `${before.split('.')[0]}.${before.split('.')[1]}.invalid-signature`;
    writeFileSync(file, JSON.stringify({ profiles: { default: renewed } }), { mode: 0o600 });
    const r = aoetl(['connections', 'list'], { config: other });
    expect(r.code).toBe(3);
    expect(oneLine(r.stderr)).toMatch(/^aoetl: list connections: /);
  });

  it('an expired token without a way to renew it says to log in again', () => {
    const other = mkdtempSync(join(tmpdir(), 'aoetl-cli-cfg-'));
    aoetl(['login', '--client-credentials', '--secret-file', secretFile('alice')], { config: other, env: { AOETL_CLIENT_ID: 'alice' } });
    const file = join(other, 'aoetl', 'credentials.json');
    const stored = JSON.parse(readFileSync(file, 'utf8'));
    delete stored.profiles.default.secretFile;
    stored.profiles.default.expiresAt = Date.now() - 1000;
    writeFileSync(file, JSON.stringify(stored), { mode: 0o600 });
    const r = aoetl(['pipelines', 'list'], { config: other });
    expect(r.code).toBe(3);
    expect(oneLine(r.stderr)).toBe('aoetl: the access token of profile default expired; run: aoetl login');
  });

  it('logout forgets the profile', () => {
    const other = mkdtempSync(join(tmpdir(), 'aoetl-cli-cfg-'));
    aoetl(['login', '--client-credentials', '--secret-file', secretFile('alice')], { config: other, env: { AOETL_CLIENT_ID: 'alice' } });
    expect(aoetl(['logout'], { config: other }).code).toBe(0);
    const r = aoetl(['whoami'], { config: other });
    expect(r.code).toBe(3);
    expect(oneLine(r.stderr)).toMatch(/^aoetl: not logged in \(profile default\)/);
  });
});

describe('pipelines and runs', () => {
  const name = `cli-demo-${suffix}`;
  let pipelineId: string;

  it('creates a pipeline from a YAML file; --output json parses', () => {
    const dir = pipelineDir(name, readFileSync(join(REPO, 'examples/customers_transform.py'), 'utf8'));
    const r = aoetl(['pipelines', 'create', '-f', join(dir, 'pipeline.yaml'), '--output', 'json'], { config });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const p = JSON.parse(r.stdout);
    expect(p).toMatchObject({ name, version: 1, spec: { source: { table: 'crm.customers' } } });
    expect(p.spec.transform.code).toContain('def transform(rows)');
    pipelineId = p.id;
    const again = aoetl(['pipelines', 'create', '-f', join(dir, 'pipeline.yaml')], { config });
    expect(again.code).toBe(6);
    expect(oneLine(again.stderr)).toMatch(new RegExp(`^aoetl: create pipeline ${name}: `));
    const table = aoetl(['pipelines', 'get', name], { config });
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(new RegExp(`^id\\s+${pipelineId}$`, 'm'));
  });

  it('runs start --wait --output json: exit 0 and the final run record on stdout', () => {
    const r = aoetl(['runs', 'start', name, '--wait', '--output', 'json'], { config, timeout: 240_000 });
    expect(r.code).toBe(0);
    const run = JSON.parse(r.stdout);
    expect(run).toMatchObject({ pipelineId, status: 'succeeded' });
    expect(run.rowsOut).toBeGreaterThan(0);
    expect(r.stderr).toMatch(new RegExp(`run ${run.id}: succeeded \\(chunks ${run.chunks}/${run.chunks}, rows ${run.rowsOut}, `));
  }, 250_000);

  it('draws a progress bar on a terminal that finishes at 100%', () => {
    const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
    const command = [process.execPath, BIN, 'runs', 'start', pipelineId, '--wait'].map(shellQuote).join(' ');
    const r = spawnSync('script', ['-q', '-e', '-c', command, '/dev/null'], {
      encoding: 'utf8',
      timeout: 240_000,
      env: { PATH: process.env.PATH ?? '', HOME: config, XDG_CONFIG_HOME: config, NODE_EXTRA_CA_CERTS: CA, TERM: 'xterm', COLUMNS: '120' },
    });
    expect(r.status).toBe(0);
    const frames = r.stdout.split(new RegExp(`\r|${String.fromCharCode(27)}\\[1G`)).filter((f) => f.includes('| chunks '));
    expect(frames.length).toBeGreaterThan(0);
    const last = frames[frames.length - 1]!;
    const m = /\| 100% \| chunks (\d+)\/(\d+) \| rows (\d+)/.exec(last);
    expect(m).not.toBeNull();
    expect(m![1]).toBe(m![2]);
    expect(Number(m![3])).toBeGreaterThan(0);
    expect(r.stdout).toContain('succeeded');
  }, 250_000);

  it('a failing transform: non-zero exit and the reason on stderr', () => {
    const failing = `cli-fail-${suffix}`;
    const dir = pipelineDir(failing, 'def transform(rows):\n    raise ValueError("cli-boom")\n');
    expect(aoetl(['pipelines', 'create', '-f', join(dir, 'pipeline.yaml')], { config }).code).toBe(0);
    const r = aoetl(['runs', 'start', failing, '--wait', '-o', 'json'], { config, timeout: 240_000 });
    expect(r.code).toBe(10);
    const run = JSON.parse(r.stdout);
    expect(run.status).toBe('failed');
    expect(r.stderr).toContain(`aoetl: run ${run.id} failed: `);
    expect(r.stderr).toContain('cli-boom');
  }, 250_000);

  it('versions and diff after apply writes a second version', () => {
    const dir = pipelineDir(name, 'def transform(rows):\n    return [r for r in rows if r.get("email")]\n');
    const applied = aoetl(['pipelines', 'apply', '-f', join(dir, 'pipeline.yaml'), '-o', 'json'], { config });
    expect(applied.code).toBe(0);
    expect(JSON.parse(applied.stdout).version).toBe(2);
    const versions = JSON.parse(aoetl(['pipelines', 'versions', name, '-o', 'json'], { config }).stdout);
    expect(versions.map((v: { version: number }) => v.version)).toEqual([2, 1]);
    const diff = aoetl(['pipelines', 'diff', name, '1', '2'], { config });
    expect(diff.code).toBe(0);
    expect(diff.stdout).toContain('# spec\n(no change)\n# code\n');
    expect(diff.stdout).toContain('+    return [r for r in rows if r.get("email")]\n');
  });

  it('unknown pipeline: exit 5 and one line', () => {
    const r = aoetl(['runs', 'start', `no-such-${suffix}`], { config });
    expect(r.code).toBe(5);
    expect(oneLine(r.stderr)).toBe(`aoetl: pipeline "no-such-${suffix}" not found (no pipeline with that id or name in your tenant)`);
  });

  it('a problem+json from the gateway names the field', () => {
    const r = aoetl(['runs', 'get', '00000000-0000-4000-8000-000000000000'], { config });
    expect(r.code).toBe(5);
    expect(oneLine(r.stderr)).toMatch(/^aoetl: get run 00000000-0000-4000-8000-000000000000: /);
  });
});

describe('bad input and faults', () => {
  it('invalid YAML: exit 2 and one line naming the line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'aoetl-cli-it-'));
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'name: broken\nsource:\n  connection: crm-source\n  table: crm.customers: x\n');
    const r = aoetl(['pipelines', 'create', '-f', file], { config });
    expect(r.code).toBe(2);
    expect(oneLine(r.stderr)).toMatch(new RegExp(`^aoetl: ${file}:4:\\d+: invalid YAML: `));
  });

  it('a spec that fails the schema: exit 2, the line and the field, nothing sent', () => {
    const dir = pipelineDir(`cli-bad-${suffix}`, 'def transform(rows):\n    return rows\n');
    const file = join(dir, 'pipeline.yaml');
    writeFileSync(file, readFileSync(file, 'utf8').replace('mode: merge', 'mode: upsert'));
    const r = aoetl(['pipelines', 'create', '-f', file], { config });
    expect(r.code).toBe(2);
    const line = oneLine(r.stderr);
    const mode = readFileSync(file, 'utf8').split('\n').findIndex((l) => l.includes('mode: upsert')) + 1;
    expect(line).toMatch(new RegExp(`^aoetl: ${file}:${mode}:3: /target/mode `));
    expect(aoetl(['pipelines', 'get', `cli-bad-${suffix}`], { config }).code).toBe(5);
  });

  it('gateway unreachable: exit 7, the URL named, no stack trace', () => {
    const r = aoetl(['--api-url', 'http://127.0.0.1:59998', 'pipelines', 'list'], { config });
    expect(r.code).toBe(7);
    expect(oneLine(r.stderr)).toBe('aoetl: list pipelines: cannot reach http://127.0.0.1:59998 (ECONNREFUSED)');
  });

  it('AOETL_API_URL overrides the default, a profile keeps the API URL it logged in with, --help shows an example', () => {
    const r = aoetl(['pipelines', 'list'], { config, env: { AOETL_API_URL: 'http://127.0.0.1:59997' } });
    expect(r.stderr).toContain('http://127.0.0.1:59997');
    const other = mkdtempSync(join(tmpdir(), 'aoetl-cli-cfg-'));
    const login = ['--api-url', 'http://127.0.0.1:59996', 'login', '--client-credentials', '--secret-file', secretFile('alice')];
    expect(aoetl(login, { config: other, env: { AOETL_CLIENT_ID: 'alice' } }).code).toBe(0);
    expect(oneLine(aoetl(['pipelines', 'list'], { config: other }).stderr)).toContain('cannot reach http://127.0.0.1:59996');
    const help = aoetl(['runs', 'start', '--help'], { config });
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('$ aoetl runs start demo-customers --wait --output json');
  });
});

describe('approvals, audit, transform preview', () => {
  it('audit verify succeeds for the tenant (admin) and audit list parses', () => {
    const admin = mkdtempSync(join(tmpdir(), 'aoetl-cli-cfg-'));
    expect(aoetl(['login', '--client-credentials', '--secret-file', secretFile('admin')], { config: admin, env: { AOETL_CLIENT_ID: 'admin' } }).code).toBe(0);
    const denied = aoetl(['audit', 'verify'], { config });
    expect(denied.code).toBe(4);
    expect(oneLine(denied.stderr)).toMatch(/^aoetl: verify the audit ledger: /);
    const v = aoetl(['audit', 'verify', '-o', 'json'], { config: admin });
    expect(v.code).toBe(0);
    expect(JSON.parse(v.stdout).ok).toBe(true);
    const list = JSON.parse(aoetl(['audit', 'list', '--limit', '3', '-o', 'json'], { config: admin }).stdout);
    expect(list).toHaveLength(3);
  });

  it('approvals list --output yaml', () => {
    const r = aoetl(['approvals', 'list', '--state', 'all', '-o', 'yaml'], { config });
    expect(r.code).toBe(0);
    expect(r.stdout.length).toBeGreaterThan(0);
  });

  it('transform preview runs the code on the sample and prints the rows', () => {
    const dir = mkdtempSync(join(tmpdir(), 'aoetl-cli-it-'));
    writeFileSync(join(dir, 'rows.jsonl'), '{"id": 1, "email": " A@X.COM "}\n{"id": 2, "email": null}\n');
    copyFileSync(join(REPO, 'examples/customers_transform.py'), join(dir, 't.py'));
    writeFileSync(join(dir, 't.py'), 'def transform(rows):\n    return [{"id": r["id"], "email": r["email"].strip().lower()} for r in rows if r["email"]]\n');
    const r = aoetl(['transform', 'preview', '--code-file', join(dir, 't.py'), '--sample', join(dir, 'rows.jsonl'), '-o', 'json'], { config, timeout: 120_000 });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const result = JSON.parse(r.stdout);
    // The preview answers each value in its text form, as the sandbox wrote it (COPY text), whatever its column type.
    expect(result.rows).toEqual([{ id: '1', email: 'a@x.com' }]);
    expect(result.sha256).toMatch(/^[0-9a-f]{64}$/);
  }, 130_000);
});
