-- Change capture does less per writing statement (issue 4, (d): what capture costs writers).
-- - The prospect trigger counts its rows in the same statement that logs them (a window count)
--   instead of a query of its own before it.
-- - Both triggers test the change signal themselves and call signal_change() only when it is
--   clear. Under load it almost never is (refresh-svc clears it once per drain), and the call
--   cost a SECURITY DEFINER function's setup for a single boolean.
CREATE OR REPLACE FUNCTION capture_prospect_change() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, public
AS $$
BEGIN
    -- A statement of more than 64 prospects (an import) names their companies only (V18).
    IF TG_OP = 'INSERT' THEN
        INSERT INTO change_log (organization_id, company_id, prospect_id, source_table)
        SELECT DISTINCT organization_id, company_id,
            CASE WHEN count(*) OVER () <= 64 THEN id END, 'prospect'
        FROM new_rows;
    ELSIF TG_OP = 'UPDATE' THEN
        -- A prospect that moved changes both its old and its new company. Old and new rows
        -- both count, hence twice the limit.
        INSERT INTO change_log (organization_id, company_id, prospect_id, source_table)
        SELECT DISTINCT organization_id, company_id,
            CASE WHEN count(*) OVER () <= 128 THEN id END, 'prospect'
        FROM (SELECT organization_id, company_id, id FROM new_rows
              UNION ALL
              SELECT organization_id, company_id, id FROM old_rows) AS changed;
    ELSE
        INSERT INTO change_log (organization_id, company_id, prospect_id, source_table)
        SELECT DISTINCT organization_id, company_id,
            CASE WHEN count(*) OVER () <= 64 THEN id END, 'prospect'
        FROM old_rows;
    END IF;
    IF FOUND AND NOT (SELECT pending FROM change_signal) THEN
        PERFORM signal_change();
    END IF;
    RETURN NULL;
END
$$;

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
    IF FOUND AND NOT (SELECT pending FROM change_signal) THEN
        PERFORM signal_change();
    END IF;
    RETURN NULL;
END
$$;
