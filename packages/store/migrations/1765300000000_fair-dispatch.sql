-- Up Migration
-- Fair dispatch across tenants (issue 13, finding 5): a running run's chunk tasks go out as its tenant's in-flight
-- cap allows, oldest run first; chunks_dispatched counts the chunks sent (0 … chunks_dispatched-1). Runs already
-- running sent all of theirs when they started.
ALTER TABLE runs ADD COLUMN chunks_dispatched integer NOT NULL DEFAULT 0 CHECK (chunks_dispatched >= 0);
UPDATE runs SET chunks_dispatched = chunks WHERE status = 'running';
CREATE INDEX runs_running_by_tenant ON runs (tenant, created_at) WHERE status = 'running';

-- Down Migration
DROP INDEX runs_running_by_tenant;
ALTER TABLE runs DROP COLUMN chunks_dispatched;
