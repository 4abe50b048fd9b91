import type pg from 'pg';
import { Approvals } from './approvals.js';
import { Artifacts } from './artifacts.js';
import { Connections } from './connections.js';
import { Ledger } from './ledger.js';
import { Lineage } from './lineage.js';
import { LlmPlans } from './llm-plans.js';
import { Outbox } from './outbox.js';
import { Pipelines } from './pipelines.js';
import { Retention } from './retention.js';
import { Runs } from './runs.js';

/**
 * The control database, one repository per aggregate over one pool. Every repository returns records and throws
 * domain errors (`@aoetl/contracts`) whose `details[].field` names a domain field (`cursor`, `name`), never a
 * request path; what to do next is the caller's decision.
 */
export class Store {
  readonly outbox: Outbox;
  readonly pipelines: Pipelines;
  readonly runs: Runs;
  readonly approvals: Approvals;
  readonly connections: Connections;
  readonly artifacts: Artifacts;
  readonly ledger: Ledger;
  readonly lineage: Lineage;
  readonly retention: Retention;
  readonly llmPlans: LlmPlans;

  /** `producer` names this service's outbox rows: its relay publishes only those. */
  constructor(
    private readonly pool: pg.Pool,
    producer: string,
  ) {
    this.outbox = new Outbox(pool, producer);
    this.pipelines = new Pipelines(pool);
    this.runs = new Runs(pool, this.outbox);
    this.approvals = new Approvals(pool, this.outbox);
    this.connections = new Connections(pool);
    this.artifacts = new Artifacts(pool, this.pipelines);
    this.ledger = new Ledger(pool);
    this.lineage = new Lineage(pool);
    this.retention = new Retention(pool);
    this.llmPlans = new LlmPlans(pool);
  }

  async ping(): Promise<void> {
    await this.pool.query('SELECT 1');
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
