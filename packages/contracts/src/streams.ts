/** Redis stream names and consumer groups. The deploy scripts and the Helm chart use the same names. */
export const STREAMS = {
  requests: 'aoetl:requests',
  tasks: 'aoetl:tasks',
  events: 'aoetl:events',
  deadletter: 'aoetl:deadletter',
  /** Transform previews for the etl-agents (docs/adr/0005-preview.md); replies go to per-preview streams. */
  previews: 'aoetl:previews',
} as const;
export type StreamName = (typeof STREAMS)[keyof typeof STREAMS];

export const GROUPS = {
  orchestrator: 'orchestrator',
  etlAgent: 'etl-agent',
  monitor: 'monitor',
} as const;
