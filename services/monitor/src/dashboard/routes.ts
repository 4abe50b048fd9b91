import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { STREAM_ID_PATTERN, type DeadLetterStore, type StreamStats } from '@aoetl/bus';
import { STREAMS } from '@aoetl/contracts';
import { GROUP_STREAMS } from '../stream-metrics.js';
import type { AgentsView } from './agents.js';
import type { RunFeed } from './live.js';
import type { OidcLogin } from './oidc.js';
import { agentsPage, layout, messagePage, modelsPage, outage, overviewPage, runPage, runsPage, streamsPage, violationsPage, type StreamsView, type Viewer } from './pages.js';
import type { DashboardReads, RunFilter, RunRow, TenantScope } from './read-model.js';
import {
  asPendingLogin,
  asSession,
  clearCookie,
  CookieSealer,
  pkceChallenge,
  randomToken,
  readCookie,
  safeReturnPath,
  sameToken,
  setCookie,
  TamperedCookieError,
  type Session,
} from './session.js';

export const SESSION_COOKIE = 'aoetl_session';
export const LOGIN_COOKIE = 'aoetl_login';
const LOGIN_TTL_SECONDS = 600;
const CALLBACK_PATH = '/auth/callback';

export interface DashboardOptions {
  /** The dashboard's public base URL (`https://monitor.example`): the redirect URI and whether cookies are Secure. */
  baseUrl: string;
  sessionSecret: string;
  sessionTtlSeconds: number;
  login: Pick<OidcLogin, 'authorizationUrl' | 'principalFromCode'>;
  reads: DashboardReads;
  feed: RunFeed;
  agents: Pick<AgentsView, 'list' | 'error'>;
  streams: StreamStats & Pick<DeadLetterStore, 'list' | 'count' | 'replay'>;
  /** Directory of dashboard.js and dashboard.css. */
  publicDir: string;
  /** The chart library's files (uPlot), served from this process: no CDN. */
  chartJs: string;
  chartCss: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    dashboardSession: Session | null;
  }
  interface FastifyContextConfig {
    /** Dashboard routes a person may open without a session (login, callback, assets). */
    public?: boolean;
  }
}

const PAGE_HEADERS = {
  'content-security-policy': "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

const isApi = (request: FastifyRequest): boolean => request.url.startsWith('/api/');

function problem(reply: FastifyReply, status: number, code: string, detail: string) {
  return reply
    .code(status)
    .headers(PAGE_HEADERS)
    .type('application/problem+json')
    .send({ type: 'about:blank', title: code.replace(/_/g, ' '), status, code, detail });
}

const scopeOf = (s: Session): TenantScope => (s.roles.includes('sre') ? null : s.tenant);
const viewerOf = (s: Session): Viewer => ({ name: s.subject, tenant: s.tenant, sre: s.roles.includes('sre'), csrf: s.csrf });

function runFilter(q: Record<string, unknown>): RunFilter {
  const text = (k: string) => (typeof q[k] === 'string' && (q[k]).length <= 100 ? (q[k]) : undefined);
  return { status: text('status'), tenant: text('tenant'), q: text('q') };
}

/** A run for the live view: what the runs table shows, nothing more. */
const liveRun = (r: RunRow) => ({ id: r.id, tenant: r.tenant, pipeline: r.pipeline, status: r.status, rowsOut: r.rowsOut, durationSeconds: r.durationSeconds, createdAt: r.createdAt, error: r.error });

/**
 * The dashboard for people: login through the OIDC issuer (authorization code + PKCE), an encrypted session cookie,
 * CSRF-checked POSTs, and the pages. Register it in its own context (it installs hooks for all of its routes).
 */
export async function dashboardRoutes(app: FastifyInstance, opts: DashboardOptions): Promise<void> {
  const sealer = new CookieSealer(opts.sessionSecret);
  const base = new URL(opts.baseUrl);
  const secure = base.protocol === 'https:';
  const redirectUri = new URL(CALLBACK_PATH, base).toString();
  const assets = new Map<string, { type: string; body: Buffer }>([
    ['uPlot.iife.min.js', { type: 'text/javascript; charset=utf-8', body: readFileSync(opts.chartJs) }],
    ['uPlot.min.css', { type: 'text/css; charset=utf-8', body: readFileSync(opts.chartCss) }],
    ['dashboard.js', { type: 'text/javascript; charset=utf-8', body: readFileSync(join(opts.publicDir, 'dashboard.js')) }],
    ['dashboard.css', { type: 'text/css; charset=utf-8', body: readFileSync(join(opts.publicDir, 'dashboard.css')) }],
  ]);

  app.decorateRequest('dashboardSession', null);
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 4096 }, (_req, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });

  const toLogin = (request: FastifyRequest, reply: FastifyReply) =>
    reply.redirect(`/login?returnTo=${encodeURIComponent(safeReturnPath(request.url))}`, 302);

  // Every route but the public ones needs a live session; POSTs also need the CSRF token and a same-origin Origin.
  app.addHook('onRequest', async (request, reply) => {
    if (request.routeOptions.config?.public === true) return;
    const cookie = readCookie(request.headers.cookie, SESSION_COOKIE);
    if (cookie === undefined) return isApi(request) ? problem(reply, 401, 'unauthorized', 'log in first') : toLogin(request, reply);
    let session: Session;
    try {
      session = asSession(sealer.unseal('session', cookie));
    } catch (err) {
      if (!(err instanceof TamperedCookieError)) throw err;
      request.log.warn({ reason: err.message, path: request.routeOptions.url }, 'dashboard session cookie rejected');
      reply.header('set-cookie', clearCookie(SESSION_COOKIE, secure));
      if (isApi(request)) return problem(reply, 401, 'unauthorized', 'the session cookie is not valid');
      return reply.code(401).headers(PAGE_HEADERS).type('text/html; charset=utf-8').send(messagePage('Not signed in', 'Your session cookie is not valid.', { href: '/login', label: 'Log in again' }));
    }
    if (session.expiresAt <= Date.now()) {
      reply.header('set-cookie', clearCookie(SESSION_COOKIE, secure));
      return isApi(request) ? problem(reply, 401, 'session_expired', 'the session has expired; log in again') : toLogin(request, reply);
    }
    request.dashboardSession = session;
  });
  app.addHook('preHandler', async (request, reply) => {
    if (request.method !== 'POST' || request.routeOptions.config?.public === true) return;
    const session = request.dashboardSession!;
    const origin = request.headers.origin;
    if (origin !== undefined && origin !== base.origin) return problem(reply, 403, 'csrf', 'cross-origin request refused');
    const header = request.headers['x-csrf-token'];
    const field = (request.body as Record<string, unknown> | undefined)?.csrf;
    const given = typeof header === 'string' ? header : typeof field === 'string' ? field : '';
    if (!given || !sameToken(given, session.csrf)) return problem(reply, 403, 'csrf', 'missing or wrong CSRF token');
  });

  const html = (reply: FastifyReply, body: string, status = 200) => reply.code(status).headers(PAGE_HEADERS).type('text/html; charset=utf-8').send(body);
  const page = (request: FastifyRequest, reply: FastifyReply, path: string, title: string, body: string) =>
    html(reply, layout(viewerOf(request.dashboardSession!), path, title, body));
  const sreOnly = (request: FastifyRequest, reply: FastifyReply): boolean => {
    if (request.dashboardSession!.roles.includes('sre')) return true;
    if (isApi(request)) void problem(reply, 403, 'not_allowed', 'only the platform SREs see this');
    else void html(reply, messagePage('Not allowed', 'Only the platform SREs see this page.', { href: '/', label: 'Back to the overview' }), 403);
    return false;
  };
  /** Runs `read`; on failure names the dependency in `problems` and gives `fallback`. */
  async function guarded<T>(problems: string[], what: string, fallback: T, read: () => Promise<T>): Promise<T> {
    try {
      return await read();
    } catch (err) {
      problems.push(`${what}: ${(err as Error).message}`);
      return fallback;
    }
  }
  const DB = 'the control database (PostgreSQL) is unreachable';
  const REDIS = 'the streams (Redis) are unreachable';

  // --- login ---
  app.get('/login', { config: { public: true } }, async (request, reply) => {
    const pending = { state: randomToken(), verifier: randomToken(48), returnTo: safeReturnPath((request.query as Record<string, unknown>).returnTo), expiresAt: Date.now() + LOGIN_TTL_SECONDS * 1000 };
    let target: string;
    try {
      target = await opts.login.authorizationUrl({ redirectUri, state: pending.state, challenge: pkceChallenge(pending.verifier) });
    } catch (err) {
      request.log.error({ err }, 'dashboard login: the issuer is unreachable');
      return html(reply, messagePage('Login unavailable', `The identity provider cannot be reached: ${(err as Error).message}`, { href: '/login', label: 'Try again' }), 503);
    }
    reply.header('set-cookie', setCookie(LOGIN_COOKIE, sealer.seal('login', pending), { secure, maxAgeSeconds: LOGIN_TTL_SECONDS, path: CALLBACK_PATH }));
    return reply.headers({ 'cache-control': 'no-store' }).redirect(target, 302);
  });

  app.get(CALLBACK_PATH, { config: { public: true } }, async (request, reply) => {
    const q = request.query as Record<string, unknown>;
    const again = { href: '/login', label: 'Log in again' };
    reply.header('set-cookie', clearCookie(LOGIN_COOKIE, secure, CALLBACK_PATH));
    const cookie = readCookie(request.headers.cookie, LOGIN_COOKIE);
    let pending;
    try {
      pending = cookie === undefined ? undefined : asPendingLogin(sealer.unseal('login', cookie));
    } catch {
      pending = undefined;
    }
    if (!pending || pending.expiresAt <= Date.now()) return html(reply, messagePage('Login expired', 'This login was not started here or took too long.', again), 400);
    if (typeof q.state !== 'string' || !sameToken(q.state, pending.state)) return html(reply, messagePage('Login refused', 'The login answer does not match the login this browser started.', again), 400);
    if (typeof q.error === 'string') return html(reply, messagePage('Login refused', `The identity provider said: ${q.error.slice(0, 200)}`, again), 401);
    if (typeof q.code !== 'string' || q.code.length > 2000) return html(reply, messagePage('Login refused', 'The identity provider sent no code.', again), 400);
    try {
      const principal = await opts.login.principalFromCode({ code: q.code, verifier: pending.verifier, redirectUri });
      const session: Session = {
        issuer: principal.issuer,
        subject: principal.subject,
        tenant: principal.tenant,
        roles: principal.roles,
        csrf: randomToken(),
        expiresAt: Date.now() + opts.sessionTtlSeconds * 1000,
      };
      request.log.info({ audit: 'dashboard.login', by: principal.id, tenant: principal.tenant, roles: principal.roles }, 'dashboard login');
      reply.header('set-cookie', [
        clearCookie(LOGIN_COOKIE, secure, CALLBACK_PATH),
        setCookie(SESSION_COOKIE, sealer.seal('session', session), { secure, maxAgeSeconds: opts.sessionTtlSeconds }),
      ]);
      return reply.redirect(pending.returnTo, 302);
    } catch (err) {
      request.log.warn({ err }, 'dashboard login failed');
      return html(reply, messagePage('Login failed', (err as Error).message, again), 401);
    }
  });

  app.post('/logout', async (request, reply) => {
    request.log.info({ audit: 'dashboard.logout', by: `${request.dashboardSession!.issuer}|${request.dashboardSession!.subject}` }, 'dashboard logout');
    reply.header('set-cookie', clearCookie(SESSION_COOKIE, secure));
    return html(reply, messagePage('Signed out', 'You are signed out of the aoetl monitor.', { href: '/login', label: 'Log in' }));
  });

  app.get<{ Params: { name: string } }>('/assets/:name', { config: { public: true } }, async (request, reply) => {
    const asset = assets.get(request.params.name);
    if (!asset) return reply.code(404).send();
    return reply.headers({ 'cache-control': 'public, max-age=300', 'x-content-type-options': 'nosniff' }).type(asset.type).send(asset.body);
  });

  // --- pages ---
  app.get('/', async (request, reply) => {
    const problems: string[] = [];
    const o = await guarded(problems, DB, null, () => opts.reads.overview(scopeOf(request.dashboardSession!)));
    return page(request, reply, '/', 'Overview', outage(problems) + (o ? overviewPage(o) : ''));
  });

  app.get('/runs', async (request, reply) => {
    const problems: string[] = [];
    const filter = runFilter(request.query as Record<string, unknown>);
    const session = request.dashboardSession!;
    const runs = await guarded(problems, DB, [], () => opts.reads.runs(scopeOf(session), filter));
    return page(request, reply, '/runs', 'Runs', outage(problems) + runsPage(runs, filter, scopeOf(session) === null));
  });

  app.get<{ Params: { id: string } }>('/runs/:id', { schema: { params: { type: 'object', properties: { id: { type: 'string', format: 'uuid' } }, required: ['id'] } } }, async (request, reply) => {
    const problems: string[] = [];
    const run = await guarded(problems, DB, null, () => opts.reads.run(scopeOf(request.dashboardSession!), request.params.id));
    if (!run && problems.length === 0) return html(reply, messagePage('Run not found', 'No such run in what you may see.', { href: '/runs', label: 'All runs' }), 404);
    return page(request, reply, '/runs', `Run ${request.params.id.slice(0, 8)}`, outage(problems) + (run ? runPage(run) : ''));
  });

  app.get('/agents', async (request, reply) => {
    if (!sreOnly(request, reply)) return reply;
    return page(request, reply, '/agents', 'Agents', outage(opts.agents.error ? [`${REDIS} (${opts.agents.error})`] : []) + agentsPage(opts.agents.list()));
  });

  app.get('/streams', async (request, reply) => {
    if (!sreOnly(request, reply)) return reply;
    const problems: string[] = [];
    const view = await guarded<StreamsView>(problems, REDIS, { lengths: [], groups: [], deadLetters: [], deadLetterCount: 0 }, async () => ({
      lengths: await Promise.all(Object.values(STREAMS).map(async (stream) => ({ stream, length: await opts.streams.length(stream) }))),
      groups: (await Promise.all(GROUP_STREAMS.map(async (stream) => (await opts.streams.groups(stream)).map((g) => ({ stream, ...g }))))).flat(),
      deadLetters: await opts.streams.list(50),
      deadLetterCount: await opts.streams.count(),
    }));
    return page(request, reply, '/streams', 'Streams', outage(problems) + streamsPage(view));
  });

  app.get('/violations', async (request, reply) => {
    const problems: string[] = [];
    const session = request.dashboardSession!;
    const runs = await guarded(problems, DB, [], () => opts.reads.violations(scopeOf(session)));
    return page(request, reply, '/violations', 'Sandbox violations', outage(problems) + violationsPage(runs, scopeOf(session) === null));
  });

  app.get('/models', async (request, reply) => {
    const problems: string[] = [];
    const recorded = await guarded(problems, DB, false, () => opts.reads.hasModelUsage());
    return page(request, reply, '/models', 'Model usage', outage(problems) + modelsPage(recorded));
  });

  // --- JSON for the pages' scripts ---
  const dbDown = (reply: FastifyReply, err: unknown) => problem(reply, 503, 'dependency_down', `${DB}: ${(err as Error).message}`);
  app.get('/api/runs', async (request, reply) => {
    try {
      return { runs: (await opts.reads.runs(scopeOf(request.dashboardSession!), runFilter(request.query as Record<string, unknown>))).map(liveRun) };
    } catch (err) {
      return dbDown(reply, err);
    }
  });
  app.get('/api/overview', async (request, reply) => {
    try {
      return await opts.reads.overview(scopeOf(request.dashboardSession!));
    } catch (err) {
      return dbDown(reply, err);
    }
  });

  // Server-sent events: each change of a run the person may see, as `event: run`; `event: status` says whether
  // the database answers. The stream ends when the session does (the browser reconnects and is sent to login).
  app.get('/api/live', async (request, reply) => {
    const session = request.dashboardSession!;
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    raw.write('retry: 2000\n\n');
    let lastError: string | null | undefined;
    const status = () => {
      if (opts.feed.error === lastError) return;
      lastError = opts.feed.error;
      raw.write(`event: status\ndata: ${JSON.stringify({ ok: lastError === null, problem: lastError })}\n\n`);
    };
    const unsubscribe = opts.feed.subscribe(scopeOf(session), (run) => raw.write(`event: run\ndata: ${JSON.stringify(liveRun(run))}\n\n`));
    const tick = setInterval(() => {
      status();
      raw.write(': keep-alive\n\n');
    }, 5000);
    const end = setTimeout(() => raw.end(), Math.max(0, session.expiresAt - Date.now()));
    status();
    request.raw.on('close', () => {
      clearInterval(tick);
      clearTimeout(end);
      unsubscribe();
    });
  });

  app.post<{ Params: { id: string } }>(
    '/api/deadletters/:id/replay',
    { schema: { params: { type: 'object', properties: { id: { type: 'string', pattern: STREAM_ID_PATTERN.source } }, required: ['id'] } } },
    async (request, reply) => {
      if (!sreOnly(request, reply)) return reply;
      const outcome = await opts.streams.replay(request.params.id);
      if (outcome.kind === 'not_found') return problem(reply, 404, 'not_found', `no dead letter ${request.params.id}`);
      if (outcome.kind === 'not_replayable') return problem(reply, 409, 'conflict', `stream ${outcome.stream || '?'} cannot be replayed`);
      const s = request.dashboardSession!;
      request.log.warn({ audit: 'deadletter.replayed', by: `${s.issuer}|${s.subject}`, deadLetter: request.params.id, stream: outcome.stream, replayedAs: outcome.replayedAs }, 'dead letter replayed');
      return { replayedAs: outcome.replayedAs, stream: outcome.stream };
    },
  );
}
