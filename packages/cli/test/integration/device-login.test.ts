/**
 * `aoetl login` with the device authorization flow, against the development issuer's own code
 * (deploy/local/oidc-issuer/provider.mjs) served over HTTP on a free port with a throwaway state dir,
 * so it does not need the stack's issuer to be restarted. The test plays the person: it opens the
 * verification page, confirms the code and logs in with fetch, while the real binary polls.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO } from '@aoetl/testing';

const BIN = join(REPO, 'packages/cli/dist/main.js');
const stateDir = mkdtempSync(join(tmpdir(), 'aoetl-issuer-'));
const config = mkdtempSync(join(tmpdir(), 'aoetl-cli-cfg-'));
let issuerProcess: ChildProcess;
let issuer: string;

const SERVE = `
import { createServer } from 'node:http';
import { createIssuer } from ${JSON.stringify(join(REPO, 'deploy/local/oidc-issuer/provider.mjs'))};
let handler;
const server = createServer((req, res) => handler(req, res));
server.listen(0, '127.0.0.1', () => {
  const base = 'http://127.0.0.1:' + server.address().port;
  handler = createIssuer({ issuer: base, stateDir: process.env.STATE }).handler;
  process.stdout.write(base + '\\n');
});
`;

beforeAll(async () => {
  issuerProcess = spawn(process.execPath, ['--input-type=module', '-e', SERVE], { env: { PATH: process.env.PATH ?? '', STATE: stateDir }, stdio: ['ignore', 'pipe', 'pipe'] });
  issuer = await new Promise<string>((resolve, reject) => {
    issuerProcess.stdout!.once('data', (d: Buffer) => resolve(d.toString().trim()));
    issuerProcess.once('exit', (code) => reject(new Error(`the issuer exited with ${code}`)));
  });
});
afterAll(() => {
  issuerProcess.kill('SIGTERM');
});

function browser() {
  const jar = new Map<string, string>();
  return async (url: string, form?: Record<string, string>): Promise<{ status: number; url: string; html: string }> => {
    let target = new URL(url, issuer);
    let init: RequestInit = form ? { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form) } : {};
    for (let hops = 0; hops < 10; hops++) {
      const cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
      const res = await fetch(target, { ...init, redirect: 'manual', headers: { ...(init.headers as Record<string, string>), ...(cookie ? { cookie } : {}) } });
      for (const c of res.headers.getSetCookie()) {
        const pair = c.split(';')[0]!;
        jar.set(pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1));
      }
      if (res.status < 300 || res.status >= 400) return { status: res.status, url: target.toString(), html: await res.text() };
      target = new URL(res.headers.get('location')!, target);
      init = {};
    }
    throw new Error('too many redirects');
  };
}
const field = (html: string, name: string) => new RegExp(`name="${name}" value="([^"]*)"`).exec(html)?.[1] ?? '';

it('aoetl login: shows the code, waits for the person, stores a refreshable token; whoami names the person', async () => {
  const cli = spawn(process.execPath, [BIN, 'login', '--issuer', issuer], {
    env: { PATH: process.env.PATH ?? '', HOME: config, XDG_CONFIG_HOME: config },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  cli.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => cli.once('exit', resolve));
  const shown = await new Promise<RegExpExecArray>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no code shown: ${stderr}`)), 15_000);
    cli.stderr.on('data', () => {
      const m = /open (\S+)\nand confirm the code (\S+)/.exec(stderr);
      if (m) {
        clearTimeout(timer);
        resolve(m);
      }
    });
  });
  const [, verificationUrl, userCode] = shown;
  expect(verificationUrl).toContain(`${issuer}/device`);

  const go = browser();
  const input = await go(verificationUrl!);
  const confirm = input.html.includes('confirm the code') ? input : await go(verificationUrl!, { xsrf: field(input.html, 'xsrf'), user_code: userCode! });
  expect(confirm.html).toContain(userCode!);
  const login = await go(verificationUrl!, { xsrf: field(confirm.html, 'xsrf'), user_code: field(confirm.html, 'user_code'), confirm: 'yes' });
  const action = /action="([^"]+\/login)"/.exec(login.html)?.[1];
  expect(action).toBeDefined();
  const password = readFileSync(join(stateDir, 'secrets', 'oidc-client-alice.secret'), 'utf8').trim();
  const done = await go(action!, { username: 'alice', password });
  expect(done.html).toContain('signed in');

  expect(await exited).toBe(0);
  expect(stderr).toContain('logged in as alice (tenant acme)');
  const whoami = spawnSync(process.execPath, [BIN, 'whoami', '-o', 'json'], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '', XDG_CONFIG_HOME: config } });
  expect(JSON.parse(whoami.stdout)).toMatchObject({ identity: 'alice', tenant: 'acme', roles: ['submit', 'read'] });

  // an expiring token is refreshed with the refresh token
  const file = join(config, 'aoetl', 'credentials.json');
  const stored = JSON.parse(readFileSync(file, 'utf8'));
  expect(stored.profiles.default.refreshToken).toBeTruthy();
  stored.profiles.default.expiresAt = Date.now();
  writeFileSync(file, JSON.stringify(stored), { mode: 0o600 });
  const again = spawnSync(process.execPath, [BIN, 'whoami', '-o', 'json'], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '', XDG_CONFIG_HOME: config } });
  expect(again.status).toBe(0);
  const renewed = JSON.parse(readFileSync(file, 'utf8')).profiles.default;
  expect(renewed.accessToken).not.toBe(stored.profiles.default.accessToken);
  expect(renewed.expiresAt).toBeGreaterThan(Date.now() + 60_000);
}, 60_000);
