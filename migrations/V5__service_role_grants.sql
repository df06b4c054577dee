-- What each service's role may do (DESIGN.md section 6). Nothing is granted to PUBLIC.
-- ingest writes the base tables; refresh reads them and owns the read models; search can SELECT
-- the read models and nothing else. The rule is enforced here, not by habit.

GRANT SELECT ON refinery_schema_history TO lma_ingest, lma_refresh, lma_search;
GRANT EXECUTE ON FUNCTION authenticate_api_key(bytea) TO lma_ingest, lma_refresh, lma_search;

-- ingest-svc
GRANT SELECT, INSERT, UPDATE, DELETE ON company, prospect, customer TO lma_ingest;

-- refresh-svc: reads the base tables (through the definitions), drains the change log, owns the
-- read models so a full rebuild can create a replacement and swap names.
GRANT SELECT ON company, prospect TO lma_refresh;
GRANT SELECT ON company_prospect_def, prospect_search_def, company_summary_def TO lma_refresh;
-- FOR UPDATE SKIP LOCKED (claiming a batch) needs UPDATE as well.
GRANT SELECT, UPDATE, DELETE ON change_log TO lma_refresh;
-- refresh-svc clears the change signal when it starts draining.
GRANT SELECT, UPDATE ON change_signal TO lma_refresh;
GRANT CREATE ON SCHEMA public TO lma_refresh;
ALTER TABLE company_prospect_view OWNER TO lma_refresh;
ALTER TABLE prospect_search_view OWNER TO lma_refresh;
ALTER TABLE company_summary_view OWNER TO lma_refresh;
GRANT SELECT, UPDATE ON read_model_state TO lma_refresh;
GRANT SELECT, INSERT, DELETE ON materialized_view_log, materialized_view_error TO lma_refresh;

-- search-svc
GRANT SELECT ON company_prospect_view, prospect_search_view, company_summary_view TO lma_search;
GRANT SELECT ON read_model_state TO lma_search;
