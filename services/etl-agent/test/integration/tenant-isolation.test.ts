/**
 * Cross-tenant connections through the etl-agent's real task path (issue 13, finding 3): the task handler with the
 * scoped steps, `@aoetl/etl`'s commitRun, the agent's real AppRole login on the local OpenBao and the real target
 * database. A task of tenant acme whose connection names tenant globex's Vault role is refused by each layer on
 * its own: the static tenant scope (before Vault is asked), and — with the static check switched off — OpenBao,
 * which answers acme's tenant token with a permission denial. The failure reaches the run as a code, never the role.
 */
import { randomUUID } from 'node:crypto';
import { STREAMS, envelope, type CommitTask, type TaskFailed, type TaskSucceeded } from '@aoetl/contracts';
import { commitRun, loadChunk, type TransformRunner } from '@aoetl/etl';
import { createLogger } from '@aoetl/observability';
import { VaultSecretStore, parseTenantScope, type AuditRecord, type TenantScope } from '@aoetl/secrets';
import { stackEnv } from '@aoetl/testing';
import { taskHandler } from '../../src/task-handler.js';
import { scopedSteps } from '../../src/tenant-scope.js';

jest.setTimeout(60_000);

const agent = stackEnv('etl-agent');
const logger = createLogger({ name: 'tenant-isolation-it', level: 'silent' });
const ROLES = 'database/creds/{tenant}-source-reader,database/creds/{tenant}-warehouse-writer';
const HOSTS = 'acme=127.0.0.1:5433;globex=127.0.0.1:5433';
const STATIC_ON = parseTenantScope(ROLES, HOSTS);
const STATIC_OFF = parseTenantScope('', '');
const noSandbox: TransformRunner = {
  run: () => Promise.reject(new Error('a commit task never runs a transform')),
};

/** An abort task of a fresh run (harmless: it drops nothing) whose target connection names `vaultRole`. */
function abortTask(tenant: string, vaultRole: string): CommitTask {
  const payload: CommitTask['payload'] = {
    taskId: randomUUID(),
    runId: randomUUID(),
    tenant,
    action: 'abort',
    target: {
      connection: { name: 'warehouse', kind: 'postgres', host: '127.0.0.1', port: 5433, database: 'warehouse', vaultRole },
      table: 'silver.customers',
      mode: 'append',
      keys: [],
    },
    chunks: 1,
  };
  return envelope('task.commit', payload, { requestId: `tenant-isolation-${payload.runId}` });
}

/** Runs one task through the agent's handler; answers what it published and the credential accesses. */
async function runTask(scope: TenantScope, task: CommitTask) {
  const audits: AuditRecord[] = [];
  const secrets = new VaultSecretStore({
    endpoint: agent.AOETL_VAULT_ADDR!,
    caFile: agent.AOETL_VAULT_CACERT!,
    auth: { method: 'approle', roleId: agent.AOETL_VAULT_ROLE_ID!, secretId: agent.AOETL_VAULT_SECRET_ID! },
    tenantTokenRole: 'aoetl-tenant',
    logger,
    onAudit: (r) => audits.push(r),
  });
  const published: Array<TaskFailed | TaskSucceeded> = [];
  try {
    await taskHandler({
      agentId: 'tenant-isolation-it',
      attempts: 1,
      publish: async (stream, message) => {
        expect(stream).toBe(STREAMS.events);
        published.push(message as TaskFailed | TaskSucceeded);
      },
      logger,
      steps: scopedSteps({ loadChunk, commitRun }, scope),
      secrets,
      runner: noSandbox,
      dbCaFile: agent.AOETL_DB_CA_FILE!,
    })(task);
  } finally {
    await secrets.revokeOutstanding();
    secrets.close();
  }
  expect(published).toHaveLength(1);
  return { outcome: published[0]!, issued: audits.filter((a) => a.event === 'credential.issued') };
}

describe("a task of tenant acme naming tenant globex's Vault role", () => {
  it('is refused by the static tenant scope before any credential is asked for', async () => {
    const { outcome, issued } = await runTask(STATIC_ON, abortTask('acme', 'database/creds/globex-warehouse-writer'));
    expect(outcome.type).toBe('task.failed');
    expect((outcome as TaskFailed).payload.error).toMatchObject({ code: 'not_allowed' });
    expect(issued).toEqual([]);
  });

  it('is refused by OpenBao itself when the static check is off (the second layer on its own)', async () => {
    const { outcome, issued } = await runTask(STATIC_OFF, abortTask('acme', 'database/creds/globex-warehouse-writer'));
    expect(outcome.type).toBe('task.failed');
    expect((outcome as TaskFailed).payload.error).toMatchObject({ code: 'not_allowed' });
    expect(issued).toEqual([expect.objectContaining({ path: 'database/creds/globex-warehouse-writer', tenant: 'acme', outcome: 'error', error: 'not_allowed' })]);
  });

  it('the shared role every tenant used before tenant scopes is refused by OpenBao too (it succeeded on main)', async () => {
    const { outcome, issued } = await runTask(STATIC_OFF, abortTask('acme', 'database/creds/warehouse-writer'));
    expect((outcome as TaskFailed).payload.error).toMatchObject({ code: 'not_allowed' });
    expect(issued).toEqual([expect.objectContaining({ path: 'database/creds/warehouse-writer', tenant: 'acme', outcome: 'error' })]);
  });

  it("succeeds with acme's own role, through both layers (the control)", async () => {
    for (const scope of [STATIC_ON, STATIC_OFF]) {
      const { outcome, issued } = await runTask(scope, abortTask('acme', 'database/creds/acme-warehouse-writer'));
      expect(outcome.type).toBe('task.succeeded');
      expect(issued).toEqual([expect.objectContaining({ path: 'database/creds/acme-warehouse-writer', tenant: 'acme', outcome: 'ok' })]);
    }
  });

  it("globex's task naming acme's role is refused the same way", async () => {
    const { outcome } = await runTask(STATIC_OFF, abortTask('globex', 'database/creds/acme-warehouse-writer'));
    expect((outcome as TaskFailed).payload.error).toMatchObject({ code: 'not_allowed' });
  });
});
