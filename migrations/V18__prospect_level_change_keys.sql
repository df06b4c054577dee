-- A prospect's change names the prospect, not only its company (issue 4). The incremental apply
-- re-derived every row of a changed company: a write to one prospect recomputed the rows of all
-- ten prospects of its company in two read models, nine of them unchanged. Now a change-log row
-- with a prospect_id re-derives that prospect's rows (and its company's summary); a NULL
-- prospect_id still means "every row of the company" (a company change).
ALTER TABLE change_log ADD COLUMN prospect_id bigint;

-- A statement that writes more prospects than this (an import) records their companies instead:
-- a million imported prospects make 100,000 change-log rows, not a million, and the apply
-- re-derives whole companies, as many rows either way. The count reads at most 65 rows.
CREATE OR REPLACE FUNCTION capture_prospect_change() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, public
AS $$
DECLARE
    bulk boolean;
BEGIN
    IF TG_OP = 'INSERT' THEN
        bulk := (SELECT count(*) FROM (SELECT FROM new_rows LIMIT 65) AS firsts) > 64;
        INSERT INTO change_log (organization_id, company_id, prospect_id, source_table)
        SELECT DISTINCT organization_id, company_id, CASE WHEN NOT bulk THEN id END, 'prospect'
        FROM new_rows;
    ELSIF TG_OP = 'UPDATE' THEN
        bulk := (SELECT count(*) FROM (SELECT FROM new_rows LIMIT 65) AS firsts) > 64;
        -- A prospect that moved changes both its old and its new company.
        INSERT INTO change_log (organization_id, company_id, prospect_id, source_table)
        SELECT organization_id, company_id, CASE WHEN NOT bulk THEN id END, 'prospect'
        FROM new_rows
        UNION
        SELECT organization_id, company_id, CASE WHEN NOT bulk THEN id END, 'prospect'
        FROM old_rows;
    ELSE
        bulk := (SELECT count(*) FROM (SELECT FROM old_rows LIMIT 65) AS firsts) > 64;
        INSERT INTO change_log (organization_id, company_id, prospect_id, source_table)
        SELECT DISTINCT organization_id, company_id, CASE WHEN NOT bulk THEN id END, 'prospect'
        FROM old_rows;
    END IF;
    IF FOUND THEN
        PERFORM signal_change();
    END IF;
    RETURN NULL;
END
$$;
