/**
 * Zero secrets outside the secrets manager (issue: credentials). The demo pipeline runs through the four real
 * services while we collect every secret value the stack used — generated passwords, the Vault root token, the
 * AppRole secret id, OIDC client secrets, the access tokens, every Vault token and dynamic database password
 * OpenBao handed out (read from its dev-only raw audit log) — then grep every service log, the run's records,
 * the API responses and the stream entries for them. Expected: 0 hits.
 *
 * Failure messages name the secret (file, env key or audit field), never its value.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { STATE, adminRedis, api, customersPipeline, customersTarget, demoTransform, psqlAdmin, stackEnv, token, waitForRun } from '@aoetl/testing';

jest.setTimeout(300_000);

type Secrets = Map<string, string>; // value -> label
type Haystacks = Map<string, string>; // label -> text

const MIN_LEN = 8;

function add(secrets: Secrets, value: unknown, label: string): void {
  if (typeof value === 'string' && value.trim().length >= MIN_LEN && !secrets.has(value.trim())) secrets.set(value.trim(), label);
}

/** Every generated secret of the local stack and every secret-looking value of every env file. */
function stackSecrets(secrets: Secrets): void {
  const dir = join(STATE, 'secrets');
  for (const f of readdirSync(dir)) {
    // A role id is an identifier (Vault's "username" of an AppRole), not a secret; its secret id is.
    if (f.endsWith('-role-id')) continue;
    add(secrets, readFileSync(join(dir, f), 'utf8'), `.state/secrets/${f}`);
  }
  for (const f of readdirSync(join(STATE, 'env')).filter((n) => n.endsWith('.env'))) {
    const env = stackEnv(f.replace(/\.env$/, ''));
    for (const [k, v] of Object.entries(env)) {
      if (/(PASSWORD|TOKEN|SECRET|_KEY)$/.test(k) && !/ROLE_ID$/.test(k)) add(secrets, v, `${f}:${k}`);
      if (k === 'AOETL_DATABASE_URL') add(secrets, new URL(v).password, `${f}:${k} password`);
    }
  }
}

/** Walks an audit entry and collects the values of secret-bearing fields. */
function collectAudit(node: unknown, path: string, secrets: Secrets): void {
  if (Array.isArray(node)) node.forEach((n, i) => collectAudit(n, `${path}[${i}]`, secrets));
  else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (typeof v === 'string' && /^(client_token|secret_id|password|jwt|token|id)$/.test(k) && !v.startsWith('hmac-')) {
        // `id` only under a token-create request (the fixed root token id)
        if (k !== 'id' || path.endsWith('request.data')) add(secrets, v, `openbao audit ${path}.${k}`);
      } else collectAudit(v, `${path}.${k}`, secrets);
    }
  }
}

interface AuditLine {
  type: 'request' | 'response';
  request?: { path?: string };
  response?: { secret?: { lease_id?: string }; data?: { password?: string } };
}

function readAudit(file: string): AuditLine[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as AuditLine);
}

function logLines(file: string): Array<Record<string, unknown>> {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => {
      try {
        return JSON.parse(l) as Record<string, unknown>;
      } catch {
        return {};
      }
    });
}

async function streamEntries(ids: { since: number }): Promise<Haystacks> {
  const redis = adminRedis({ lazyConnect: true });
  await redis.connect();
  const out: Haystacks = new Map();
  try {
    for (const stream of ['aoetl:events', 'aoetl:tasks', 'aoetl:requests', 'aoetl:deadletter']) {
      const entries = await redis.xrange(stream, `${ids.since}-0`, '+').catch(() => []);
      out.set(`stream ${stream} (${entries.length} entries)`, JSON.stringify(entries));
    }
  } finally {
    redis.disconnect();
  }
  return out;
}

describe('no secret leaves the secrets manager', () => {
  test('the demo pipeline: 0 secret values in logs, run records, API responses and stream entries', async () => {
    const since = Date.now();
    const auditFile = stackEnv('test').AOETL_VAULT_AUDIT_LOG ?? join(STATE, 'openbao', 'audit.log');
    expect(existsSync(auditFile)).toBe(true);

    // ---- the demo pipeline, end to end
    const alice = token('alice');
    const admin = token('admin');
    const body = customersPipeline({ target: customersTarget('leak'), code: demoTransform() });
    const responses: Haystacks = new Map();
    const created = await api('POST', '/v1/pipelines', { token: alice, body });
    expect(created.status).toBe(201);
    const accepted = await api('POST', `/v1/pipelines/${created.body.id}/runs`, { token: alice });
    expect(accepted.status).toBe(202);
    const runId = accepted.body.runId as string;
    const run = await waitForRun(runId, alice);
    expect(run.status).toBe('succeeded');
    responses.set('POST /v1/pipelines', JSON.stringify(created));
    responses.set('POST /v1/pipelines/:id/runs', JSON.stringify(accepted));
    for (const [label, path, bearer] of [
      ['GET /v1/runs/:id', `/v1/runs/${runId}`, alice],
      ['GET /v1/pipelines/:id', `/v1/pipelines/${created.body.id}`, alice],
      ['GET /v1/connections (admin)', '/v1/connections', admin],
      ['GET /v1/connections/warehouse (admin)', '/v1/connections/warehouse', admin],
      ['GET /v1/runs/:id (admin)', `/v1/runs/${runId}`, admin],
    ] as const) {
      const res = await api('GET', path, { token: bearer });
      responses.set(`${label} -> ${res.status}`, JSON.stringify(res));
    }

    // ---- every secret value the stack used
    const secrets: Secrets = new Map();
    stackSecrets(secrets);
    add(secrets, alice, 'access token (alice)');
    add(secrets, admin, 'access token (admin)');
    const audit = readAudit(auditFile);
    audit.forEach((entry, i) => collectAudit(entry, `line ${i + 1}`, secrets));

    // The run's own dynamic credentials: the agent's audit lines give their lease ids, OpenBao's audit log the
    // passwords it returned for those leases.
    const issued = logLines(join(STATE, 'logs', 'etl-agent.log')).filter((l) => l.audit === 'credential.issued' && l.runId === runId);
    expect(issued.length).toBeGreaterThanOrEqual(2); // at least a source and a target credential
    const leaseIds = new Set(issued.map((l) => l.leaseId as string));
    const runPasswords = audit.filter((a) => a.type === 'response' && leaseIds.has(a.response?.secret?.lease_id ?? '') && a.response?.data?.password);
    expect(runPasswords.length).toBe(leaseIds.size);
    runPasswords.forEach((a) => add(secrets, a.response!.data!.password, `dynamic password of lease ${a.response!.secret!.lease_id}`));
    for (const p of runPasswords) expect(secrets.has(p.response!.data!.password!)).toBe(true);
    // Every lease the run was issued was revoked at its end.
    const revoked = logLines(join(STATE, 'logs', 'etl-agent.log')).filter((l) => l.audit === 'credential.revoked' && l.runId === runId);
    expect(new Set(revoked.map((l) => l.leaseId))).toEqual(leaseIds);
    expect(secrets.size).toBeGreaterThan(20);

    // ---- every place a secret must never be
    const haystacks: Haystacks = new Map(responses);
    for (const f of readdirSync(join(STATE, 'logs')).filter((n) => n.endsWith('.log'))) {
      haystacks.set(`.state/logs/${f}`, readFileSync(join(STATE, 'logs', f), 'utf8'));
    }
    const q = (db: string, sql: string) => psqlAdmin(db, sql);
    haystacks.set('runs row', q('aoetl', `SELECT row_to_json(r) FROM runs r WHERE id = '${runId}'`));
    haystacks.set('run_steps rows', q('aoetl', `SELECT coalesce(json_agg(s), '[]') FROM run_steps s WHERE run_id = '${runId}'`));
    haystacks.set('run_chunks rows', q('aoetl', `SELECT coalesce(json_agg(c), '[]') FROM run_chunks c WHERE run_id = '${runId}'`));
    haystacks.set('outbox rows', q('aoetl', `SELECT coalesce(json_agg(o), '[]') FROM outbox o WHERE o::text LIKE '%${runId}%'`));
    haystacks.set('pipelines row', q('aoetl', `SELECT row_to_json(p) FROM pipelines p WHERE id = '${created.body.id as string}'`));
    haystacks.set('artifacts rows', q('aoetl', `SELECT coalesce(json_agg(a), '[]') FROM artifacts a WHERE pipeline_id = '${created.body.id as string}'`));
    haystacks.set('connections rows', q('aoetl', `SELECT coalesce(json_agg(c), '[]') FROM connections c`));
    haystacks.set('load ledger rows', q('warehouse', `SELECT coalesce(json_agg(l), '[]') FROM aoetl_staging.load_ledger l WHERE run_id = '${runId}'`));
    for (const [k, v] of await streamEntries({ since: since - 1000 })) haystacks.set(k, v);

    // The scan sees the run: its credentials' user names (identifiers, not secrets) are in the agent's log.
    const agentLog = haystacks.get('.state/logs/etl-agent.log') ?? '';
    for (const l of issued) expect(agentLog).toContain(l.username as string);
    expect([...haystacks.keys()].some((k) => /^stream aoetl:events \([1-9]/.test(k))).toBe(true);

    const hits: string[] = [];
    for (const [value, label] of secrets) {
      for (const [where, text] of haystacks) if (text.includes(value)) hits.push(`${label} found in ${where}`);
    }
    expect(hits).toEqual([]);
  });
});
