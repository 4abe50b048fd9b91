-- Up Migration
-- Per-run CPU budget (issue 13, finding 5): the sandbox CPU time of each staged chunk, summed per run by the
-- orchestrator against AOETL_RUN_CPU_BUDGET_SECONDS.
ALTER TABLE run_chunks ADD COLUMN cpu_ms bigint CHECK (cpu_ms >= 0);

-- Down Migration
ALTER TABLE run_chunks DROP COLUMN cpu_ms;
