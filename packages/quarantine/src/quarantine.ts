import { ConflictError, NotFoundError, envelope, type EventMessage, type QuarantineStep } from '@aoetl/contracts';
import { Counter, Gauge, type Logger, type Registry } from '@aoetl/observability';
import { backoffMs, sleep } from '@aoetl/timing';
import type {
  AuditPublisher,
  PodIsolation,
  QuarantineRecord,
  QuarantineState,
  RedisIsolation,
  SeenIdentity,
  StepResult,
  VaultIsolation,
} from './ports.js';

export interface QuarantineOptions {
  /** Violations (sandbox violations, failed policy checks) within `windowMs` that quarantine an agent; 0: never automatically. */
  threshold: number;
  windowMs: number;
  /** Stream and group pairs whose entries a quarantined agent held are handed back (its consumer name in each). */
  workStreams: { stream: string; group: string }[];
  /** Redis users a quarantine may switch off (an agent naming another user, e.g. `admin`, is refused). */
  allowedRedisUsers: RegExp;
  /** Label set to "true" on a quarantined pod (the chart's NetworkPolicy then cuts it off). */
  podLabel: string;
  /** An agent whose last heartbeat is older counts as gone (not a healthy sharer of a Redis user). */
  staleMs: number;
  /** Attempts per step before it is reported failed (the reconcile loop tries again later). Default 3. */
  attempts?: number;
}

export interface QuarantineDeps {
  redis: RedisIsolation;
  state: QuarantineState;
  /** Absent: the monitor has no Vault identity; the vault step is reported skipped. */
  vault?: VaultIsolation;
  /** Absent: not in Kubernetes; the pod steps are reported skipped. */
  pods?: PodIsolation;
  publishAudit: AuditPublisher;
  registry: Registry;
  logger: Logger;
}

/** What an admin or the dashboard sees of one agent. */
export interface AgentQuarantineView {
  agentId: string;
  service?: string;
  lastHeartbeat?: string;
  /** Violations counted in the current window. */
  violations: number;
  quarantine?: QuarantineRecord;
}

const MAX_DETAIL = 300;

/**
 * Automatic and manual quarantine of agents (docs/operations/quarantine.md). Counts each agent's sandbox violations
 * and failed policy checks from the events stream; past the threshold within the window, or when an admin asks, it
 * isolates the agent step by step — its Redis ACL user off and its connections killed, the stream entries it held
 * handed back to healthy agents, its Vault token (and so its leases) revoked, its pod labelled and deleted — and
 * records every step's outcome. A failed step is retried (here, then by `reconcile`) and reported, never dropped; a
 * release is an explicit admin action. Every action is audited (an `agent.quarantine` event, which the orchestrator
 * appends to the ledger). State lives in Redis, so every monitor replica sees the same.
 */
export class QuarantineService {
  private readonly quarantined: Counter<'trigger'>;
  private readonly inQuarantine: Gauge;
  private readonly stepFailures: Counter<'step'>;
  private readonly log: Logger;

  constructor(
    private readonly deps: QuarantineDeps,
    private readonly opts: QuarantineOptions,
  ) {
    const registers = [deps.registry];
    this.quarantined = new Counter({
      name: 'aoetl_agent_quarantined_total',
      help: 'Agents put in quarantine, by trigger (threshold or admin)',
      labelNames: ['trigger'],
      registers,
    });
    this.inQuarantine = new Gauge({ name: 'aoetl_agents_quarantined', help: 'Agents in quarantine now', registers });
    this.stepFailures = new Counter({
      name: 'aoetl_quarantine_step_failures_total',
      help: 'Isolation steps that failed (retried until done), by step',
      labelNames: ['step'],
      registers,
    });
    this.log = deps.logger.child({ component: 'quarantine' });
  }

  /** Feeds one event of the events stream: heartbeats (identities) and violations (the threshold). */
  async onEvent(msg: EventMessage): Promise<void> {
    if (msg.type === 'agent.heartbeat' && msg.payload.identity) {
      await this.deps.state.saveIdentity(msg.payload.agentId, { service: msg.payload.service, identity: msg.payload.identity, at: Date.parse(msg.at) });
      return;
    }
    if (msg.type !== 'task.failed' || !msg.payload.error.violation) return;
    const { agentId } = msg.payload;
    const count = await this.deps.state.countViolation(agentId, msg.id, Date.parse(msg.at) || Date.now(), this.opts.windowMs);
    this.log.warn({ agentId, runId: msg.payload.runId, code: msg.payload.error.code, count, threshold: this.opts.threshold }, 'agent violation counted');
    if (this.opts.threshold <= 0 || count < this.opts.threshold) return;
    if ((await this.deps.state.records())[agentId]) return;
    const reason = `${count} violations within ${Math.round(this.opts.windowMs / 1000)} s (threshold ${this.opts.threshold}); last: ${msg.payload.error.code}`;
    await this.quarantine(agentId, { actor: 'monitor:threshold', reason, trigger: 'threshold', violations: count }).catch((err: unknown) => {
      if (!(err instanceof ConflictError)) throw err; // another replica was first
    });
  }

  /**
   * Isolates an agent now. Throws ConflictError when it is already in quarantine. Answers the record with every
   * step's outcome (status `partial` when a step failed: `reconcile` retries it).
   */
  async quarantine(
    agentId: string,
    by: { actor: string; reason: string; trigger: 'threshold' | 'admin'; violations?: number },
  ): Promise<QuarantineRecord> {
    const seen = (await this.deps.state.identities())[agentId];
    const record: QuarantineRecord = {
      agentId,
      status: 'isolating',
      since: new Date().toISOString(),
      actor: by.actor,
      reason: by.reason.slice(0, 500),
      violations: by.violations ?? 0,
      ...(seen ? { identity: seen.identity } : {}),
      steps: [],
      attempts: 0,
    };
    if (!(await this.deps.state.claimRecord(agentId, record))) throw new ConflictError(`agent ${agentId} is already in quarantine`);
    this.quarantined.inc({ trigger: by.trigger });
    this.log.error({ agentId, actor: by.actor, reason: record.reason, identity: seen?.identity }, 'agent quarantined: isolating');
    const done = await this.isolate(record);
    await this.refreshGauge();
    return done;
  }

  /** Ends a quarantine (admin): the agent's Redis user on again, its violations forgotten. Throws NotFoundError. */
  async release(agentId: string, actor: string, reason: string): Promise<QuarantineRecord> {
    const record = (await this.deps.state.records())[agentId];
    if (!record) throw new NotFoundError(`agent ${agentId} is not in quarantine`);
    const steps: StepResult[] = [];
    const user = record.identity?.redisUser;
    if (user && record.steps.some((s) => s.step === 'redis-user' && s.outcome === 'done')) {
      steps.push(await this.step('redis-user', async () => ((await this.deps.redis.enableUser(user)) ? `user ${user} on` : fail(`no Redis user ${user}`))));
    } else {
      steps.push({ step: 'redis-user', outcome: 'skipped', detail: 'the quarantine did not switch a Redis user off' });
    }
    if (steps.some((s) => s.outcome === 'failed')) {
      await this.audit('agent.released', record, actor, `release failed: ${reason}`, steps);
      throw new ConflictError(`releasing ${agentId} failed: ${steps.map((s) => `${s.step}: ${s.detail ?? s.outcome}`).join('; ')}`);
    }
    await this.deps.state.deleteRecord(agentId);
    await this.deps.state.clearViolations(agentId);
    await this.audit('agent.released', record, actor, reason, steps);
    this.log.warn({ agentId, actor }, 'agent released from quarantine');
    await this.refreshGauge();
    return { ...record, steps };
  }

  /** Every agent seen (heartbeats) or in quarantine. */
  async agents(): Promise<AgentQuarantineView[]> {
    const [identities, records] = await Promise.all([this.deps.state.identities(), this.deps.state.records()]);
    const ids = [...new Set([...Object.keys(identities), ...Object.keys(records)])].sort();
    return Promise.all(
      ids.map(async (agentId) => {
        const seen = identities[agentId];
        const quarantine = records[agentId];
        return {
          agentId,
          ...(seen ? { service: seen.service, lastHeartbeat: new Date(seen.at).toISOString() } : {}),
          violations: await this.deps.state.violationCount(agentId, Date.now(), this.opts.windowMs),
          ...(quarantine ? { quarantine } : {}),
        };
      }),
    );
  }

  /**
   * Retries what is not done: the failed steps of `partial` quarantines, and the Redis user of a finished one that
   * is on again (an ACL reload restores the file's users). Run it at start and periodically.
   */
  async reconcile(): Promise<void> {
    const records = await this.deps.state.records();
    for (const record of Object.values(records)) {
      if (record.status !== 'quarantined') {
        await this.isolate(record);
        continue;
      }
      const user = record.identity?.redisUser;
      if (user && record.steps.some((s) => s.step === 'redis-user' && s.outcome === 'done') && (await this.deps.redis.userEnabled(user))) {
        this.log.error({ agentId: record.agentId, user }, 'quarantined Redis user was enabled again (ACL reload?); switching it off');
        await this.deps.redis.disableUser(user);
        await this.deps.redis.killConnections(user);
      }
    }
    await this.refreshGauge();
  }

  private async isolate(record: QuarantineRecord): Promise<QuarantineRecord> {
    const previous = new Map(record.steps.map((s) => [s.step, s]));
    const again = (step: QuarantineStep) => previous.get(step)?.outcome !== 'done' && previous.get(step)?.outcome !== 'skipped';
    const steps: StepResult[] = [];
    for (const [step, run] of this.plan(record)) {
      steps.push(again(step) ? await run() : previous.get(step)!);
    }
    const failed = steps.filter((s) => s.outcome === 'failed');
    const next: QuarantineRecord = { ...record, steps, status: failed.length ? 'partial' : 'quarantined', attempts: record.attempts + 1 };
    await this.deps.state.saveRecord(record.agentId, next);
    const changed = JSON.stringify(record.steps) !== JSON.stringify(steps);
    if (changed) await this.audit('agent.quarantined', next, next.actor, next.reason, steps);
    if (failed.length) {
      this.log.error({ agentId: record.agentId, failed }, 'quarantine incomplete: failed steps are retried');
    } else if (changed) {
      this.log.warn({ agentId: record.agentId, steps }, 'agent isolated');
    }
    return next;
  }

  /** The isolation steps in order: stop new work first (Redis), then hand back held work, then credentials, then the pod. */
  private plan(record: QuarantineRecord): [QuarantineStep, () => Promise<StepResult>][] {
    const id = record.identity;
    const skipped = (step: QuarantineStep, detail: string) => async (): Promise<StepResult> => ({ step, outcome: 'skipped', detail });
    if (!id) {
      const detail = 'no heartbeat identity seen for this agent';
      return (['redis-user', 'redis-connections', 'pending-work', 'vault-token', 'pod-label', 'pod-delete'] as const).map((s) => [
        s,
        s === 'redis-user' ? async () => ({ step: s, outcome: 'failed', detail }) : skipped(s, detail),
      ]);
    }
    const user = id.redisUser;
    const steps: [QuarantineStep, () => Promise<StepResult>][] = [];
    const sharing = async () => {
      const identities = await this.deps.state.identities();
      const records = await this.deps.state.records();
      return Object.entries(identities).filter(
        ([agent, seen]) => agent !== record.agentId && seen.identity.redisUser === user && !records[agent] && Date.now() - seen.at < this.opts.staleMs,
      ).length;
    };
    steps.push([
      'redis-user',
      () =>
        this.step('redis-user', async () => {
          if (!this.opts.allowedRedisUsers.test(user)) return fail(`Redis user ${user} may not be switched off by a quarantine`);
          const healthy = await sharing();
          if (healthy > 0) return skip(`Redis user ${user} is shared with ${healthy} healthy agent(s); the pod steps isolate this one`);
          return (await this.deps.redis.disableUser(user)) ? `user ${user} off` : fail(`no Redis user ${user}`);
        }),
    ]);
    steps.push([
      'redis-connections',
      () =>
        this.step('redis-connections', async () => {
          if (!this.opts.allowedRedisUsers.test(user) || (await sharing()) > 0) return skip('Redis user not switched off');
          return `${await this.deps.redis.killConnections(user)} connection(s) of ${user} closed`;
        }),
    ]);
    steps.push([
      'pending-work',
      () =>
        this.step('pending-work', async () => {
          const counts = [];
          for (const { stream, group } of this.opts.workStreams) {
            counts.push(`${(await this.deps.redis.releasePending(stream, group, id.consumer)).length} on ${stream}`);
          }
          return `entries handed back: ${counts.join(', ')}`;
        }),
    ]);
    const vault = this.deps.vault;
    const accessor = id.vaultTokenAccessor;
    steps.push([
      'vault-token',
      !vault
        ? skipped('vault-token', 'the monitor has no Vault identity (AOETL_VAULT_ADDR unset)')
        : !accessor
          ? skipped('vault-token', 'the agent reported no Vault token')
          : () =>
              this.step('vault-token', async () => {
                try {
                  await vault.revokeTokenAccessor(accessor);
                } catch (err) {
                  if (err instanceof NotFoundError) return 'token already revoked or expired';
                  throw err;
                }
                return (await vault.tokenAccessorValid(accessor)) ? fail('token still valid after revocation') : 'token and its leases revoked';
              }),
    ]);
    const pods = this.deps.pods;
    const pod = id.pod;
    if (!pods || !pod) {
      const detail = !pods ? 'not in Kubernetes (AOETL_QUARANTINE_KUBERNETES off)' : 'the agent reported no pod';
      steps.push(['pod-label', skipped('pod-label', detail)], ['pod-delete', skipped('pod-delete', detail)]);
    } else {
      steps.push(
        ['pod-label', () => this.step('pod-label', async () => (await pods.label(pod.namespace, pod.name, this.opts.podLabel, 'true'), `${pod.namespace}/${pod.name} labelled ${this.opts.podLabel}=true`))],
        ['pod-delete', () => this.step('pod-delete', async () => (await pods.delete(pod.namespace, pod.name), `${pod.namespace}/${pod.name} deleted`))],
      );
    }
    return steps;
  }

  /** One step with bounded retries: `done` with what `work` answers, `skipped`/`failed` when it says so or keeps throwing. */
  private async step(step: QuarantineStep, work: () => Promise<string | Skip | Fail>): Promise<StepResult> {
    const attempts = this.opts.attempts ?? 3;
    let last = '';
    for (let attempt = 1; attempt <= attempts; attempt++) {
      try {
        const out = await work();
        if (out instanceof Skip) return { step, outcome: 'skipped', detail: out.detail.slice(0, MAX_DETAIL) };
        if (out instanceof Fail) {
          last = out.detail;
          break; // a refusal, not a fault: another attempt answers the same
        }
        return { step, outcome: 'done', detail: out.slice(0, MAX_DETAIL) };
      } catch (err) {
        last = err instanceof Error ? err.message : String(err);
        this.log.warn({ err, step, attempt }, 'quarantine step failed');
        if (attempt < attempts) await sleep(backoffMs(attempt, 200, 2000));
      }
    }
    this.stepFailures.inc({ step });
    return { step, outcome: 'failed', detail: last.slice(0, MAX_DETAIL) };
  }

  private async audit(
    event: 'agent.quarantined' | 'agent.released',
    record: QuarantineRecord,
    actor: string,
    reason: string,
    steps: StepResult[],
  ): Promise<void> {
    const message = envelope(
      'agent.quarantine',
      {
        event,
        agentId: record.agentId.slice(0, 300),
        actor: actor.slice(0, 300),
        reason: reason.slice(0, 500),
        violations: record.violations,
        steps: steps.map((s) => ({ step: s.step, outcome: s.outcome, ...(s.detail ? { detail: s.detail.slice(0, MAX_DETAIL) } : {}) })),
      },
      { requestId: `quarantine:${record.agentId}`.slice(0, 128) },
    );
    // The audit event must not be lost: retried like a step, and a final failure is thrown to the caller.
    for (let attempt = 1; ; attempt++) {
      try {
        await this.deps.publishAudit(message);
        return;
      } catch (err) {
        if (attempt >= (this.opts.attempts ?? 3)) throw err;
        await sleep(backoffMs(attempt, 200, 2000));
      }
    }
  }

  private async refreshGauge(): Promise<void> {
    this.inQuarantine.set(Object.keys(await this.deps.state.records()).length);
  }
}

class Skip {
  constructor(readonly detail: string) {}
}
class Fail {
  constructor(readonly detail: string) {}
}
const skip = (detail: string) => new Skip(detail);
const fail = (detail: string) => new Fail(detail);

export type { SeenIdentity };
