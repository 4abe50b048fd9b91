import AjvCompiler from '@fastify/ajv-compiler';
import Fastify from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { aoetlAuth, type AuthPluginOptions } from '@aoetl/auth';
import type { WriteMode } from '@aoetl/contracts';
import { problems } from '@aoetl/http';
import type { Logger } from '@aoetl/observability';
import type { TenantScope } from '@aoetl/secrets';
import type { Store } from '@aoetl/store';
import { openapi } from './plugins/external/openapi.js';
import { perIdentityRateLimit, unauthenticatedRateLimit } from './plugins/external/rate-limit.js';
import { security } from './plugins/external/security.js';
import { approvalRoutes } from './routes/approvals.js';
import { artifactRoutes } from './routes/artifacts.js';
import { auditRoutes } from './routes/audit.js';
import { connectionRoutes } from './routes/connections.js';
import { erasureRoutes } from './routes/erasure.js';
import { pipelineRoutes } from './routes/pipelines.js';
import { runRoutes } from './routes/runs.js';
import { DEFAULT_PREVIEW_PER_MINUTE, transformRoutes } from './routes/transforms.js';
import type { PreviewSandbox } from '@aoetl/bus';
import type { ModelPlanner, PlannerMetrics } from '@aoetl/llm';
import type { GovernanceDeps } from './governance.js';
import { RunEventHub } from './run-events.js';
import { DiffService } from './diff-service.js';
import { requestIdFrom } from './request-context.js';

/** What the routes need from the control database: its repositories, not its pool or outbox. */
export type GatewayQueries = Pick<Store, 'pipelines' | 'runs' | 'approvals' | 'connections' | 'artifacts' | 'ledger' | 'lineage'>;

export interface AppDeps {
  store: GatewayQueries;
  logger: Logger;
  auth: AuthPluginOptions;
  bodyLimit?: number;
  /**
   * Requests per identity per minute (and per client address before verification). Default 1200. 0: no rate
   * limiters at all (the service's configuration cannot ask for it; bench/gateway.bench.mjs measures their cost).
   */
  rateLimitPerMinute?: number;
  /** Target write modes whose runs always need an approval (policy). Default none. */
  approvalRequiredModes?: readonly WriteMode[];
  /** How often a run's event stream looks for new steps. Default 500 ms. */
  ssePollMs?: number;
  /** Per-tenant run quota checked at submit (429 + Retry-After beyond). Defaults 100 queued, 20 in flight. */
  runQuota?: RunQuota;
  /** Which Vault roles and database hosts each tenant's connections may name. Default: no restriction. */
  tenantScope?: TenantScope;
  /** Open run event streams per identity and per tenant (429 beyond). Defaults 5 and 50. */
  sseStreamsPerIdentity?: number;
  sseStreamsPerTenant?: number;
  /** Requests per identity per minute to expensive routes (event streams, artifact diffs). Default 60. */
  expensiveRateLimitPerMinute?: number;
  /** Load shedding threshold (0: no load shedding). Default 1000 ms. */
  maxEventLoopDelayMs?: number;
  /** Serve Swagger UI at /docs. Default true. */
  docs?: boolean;
  /** Audit verify's checkpoints and signature checks, erasure (Vault); without it verify trusts no checkpoint, erasure answers 503. */
  governance?: GovernanceDeps | null;
  /** Runs previews in an etl-agent's sandbox (through the bus); without it the preview answers 500. */
  previews?: PreviewSandbox | null;
  /** Previews per identity per minute. Default 60. */
  previewPerMinute?: number;
  /** The model planner for previews; null or absent: not offered (previews plan offline). */
  modelPlanner?: ModelPlanner | null;
  /** Planner of a preview's instruction that names none. Default rules. */
  defaultPlanner?: 'rules' | 'llm';
  plannerMetrics?: PlannerMetrics;
}

export interface RunQuota {
  /** Runs a tenant may have queued (runs awaiting an approval hold no agent and are not counted). */
  maxQueued: number;
  /** Runs a tenant may have planning or running. */
  maxInFlight: number;
}

export interface RouteOptions {
  store: GatewayQueries;
  approvalRequiredModes: readonly WriteMode[];
  ssePollMs: number;
  runQuota: RunQuota;
  tenantScope: TenantScope;
  /** Run event streams, one shared poller per run. */
  events: RunEventHub;
  /** Diffs off the event loop (worker thread), size-capped and cached. */
  diffs: DiffService;
  /** Route-level rate limit (`config.rateLimit`) of expensive routes. */
  expensiveRateLimit: { max: number; timeWindow: number };
  governance: GovernanceDeps | null;
  previews: PreviewSandbox | null;
  previewPerMinute: number;
  modelPlanner: ModelPlanner | null;
  defaultPlanner: 'rules' | 'llm';
  plannerMetrics: PlannerMetrics | null;
}

// Bodies are validated strictly (no type coercion: "5" is not a port); query strings, path parameters and
// headers are text, so they are coerced to the schema's types.
// (@fastify/ajv-compiler's typings describe the compiled function as taking a schema; at run time it takes the
// route definition, as fastify passes it.)
type RouteDefinition = { httpPart?: string; schema: unknown };
type Compile = (route: RouteDefinition) => unknown;
const validators = AjvCompiler();
const AJV_BASE = { removeAdditional: false, allErrors: true, useDefaults: true } as const;
type CompilerOptions = NonNullable<Parameters<typeof validators>[1]>;
function buildValidator(externalSchemas: Parameters<typeof validators>[0], options?: CompilerOptions): Compile {
  const compiler = (coerceTypes: false | 'array') =>
    validators(externalSchemas, {
      ...options,
      customOptions: { ...options?.customOptions, ...AJV_BASE, coerceTypes },
    } as CompilerOptions) as unknown as Compile;
  const strict = compiler(false);
  const coercing = compiler('array');
  return (route) => (route.httpPart === 'body' ? strict(route) : coercing(route));
}

/** The gateway as a fastify instance: tests call `inject()` on it; server.ts listens. */
export async function buildApp(deps: AppDeps) {
  const app = Fastify({
    loggerInstance: deps.logger,
    bodyLimit: deps.bodyLimit ?? 256 * 1024,
    genReqId: (req) => requestIdFrom(req.headers['x-request-id']),
    requestIdLogLabel: 'requestId',
    exposeHeadRoutes: false,
    schemaController: { compilersFactory: { buildValidator: buildValidator as unknown as typeof validators } },
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  await app.register(problems, { serviceName: 'gateway' });
  await app.register(security, { maxEventLoopDelayMs: deps.maxEventLoopDelayMs ?? 1000 });
  await app.register(openapi, { ui: deps.docs ?? true });

  // Everything under /v1 needs a verified token; /docs does not.
  const routeOptions: RouteOptions = {
    store: deps.store,
    approvalRequiredModes: deps.approvalRequiredModes ?? [],
    ssePollMs: deps.ssePollMs ?? 500,
    runQuota: deps.runQuota ?? { maxQueued: 100, maxInFlight: 20 },
    tenantScope: deps.tenantScope ?? { vaultRoles: [], hosts: null },
    events: new RunEventHub(deps.store.runs, deps.ssePollMs ?? 500, {
      perIdentity: deps.sseStreamsPerIdentity ?? 5,
      perTenant: deps.sseStreamsPerTenant ?? 50,
    }, deps.logger),
    diffs: new DiffService(),
    expensiveRateLimit: { max: deps.expensiveRateLimitPerMinute ?? 60, timeWindow: 60_000 },
    governance: deps.governance ?? null,
    previews: deps.previews ?? null,
    previewPerMinute: deps.previewPerMinute ?? DEFAULT_PREVIEW_PER_MINUTE,
    modelPlanner: deps.modelPlanner ?? null,
    defaultPlanner: deps.defaultPlanner ?? 'rules',
    plannerMetrics: deps.plannerMetrics ?? null,
  };
  app.addHook('onClose', async () => routeOptions.diffs.close());
  await app.register(async (api) => {
    const perMinute = deps.rateLimitPerMinute ?? 1200;
    if (perMinute > 0) await api.register(unauthenticatedRateLimit, { perMinute }); // before verification
    await api.register(aoetlAuth, deps.auth);
    if (perMinute > 0) await api.register(perIdentityRateLimit, { perMinute });
    await api.register(pipelineRoutes, routeOptions);
    await api.register(runRoutes, routeOptions);
    await api.register(approvalRoutes, routeOptions);
    await api.register(connectionRoutes, routeOptions);
    await api.register(artifactRoutes, routeOptions);
    await api.register(auditRoutes, routeOptions);
    await api.register(erasureRoutes, routeOptions);
    await api.register(transformRoutes, routeOptions);
  });
  return app;
}

export type GatewayApp = Awaited<ReturnType<typeof buildApp>>;
