export { QuarantineService, type AgentQuarantineView, type QuarantineDeps, type QuarantineOptions } from './quarantine.js';
export { KubernetesPodIsolation } from './kubernetes.js';
export type {
  AuditPublisher,
  PodIsolation,
  QuarantineRecord,
  QuarantineState,
  RedisIsolation,
  SeenIdentity,
  StepOutcome,
  StepResult,
  VaultIsolation,
} from './ports.js';
