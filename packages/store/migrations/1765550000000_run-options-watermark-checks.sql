-- Up Migration
-- Incremental loads and quality gates (issue 15). A run records the options it was submitted with (a full refresh),
-- the watermark window its first chunk fixed in the target database (what it started from and extracted up to),
-- and the results of its quality checks when it succeeded (a failed gate's results are in `error.checks`).
ALTER TABLE runs ADD COLUMN options jsonb NOT NULL DEFAULT '{}'::jsonb;
ALTER TABLE runs ADD COLUMN watermark jsonb;
ALTER TABLE runs ADD COLUMN checks jsonb;

-- Down Migration
ALTER TABLE runs DROP COLUMN checks;
ALTER TABLE runs DROP COLUMN watermark;
ALTER TABLE runs DROP COLUMN options;
