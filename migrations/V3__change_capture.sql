-- Change capture: statement-level triggers record which companies and prospects changed in a
-- durable change log and wake refresh-svc with a NOTIFY. The log is the truth; the notification
-- is only a wake-up (docs/REFRESH.md).
--
-- The triggers run as the writer, not SECURITY DEFINER: saving and restoring the settings of a
-- SECURITY DEFINER function on every captured statement costs more than the capture itself. The
-- writing role may therefore append to the change log and read the signal, and nothing else
-- (V7__grants.sql). Names in the trigger functions are schema-qualified, so a writer's
-- search_path cannot redirect them to objects other than the ones it may use anyway.

CREATE TABLE change_log (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organization_id bigint NOT NULL,
    -- The read models are re-derived per company: a prospect change names its company.
    company_id      bigint NOT NULL,
    source_table    text NOT NULL,
    -- The writing transaction; refresh-svc's watermark is compared with it. Not indexed: only
    -- the apply's min(xid) reads it, over a log the apply keeps short, and every captured write
    -- would pay for the index entry.
    xid             xid8 NOT NULL DEFAULT pg_current_xact_id(),
    -- W3C trace context of the write, when the writer set lma.traceparent, so a refresh can link
    -- to the traces of the writes it applied.
    traceparent     text DEFAULT nullif(current_setting('lma.traceparent', true), ''),
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    -- The prospect that changed: the apply re-derives that prospect's rows (and its company's
    -- summary). NULL means every row of the company: a company change, or a statement that
    -- inserted or deleted so many prospects that naming each would only bloat the log.
    prospect_id     bigint
);

-- One NOTIFY per refresh cycle, not one per writing transaction: a transaction that has sent
-- NOTIFY takes a database-wide lock at commit to append to the notification queue, so notifying
-- on every write would serialize all writing commits.
--
-- pending says "refresh-svc has been woken and not yet started draining". The first writer that
-- finds it false sets it and notifies; everyone after skips the NOTIFY until refresh-svc clears
-- the flag at the start of its next drain. A writer that skipped the NOTIFY while refresh-svc
-- was finishing a drain is picked up by refresh-svc's next change-log probe
-- (LMA_CHANGE_PROBE_MS).
CREATE TABLE change_signal (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    pending   boolean NOT NULL
);

-- The one row every writer and refresh-svc update; nothing ever inserts another.
INSERT INTO change_signal (singleton, pending) VALUES (true, false);

-- A writing session looks at change_signal once per drain, not on every write: reading the
-- table would be a query of its own in every captured statement.
--
-- refresh-svc takes the next value of this sequence at the start of every drain, after clearing
-- the signal. A session that has looked at the signal remembers the generation it looked in
-- (the session setting lma.signal_checked; a rolled-back transaction forgets it) and does not
-- look again until the generation moves. That skips nothing the signal would have sent: after
-- a session's look the signal is set (by it or by the writer it found), and stays set until the
-- next drain begins.
--
-- The order matters. A session reads the generation before the signal; refresh-svc clears the
-- signal, commits, and only then moves the generation. A session that still read the old
-- generation but already the cleared signal notifies; one that read the new generation reads the
-- cleared signal too.
CREATE SEQUENCE change_drain_generation;
-- pg_sequence_last_value() is NULL until the first nextval(), and the triggers compare with it.
SELECT nextval('change_drain_generation');

-- SECURITY DEFINER: the writer may read change_signal but not update it.
CREATE FUNCTION signal_change() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, public
AS $$
DECLARE
    -- Before the signal: see above.
    generation bigint := pg_sequence_last_value('change_drain_generation');
BEGIN
    -- SKIP LOCKED: another writer holding the row is signalling right now, and a long import
    -- holding it must never make short writes wait.
    IF NOT (SELECT pending FROM change_signal) THEN
        PERFORM 1 FROM change_signal WHERE NOT pending FOR UPDATE SKIP LOCKED;
        IF FOUND THEN
            UPDATE change_signal SET pending = true;
            PERFORM pg_notify('lma_change_log', '');
        END IF;
    END IF;
    -- Not LOCAL: it outlives this transaction, unless the transaction rolls back.
    PERFORM set_config('lma.signal_checked', generation::text, false);
END
$$;

-- In the same transaction as the function: a SECURITY DEFINER function is never callable by
-- everyone, not even between two migrations.
REVOKE ALL ON FUNCTION signal_change() FROM PUBLIC;

CREATE FUNCTION capture_company_change() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO public.change_log (organization_id, company_id, source_table)
        SELECT organization_id, id, 'company' FROM old_rows;
    ELSE
        INSERT INTO public.change_log (organization_id, company_id, source_table)
        SELECT organization_id, id, 'company' FROM new_rows;
    END IF;
    IF FOUND AND pg_catalog.pg_sequence_last_value('public.change_drain_generation'::regclass)::text
            IS DISTINCT FROM pg_catalog.current_setting('lma.signal_checked', true) THEN
        PERFORM public.signal_change();
    END IF;
    RETURN NULL;
END
$$;

-- An update logs each prospect it changed, however many: each of those rows was written anyway,
-- so the log grows with the change, and a re-import that changes nothing writes nothing
-- (ingest-svc leaves unchanged rows alone). An insert or delete of more than 64 prospects (an
-- import, a purge) names their companies only: a million imported prospects make one row per
-- company, and the apply re-derives whole companies, as many rows either way.
CREATE FUNCTION capture_prospect_change() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        INSERT INTO public.change_log (organization_id, company_id, prospect_id, source_table)
        SELECT organization_id, company_id, id, 'prospect' FROM new_rows;
    ELSIF TG_OP = 'INSERT' THEN
        INSERT INTO public.change_log (organization_id, company_id, prospect_id, source_table)
        SELECT DISTINCT organization_id, company_id,
            CASE WHEN count(*) OVER () <= 64 THEN id END, 'prospect'
        FROM new_rows;
    ELSE
        INSERT INTO public.change_log (organization_id, company_id, prospect_id, source_table)
        SELECT DISTINCT organization_id, company_id,
            CASE WHEN count(*) OVER () <= 64 THEN id END, 'prospect'
        FROM old_rows;
    END IF;
    -- Function calls, no query: PL/pgSQL evaluates this without the executor.
    IF FOUND AND pg_catalog.pg_sequence_last_value('public.change_drain_generation'::regclass)::text
            IS DISTINCT FROM pg_catalog.current_setting('lma.signal_checked', true) THEN
        PERFORM public.signal_change();
    END IF;
    RETURN NULL;
END
$$;

-- The old company of a prospect that moved: its summary and rows lose the prospect. The new
-- company is in the statement's own row, logged by capture_prospect_change().
CREATE FUNCTION capture_prospect_move() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    INSERT INTO public.change_log (organization_id, company_id, prospect_id, source_table)
    VALUES (OLD.organization_id, OLD.company_id, OLD.id, 'prospect');
    RETURN NULL;
END
$$;

-- Only ever called as triggers.
REVOKE ALL ON FUNCTION capture_company_change() FROM PUBLIC;
REVOKE ALL ON FUNCTION capture_prospect_change() FROM PUBLIC;
REVOKE ALL ON FUNCTION capture_prospect_move() FROM PUBLIC;

-- Updates capture only their new rows: an old-rows transition table would be filled on every
-- update for the rare one that moves a prospect, which prospect_capture_move handles.
CREATE TRIGGER company_capture_insert
    AFTER INSERT ON company REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION capture_company_change();
CREATE TRIGGER company_capture_update
    AFTER UPDATE ON company REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION capture_company_change();
CREATE TRIGGER company_capture_delete
    AFTER DELETE ON company REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION capture_company_change();

CREATE TRIGGER prospect_capture_insert
    AFTER INSERT ON prospect REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION capture_prospect_change();
CREATE TRIGGER prospect_capture_update
    AFTER UPDATE ON prospect REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION capture_prospect_change();
CREATE TRIGGER prospect_capture_delete
    AFTER DELETE ON prospect REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION capture_prospect_change();

-- An update that does not set company_id skips this trigger before its WHEN is even read (a
-- WHEN is parsed anew for every statement); one that sets it to the same company skips the
-- function. Only an UPDATE's SET can change company_id: no BEFORE trigger writes it.
CREATE TRIGGER prospect_capture_move
    AFTER UPDATE OF company_id ON prospect
    FOR EACH ROW WHEN (OLD.company_id IS DISTINCT FROM NEW.company_id)
    EXECUTE FUNCTION capture_prospect_move();
