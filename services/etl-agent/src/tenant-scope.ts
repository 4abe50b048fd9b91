import { NotAllowedError, type ConnectionDescriptor } from '@aoetl/contracts';
import { scopeViolations, type TenantScope } from '@aoetl/secrets';
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

/** The task steps, each checking its connections against the task's tenant first (the gateway checked them at registration too). */
export function scopedSteps(steps: TaskSteps, scope: TenantScope): TaskSteps {
  return {
    ...steps,
    loadChunk: async (task, deps) => {
      assertInScope(scope, task.tenant, [task.source.connection, task.target.connection]);
      return steps.loadChunk(task, deps);
    },
    commitRun: async (task, deps) => {
      assertInScope(scope, task.tenant, [task.target.connection]);
      return steps.commitRun(task, deps);
    },
  };
}
