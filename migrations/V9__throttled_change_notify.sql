-- One NOTIFY per refresh cycle instead of one per writing transaction.
--
-- A transaction that has sent NOTIFY takes a database-wide lock at commit to append to the
-- notification queue, so notifying on every write serializes all writing commits: measured
-- with pgbench (8 clients, single-row prospect updates, fsync on) at ~300-670 tps with a NOTIFY
-- per statement against ~1,900 with the same capture and no NOTIFY, and ~2,100 with no capture.
--
-- change_signal.pending says "refresh-svc has been woken and not yet started draining". The
-- first writer that finds it false sets it and notifies; everyone after skips the NOTIFY until
-- refresh-svc clears the flag at the start of its next drain. A writer that skipped the NOTIFY
-- while refresh-svc was finishing a drain is picked up by refresh-svc's next change-log probe
-- (LMA_CHANGE_PROBE_MS): the change log stays the truth, the notification only a wake-up.

CREATE TABLE change_signal (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    pending   boolean NOT NULL
);

INSERT INTO change_signal (singleton, pending) VALUES (true, false);

CREATE FUNCTION signal_change() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, public
AS $$
BEGIN
    -- The common case under load: already signalled, nothing to lock.
    IF (SELECT pending FROM change_signal) THEN
        RETURN;
    END IF;
    -- SKIP LOCKED: another writer holding the row is signalling right now, and a long import
    -- holding it must never make short writes wait.
    PERFORM 1 FROM change_signal WHERE NOT pending FOR UPDATE SKIP LOCKED;
    IF FOUND THEN
        UPDATE change_signal SET pending = true;
        PERFORM pg_notify('lma_change_log', '');
    END IF;
END
$$;

REVOKE ALL ON FUNCTION signal_change() FROM PUBLIC;

CREATE OR REPLACE FUNCTION capture_company_change() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, public
AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO change_log (organization_id, company_id, source_table)
        SELECT organization_id, id, 'company' FROM old_rows;
    ELSE
        INSERT INTO change_log (organization_id, company_id, source_table)
        SELECT organization_id, id, 'company' FROM new_rows;
    END IF;
    IF FOUND THEN
        PERFORM signal_change();
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION capture_prospect_change() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, public
AS $$
BEGIN
    -- One change-log row per company touched, however many of its prospects changed.
    IF TG_OP = 'INSERT' THEN
        INSERT INTO change_log (organization_id, company_id, source_table)
        SELECT DISTINCT organization_id, company_id, 'prospect' FROM new_rows;
    ELSIF TG_OP = 'UPDATE' THEN
        -- A prospect that moved changes both its old and its new company.
        INSERT INTO change_log (organization_id, company_id, source_table)
        SELECT organization_id, company_id, 'prospect' FROM new_rows
        UNION
        SELECT organization_id, company_id, 'prospect' FROM old_rows;
    ELSE
        INSERT INTO change_log (organization_id, company_id, source_table)
        SELECT DISTINCT organization_id, company_id, 'prospect' FROM old_rows;
    END IF;
    IF FOUND THEN
        PERFORM signal_change();
    END IF;
    RETURN NULL;
END
$$;

-- refresh-svc clears the flag when it starts draining.
GRANT SELECT, UPDATE ON change_signal TO lma_refresh;
