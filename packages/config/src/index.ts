import { readFileSync } from 'node:fs';
import { Type, type Static, type TObject, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { ConfigError } from '@aoetl/contracts';

/** Marks a config key as secret: it is never printed, and its value is registered for log scrubbing. */
export function Secret<T extends TSchema>(schema: T): T {
  return { ...schema, secret: true };
}

export function secretKeys(schema: TObject): string[] {
  return Object.entries(schema.properties)
    .filter(([, s]) => (s as { secret?: boolean }).secret === true)
    .map(([k]) => k);
}

/**
 * Reads configuration from the environment, validated once at boot. A `KEY_FILE` variable may stand in for a
 * secret `KEY` (Kubernetes-mounted secrets). On failure throws one ConfigError listing every bad variable.
 */
export function loadConfig<T extends TObject>(schema: T, env: NodeJS.ProcessEnv = process.env): Static<T> {
  const raw: Record<string, unknown> = {};
  const problems: string[] = [];
  const secrets = new Set(secretKeys(schema));
  for (const key of Object.keys(schema.properties)) {
    let value = env[key];
    const file = env[`${key}_FILE`];
    if (value === undefined && file !== undefined && secrets.has(key)) {
      try {
        value = readFileSync(file, 'utf8').trim();
      } catch {
        problems.push(`${key}_FILE: cannot read ${file}`);
        continue;
      }
    }
    if (value !== undefined && value !== '') raw[key] = value;
  }
  const withDefaults = Value.Default(schema, Value.Convert(schema, raw));
  for (const err of Value.Errors(schema, withDefaults)) {
    const key = err.path.replace(/^\//, '').split('/')[0] || '(root)';
    const shown = secrets.has(key) ? '(secret, not shown)' : JSON.stringify(raw[key]);
    problems.push(raw[key] === undefined ? `${key}: is required` : `${key}: ${err.message} (got ${shown})`);
  }
  if (problems.length > 0) {
    const unique = [...new Set(problems)];
    throw new ConfigError(`invalid configuration (${unique.length} problem(s)): ${unique.join('; ')}`, {
      details: unique.map((message) => ({ message })),
    });
  }
  return withDefaults as Static<T>;
}

/** The config with every secret replaced, safe to log. */
export function redactConfig<T extends TObject>(schema: T, config: Static<T>): Record<string, unknown> {
  const secrets = new Set(secretKeys(schema));
  return Object.fromEntries(
    Object.entries(config as Record<string, unknown>).map(([k, v]) => [k, secrets.has(k) ? '[redacted]' : v]),
  );
}

/** Secret values of a loaded config, for the log scrubber. */
export function secretValues<T extends TObject>(schema: T, config: Static<T>): string[] {
  return secretKeys(schema)
    .map((k) => (config as Record<string, unknown>)[k])
    .filter((v): v is string => typeof v === 'string' && v.length > 0);
}

const Port = Type.Integer({ minimum: 1, maximum: 65535 });
const Path = Type.String({ minLength: 1 });

/** Fragments every service shares. */
export const CommonConfig = {
  AOETL_LOG_LEVEL: Type.Union(
    ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
    { default: 'info' },
  ),
  AOETL_HTTP_HOST: Type.String({ default: '0.0.0.0' }),
  AOETL_METRICS_PORT: Port,
  AOETL_REDIS_URL: Type.String({ pattern: '^rediss://' }),
  AOETL_REDIS_USERNAME: Type.String({ minLength: 1 }),
  AOETL_REDIS_PASSWORD: Secret(Type.String({ minLength: 1 })),
  AOETL_TLS_CA_FILE: Path,
  AOETL_TLS_CERT_FILE: Path,
  AOETL_TLS_KEY_FILE: Path,
  /**
   * OpenTelemetry (read by the SDK itself, see @aoetl/observability/tracing; declared here so that a bad value stops
   * the start with a clear error and the chart's settings are ones the code reads). No endpoint: no export.
   */
  OTEL_EXPORTER_OTLP_ENDPOINT: Type.Optional(Type.String({ pattern: '^https?://[^/\\s]+(/\\S*)?$' })),
  OTEL_EXPORTER_OTLP_PROTOCOL: Type.Optional(Type.Union([Type.Literal('http/protobuf'), Type.Literal('http/json'), Type.Literal('grpc')])),
  OTEL_SERVICE_NAME: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
  /** Milliseconds between batch exports (SDK default 5000). */
  OTEL_BSP_SCHEDULE_DELAY: Type.Optional(Type.Integer({ minimum: 10, maximum: 60_000 })),
};

export const DatabaseConfig = {
  AOETL_DATABASE_URL: Type.String({ pattern: '^postgres(ql)?://' }),
  AOETL_DATABASE_PASSWORD: Secret(Type.String({ minLength: 1 })),
};

/**
 * The model planner (docs/adr/0006-model-planner.md). Without AOETL_LLM_BASE_URL and AOETL_LLM_MODEL (and Vault, where
 * the API key lives) the model planner is not offered and the service runs with the offline planner.
 */
export const LlmConfig = {
  /** Any OpenAI-compatible endpoint, e.g. `https://api.example.com/v1` (the path up to `/chat/completions`). */
  AOETL_LLM_BASE_URL: Type.Optional(Type.String({ pattern: '^https?://\\S+$' })),
  AOETL_LLM_MODEL: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  /** KV v2 path (mount `secret`) of the API key, field `key`: read from Vault at start, never an env variable. */
  AOETL_LLM_API_KEY_KV_PATH: Type.String({ minLength: 1, default: 'aoetl-llm/api-key' }),
  /** USD per million tokens per model: `{"model": {"inputPerMillion": 2, "outputPerMillion": 8}}`; must price the model. */
  AOETL_LLM_PRICES: Type.String({ minLength: 2, default: '{}' }),
  /** Planner of an instruction that names none: `llm` (the model when configured) or `rules` (the offline planner). */
  AOETL_LLM_DEFAULT_PLANNER: Type.Union([Type.Literal('rules'), Type.Literal('llm')], { default: 'llm' }),
  /** Tokens per tenant per UTC day; 0 refuses every request (the offline planner is used). */
  AOETL_LLM_TENANT_TOKEN_BUDGET: Type.Integer({ minimum: 0, default: 1_000_000 }),
  /** Per-tenant overrides of the daily budget: `acme=200000,globex=0`. */
  AOETL_LLM_TENANT_BUDGETS: Type.String({ pattern: '^([^=,\\s]+=[0-9]{1,12}(,[^=,\\s]+=[0-9]{1,12})*)?$', default: '' }),
  AOETL_LLM_TIMEOUT_MS: Type.Integer({ minimum: 100, default: 20_000 }),
  AOETL_LLM_MAX_ATTEMPTS: Type.Integer({ minimum: 1, maximum: 10, default: 3 }),
  AOETL_LLM_RETRY_BASE_MS: Type.Integer({ minimum: 1, default: 500 }),
  /** Longest wait between attempts; a Retry-After above it ends the retries (and the run falls back). */
  AOETL_LLM_MAX_RETRY_DELAY_MS: Type.Integer({ minimum: 1, default: 5_000 }),
  AOETL_LLM_MAX_TOKENS: Type.Integer({ minimum: 16, maximum: 65_536, default: 4096 }),
  AOETL_LLM_SEED: Type.Integer({ minimum: 0, default: 1 }),
};

export { Port, Path };
