import { NotAllowedError, type ConnectionDescriptor } from '@aoetl/contracts';
import { scopeViolations, type TenantScope } from '@aoetl/secrets';
import type { LoadDeps } from '@aoetl/etl';
import type { TaskSteps } from './task-handler.js';

/** Refuses (not_allowed, never retried) a connection outside the task's tenant's scope, before any credential is read. */
export function assertInScope(scope: TenantScope, tenant: string, connections: readonly ConnectionDescriptor[]): void {
  for (const c of connections) {
    const violations = scopeViolations(scope, tenant, c);
    if (violations.length > 0) {
      throw new NotAllowedError(`connection '${c.name}' refused: ${violations.map((v) => v.message).join('; ')}`);
    }
  }
}

/**
 * The task steps, each checking its connections against the task's tenant first (the gateway checked them at
 * registration too), then reading credentials through the tenant's own Vault scope (`SecretStore.forTenant`, when
 * the store has one): two independent layers, so a connection that slips past one is still refused by the other.
 */
export function scopedSteps(steps: TaskSteps, scope: TenantScope): TaskSteps {
  const forTenant = (deps: LoadDeps, tenant: string): LoadDeps => ({ ...deps, secrets: deps.secrets.forTenant?.(tenant) ?? deps.secrets });
  return {
    ...steps,
    loadChunk: async (task, deps) => {
      assertInScope(scope, task.tenant, [task.source.connection, task.target.connection]);
      return steps.loadChunk(task, forTenant(deps, task.tenant));
    },
    commitRun: async (task, deps) => {
      assertInScope(scope, task.tenant, [task.target.connection]);
      return steps.commitRun(task, forTenant(deps, task.tenant));
    },
  };
}
