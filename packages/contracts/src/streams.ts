/** Redis stream names and consumer groups. The deploy scripts and the Helm chart use the same names. */
export const STREAMS = {
  requests: 'aoetl:requests',
  tasks: 'aoetl:tasks',
  events: 'aoetl:events',
  deadletter: 'aoetl:deadletter',
} as const;
export type StreamName = (typeof STREAMS)[keyof typeof STREAMS];

export const GROUPS = {
  orchestrator: 'orchestrator',
  etlAgent: 'etl-agent',
  monitor: 'monitor',
} as const;
