-- refresh-svc complete (issue 4): leadership among replicas, the apply lock, and what GetStatus
-- reports per read model.

-- Serializes everything that writes the read models (incremental apply, full rebuild, reconcile
-- repair) across replicas. Taken with LOCK TABLE, which, unlike a SELECT of an advisory-lock
-- function, does not fix a REPEATABLE READ transaction's snapshot: the applier's snapshot is
-- therefore always taken after the previous holder committed. Never written, so autovacuum never
-- takes a conflicting lock on it.
CREATE TABLE refresh_apply_lock ();

-- The replica holding the leader's session advisory lock registers itself here. A row is only
-- believed while its backend still holds that lock (GetStatus checks pg_locks), so a dead
-- leader's row is harmless and simply overwritten by the next one.
CREATE TABLE refresh_leader (
    singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    replica     text NOT NULL,
    backend_pid integer NOT NULL,
    since       timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE read_model_state
    -- Rows in the read model: exact after a rebuild, kept by every apply and repair since, so
    -- status needs no count(*) over a million rows.
    ADD COLUMN row_count bigint NOT NULL DEFAULT 0,
    -- A failed apply of this model lost its share of a claimed batch: only a full rebuild makes
    -- it whole again. Until then its watermark stands still and the leader retries the rebuild.
    ADD COLUMN needs_rebuild boolean NOT NULL DEFAULT false,
    -- The most recent failure since the last success (history: materialized_view_error).
    ADD COLUMN last_error text,
    ADD COLUMN last_error_at timestamptz;

UPDATE read_model_state s
SET row_count = counted.n
FROM (
    SELECT 'company_prospect_view' AS read_model, count(*) AS n FROM company_prospect_view
    UNION ALL SELECT 'company_summary_view', count(*) FROM company_summary_view
    UNION ALL SELECT 'prospect_search_view', count(*) FROM prospect_search_view
) counted
WHERE counted.read_model = s.read_model;

-- LOCK TABLE ... IN EXCLUSIVE MODE needs UPDATE.
GRANT SELECT, UPDATE ON refresh_apply_lock TO lma_refresh;
GRANT SELECT, INSERT, UPDATE ON refresh_leader TO lma_refresh;
