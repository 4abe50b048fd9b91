import type { AgentIdentity, QuarantineAudit, QuarantineStep } from '@aoetl/contracts';

/** Redis side (`@aoetl/bus` RedisAccessControl, as the monitor's quarantine ACL user). */
export interface RedisIsolation {
  disableUser(user: string): Promise<boolean>;
  enableUser(user: string): Promise<boolean>;
  userEnabled(user: string): Promise<boolean | null>;
  killConnections(user: string): Promise<number>;
  releasePending(stream: string, group: string, consumer: string): Promise<string[]>;
}

/** Durable, shared state of the quarantine (every monitor replica sees the same): Redis hashes and sorted sets. */
export interface QuarantineState {
  /** Counts a violation (idempotent per `eventId`) in the sliding window; answers the agent's count in it. */
  countViolation(agentId: string, eventId: string, atMs: number, windowMs: number): Promise<number>;
  /** The agent's violations in the window ending now. */
  violationCount(agentId: string, nowMs: number, windowMs: number): Promise<number>;
  clearViolations(agentId: string): Promise<void>;
  saveIdentity(agentId: string, seen: SeenIdentity): Promise<void>;
  identities(): Promise<Record<string, SeenIdentity>>;
  /** Stores `record` only when the agent has none (one replica wins a race); answers whether it did. */
  claimRecord(agentId: string, record: QuarantineRecord): Promise<boolean>;
  saveRecord(agentId: string, record: QuarantineRecord): Promise<void>;
  deleteRecord(agentId: string): Promise<void>;
  records(): Promise<Record<string, QuarantineRecord>>;
}

/** Vault side (`@aoetl/secrets` VaultSecretStore, as the monitor's own narrowly-scoped identity). */
export interface VaultIsolation {
  revokeTokenAccessor(accessor: string): Promise<void>;
  tokenAccessorValid(accessor: string): Promise<boolean>;
}

/** Kubernetes side (KubernetesPodIsolation over @kubernetes/client-node). */
export interface PodIsolation {
  label(namespace: string, name: string, key: string, value: string): Promise<void>;
  /** Deletes the pod; a pod already gone is not an error. */
  delete(namespace: string, name: string): Promise<void>;
}

export interface SeenIdentity {
  service: string;
  identity: AgentIdentity;
  /** Last heartbeat, ms since the epoch. */
  at: number;
}

export type StepOutcome = 'done' | 'failed' | 'skipped';
export interface StepResult {
  step: QuarantineStep;
  outcome: StepOutcome;
  detail?: string;
}

export interface QuarantineRecord {
  agentId: string;
  /** `isolating` while the steps run; `partial` while some step failed (retried until done); then `quarantined`. */
  status: 'isolating' | 'partial' | 'quarantined';
  since: string;
  actor: string;
  reason: string;
  violations: number;
  identity?: AgentIdentity;
  steps: StepResult[];
  attempts: number;
}

export type AuditPublisher = (message: QuarantineAudit) => Promise<unknown>;
