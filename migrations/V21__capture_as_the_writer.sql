-- Change capture at a third of its cost (issue 4, (d): capture may cost writers at most 15%).
-- Server-side cost of a single-row prospect update (a DO loop of 3,000 updates, minimum of 12
-- rounds, 200k prospects): 51 us without capture, +48 us with V20's, +22 us with this one.
-- Where V20's time went, and what replaces it:
-- - SECURITY DEFINER with SET search_path (~10 us): every call saved and restored the settings.
--   The triggers now run as the writer, which may append to the change log and read the signal
--   and nothing else (no SELECT, UPDATE or DELETE of change_log). Names are schema-qualified, so
--   a writer's search_path cannot redirect them; it could only redirect them to objects the
--   writer may use anyway.
-- - An update's old rows (~11 us): every update captured its old rows in a second transition
--   table and ran them through UNION and DISTINCT, only to find the prospect's old company in the
--   rare update that moves it. A row trigger that fires only for a move now logs the old company,
--   and only then.
-- - An update's count of its rows (~7 us): an update logs each prospect it changed, however many.
--   Each of those rows was written anyway, so the log grows with the change, and a re-import that
--   changes nothing writes nothing (ingest-svc leaves unchanged rows alone). Inserts and deletes,
--   where imports and purges happen, still record companies above 64 rows (V18).

GRANT INSERT ON change_log TO lma_ingest;
GRANT SELECT ON change_signal TO lma_ingest;
GRANT EXECUTE ON FUNCTION signal_change() TO lma_ingest;

CREATE OR REPLACE FUNCTION capture_prospect_change() RETURNS trigger
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
    IF FOUND AND NOT (SELECT pending FROM public.change_signal) THEN
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

REVOKE ALL ON FUNCTION capture_prospect_move() FROM PUBLIC;

CREATE OR REPLACE FUNCTION capture_company_change() RETURNS trigger
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
    IF FOUND AND NOT (SELECT pending FROM public.change_signal) THEN
        PERFORM public.signal_change();
    END IF;
    RETURN NULL;
END
$$;

-- Updates no longer read their old rows: no second transition table to fill.
DROP TRIGGER prospect_capture_update ON prospect;
CREATE TRIGGER prospect_capture_update
    AFTER UPDATE ON prospect REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION capture_prospect_change();
DROP TRIGGER company_capture_update ON company;
CREATE TRIGGER company_capture_update
    AFTER UPDATE ON company REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION capture_company_change();

-- An update that does not set company_id skips this trigger before its WHEN is even read (a
-- WHEN is parsed anew for every statement); one that sets it to the same company skips the
-- function. Only an UPDATE's SET can change company_id: no BEFORE trigger writes it.
CREATE TRIGGER prospect_capture_move
    AFTER UPDATE OF company_id ON prospect
    FOR EACH ROW WHEN (OLD.company_id IS DISTINCT FROM NEW.company_id)
    EXECUTE FUNCTION capture_prospect_move();
