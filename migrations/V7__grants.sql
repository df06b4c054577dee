-- What each service's role may do. Nothing is granted to PUBLIC. ingest writes the base tables;
-- refresh reads them and owns the read models; search can read the read models and nothing
-- else. The rule is enforced here, not by habit.

-- Every service checks the schema version and authenticates callers.
GRANT SELECT ON refinery_schema_history TO lma_ingest, lma_refresh, lma_search;
GRANT EXECUTE ON FUNCTION authenticate_api_key(bytea) TO lma_ingest, lma_refresh, lma_search;

-- The base tables: ingest writes them; refresh reads them through the definitions.
GRANT SELECT, INSERT, UPDATE, DELETE ON company, prospect, customer TO lma_ingest;
GRANT SELECT ON company, prospect TO lma_refresh;

-- Change capture. refresh drains the log (FOR UPDATE SKIP LOCKED, claiming a batch, needs
-- UPDATE as well) and clears the signal when it starts draining. The capture triggers run as
-- the writer, which may append to the log, read the signal and its generation, and set the
-- signal through signal_change(), and nothing more: it can neither read nor delete the log.
GRANT SELECT, UPDATE, DELETE ON change_log TO lma_refresh;
GRANT INSERT ON change_log TO lma_ingest;
GRANT SELECT, UPDATE ON change_signal TO lma_refresh;
GRANT SELECT ON change_signal TO lma_ingest;
GRANT EXECUTE ON FUNCTION signal_change() TO lma_ingest;
GRANT SELECT ON SEQUENCE change_drain_generation TO lma_ingest;
GRANT USAGE ON SEQUENCE change_drain_generation TO lma_refresh;

-- The read models: refresh owns them, so a full rebuild can create a replacement and swap
-- names, and reads the definitions; search reads the tables.
GRANT CREATE ON SCHEMA public TO lma_refresh;
GRANT SELECT ON company_prospect_def, prospect_search_def, company_summary_def TO lma_refresh;
ALTER TABLE company_prospect_view OWNER TO lma_refresh;
ALTER TABLE prospect_search_view OWNER TO lma_refresh;
ALTER TABLE company_summary_view OWNER TO lma_refresh;
GRANT SELECT ON company_prospect_view, prospect_search_view, company_summary_view TO lma_search;
-- Used by the read models' indexes and definitions, and in search-svc's queries.
GRANT EXECUTE ON FUNCTION lower_tags(text[]) TO lma_refresh, lma_search;
GRANT EXECUTE ON FUNCTION prospect_trigram_text(text, text, text, text, text)
    TO lma_refresh, lma_search;
GRANT EXECUTE ON FUNCTION employee_size_bucket(integer, integer) TO lma_refresh, lma_search;
GRANT EXECUTE ON FUNCTION prospect_text_known(bigint, text) TO lma_search;

-- refresh-svc's state. search reads the watermarks, and the companies still being re-derived,
-- which hold an organization's effective watermark back.
GRANT SELECT, UPDATE ON read_model_state TO lma_refresh;
GRANT SELECT ON read_model_state TO lma_search;
GRANT SELECT, INSERT, UPDATE, DELETE ON read_model_organization_state TO lma_refresh;
GRANT SELECT, INSERT, DELETE ON materialized_view_log, materialized_view_error TO lma_refresh;
-- LOCK TABLE ... IN EXCLUSIVE MODE needs UPDATE.
GRANT SELECT, UPDATE ON refresh_apply_lock TO lma_refresh;
GRANT SELECT, INSERT, UPDATE ON refresh_leader TO lma_refresh;
GRANT SELECT, INSERT, UPDATE, DELETE ON company_rederivation TO lma_refresh;
GRANT SELECT ON company_rederivation TO lma_search;
