-- What search-svc's filters, sorts and text search need on the read models (docs/SEARCH.md).
-- Indexes and statistics live on the tables; a full rebuild recreates them from the catalog,
-- with their storage parameters. Every B-tree a tenant query uses leads with organization_id.
-- The GIN indexes do not: a posting list for the organization would be as long as the tenant
-- and add nothing to the filter; the heap check drops other tenants' rows.

-- Trigram matching: the substring and typo-tolerant fallback when full text finds nothing.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
-- Equality filters on plain columns inside a multi-column GIN index.
CREATE EXTENSION IF NOT EXISTS btree_gin;
-- TABLESAMPLE SYSTEM_ROWS, for prospect_text_known() below.
CREATE EXTENSION IF NOT EXISTS tsm_system_rows;

-- The text trigram matching looks at: who, where they work, what they do. Lower case.
CREATE FUNCTION prospect_trigram_text(
    full_name text, email text, job_title text, company_name text, industry text
) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT lower(concat_ws(' ', full_name, email, job_title, company_name, industry))
$$;

-- The CountProspects employee-size facet: "1-10", "11-50", "51-200", "201-1000", "1001-5000",
-- "5001+", or "unknown". A company is placed by its lower bound, or its upper one if that is all
-- that is known.
CREATE FUNCTION employee_size_bucket(min_employees integer, max_employees integer) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE
        WHEN coalesce(min_employees, max_employees) IS NULL THEN 'unknown'
        WHEN coalesce(min_employees, max_employees) <= 10 THEN '1-10'
        WHEN coalesce(min_employees, max_employees) <= 50 THEN '11-50'
        WHEN coalesce(min_employees, max_employees) <= 200 THEN '51-200'
        WHEN coalesce(min_employees, max_employees) <= 1000 THEN '201-1000'
        WHEN coalesce(min_employees, max_employees) <= 5000 THEN '1001-5000'
        ELSE '5001+'
    END
$$;

-- The GIN indexes of the read models may hold a second or more of writes in their pending
-- lists: refresh-svc's leader merges the lists off the applies (LMA_GIN_MERGE_INTERVAL_MS), and
-- with the default limit (4 MB) an apply would overflow a list and merge it inside its own
-- transaction. If the merger stops, a write that fills a list merges it as before, so the lists
-- stay bounded. gin_pending_list_limit is in kB.

-- prospect_search_view: the list filters and free text in one GIN index, which intersects the
-- posting lists of every filter of a search (department AND city, text AND country) inside the
-- index, so a combination that matches few rows costs few heap reads whatever the sort. It
-- serves each filter alone as well.
CREATE INDEX prospect_search_view_filters_text_idx
    ON prospect_search_view USING gin (
        lower(industry), lower(department), job_title_level, lower(country), lower(state),
        lower(city), search_document)
    WITH (gin_pending_list_limit = 16384);
-- Tags and custom fields: one index intersects both for a search with both.
CREATE INDEX prospect_search_view_tags_fields_idx
    ON prospect_search_view USING gin (search_tags, custom_fields jsonb_path_ops)
    WITH (gin_pending_list_limit = 16384);
CREATE INDEX prospect_search_view_trigram_idx
    ON prospect_search_view USING gin (
        prospect_trigram_text(full_name, email, job_title, company_name, industry) gin_trgm_ops)
    WITH (gin_pending_list_limit = 16384);
CREATE INDEX prospect_search_view_domain_idx
    ON prospect_search_view (organization_id, company_domain);

-- prospect_search_view: sorts, each with prospect_id as the keyset tie-breaker. Company names
-- compare byte-wise (C collation) so the same index serves the sort and the name-prefix filter.
CREATE INDEX prospect_search_view_updated_idx
    ON prospect_search_view (organization_id, updated_at DESC, prospect_id DESC);
CREATE INDEX prospect_search_view_company_name_idx
    ON prospect_search_view (
        organization_id, (lower(coalesce(company_name, company_domain)) COLLATE "C"), prospect_id);
-- Revenue is never negative, so -1 puts unknown revenue last in a descending sort, and one
-- index serves the sort and the revenue range filter.
CREATE INDEX prospect_search_view_revenue_idx
    ON prospect_search_view (organization_id, (coalesce(revenue, -1)) DESC, prospect_id DESC);

-- Extended statistics on the filter columns that are correlated (a city lies in one state and
-- country; departments and levels cluster by place and company). Without them the planner
-- multiplies the selectivities, expects many rows where a combination has none, and walks a
-- sort index to meet the first page early.
CREATE STATISTICS prospect_search_view_place_stats (ndistinct, dependencies, mcv)
    ON lower(country), lower(state), lower(city) FROM prospect_search_view;
CREATE STATISTICS prospect_search_view_department_place_stats (mcv)
    ON lower(department), lower(country), lower(city) FROM prospect_search_view;
CREATE STATISTICS prospect_search_view_level_place_stats (mcv)
    ON job_title_level, lower(country), lower(city) FROM prospect_search_view;
CREATE STATISTICS prospect_search_view_department_level_stats (mcv)
    ON lower(department), job_title_level FROM prospect_search_view;
CREATE STATISTICS prospect_search_view_industry_place_stats (mcv)
    ON lower(industry), lower(country), lower(city) FROM prospect_search_view;

-- The table starts analyzed (as empty), so the planner uses its real size rather than the
-- guess it makes for a table never analyzed.
ANALYZE prospect_search_view;

-- company_summary_view: filters and sorts of SearchCompanies.
CREATE INDEX company_summary_view_name_idx
    ON company_summary_view (organization_id, lower(name) text_pattern_ops);
CREATE INDEX company_summary_view_sort_name_idx
    ON company_summary_view (
        organization_id, (lower(coalesce(name, domain)) COLLATE "C"), company_id);
CREATE INDEX company_summary_view_revenue_idx
    ON company_summary_view (organization_id, (coalesce(revenue, -1)) DESC, company_id DESC);
CREATE INDEX company_summary_view_prospect_count_idx
    ON company_summary_view (organization_id, prospect_count DESC, company_id DESC);
CREATE INDEX company_summary_view_industry_idx
    ON company_summary_view (organization_id, lower(industry));
CREATE INDEX company_summary_view_country_idx
    ON company_summary_view (organization_id, lower(country));
CREATE INDEX company_summary_view_document_idx
    ON company_summary_view USING gin (search_document)
    WITH (gin_pending_list_limit = 16384);

-- company_prospect_view: an organization's rows by company.
CREATE INDEX company_prospect_view_organization_idx
    ON company_prospect_view (organization_id, company_id);

-- Whether full text matches a search's text anywhere in an organization: decides whether
-- search-svc falls back to trigram matching. As a plain EXISTS the planner expects an unknown
-- word to be as common as a rare known one and walks the table to find the first match, which
-- is exactly the case that asks. So:
-- - A sample of the table (tsm_system_rows: a fixed number of rows whatever the table's size)
--   finds a common word at once, where a bitmap of every row holding it would cost more to
--   build than the answer is worth.
-- - A word the sample misses is rare, and the GIN index is the only way in: sequential scans
--   are off, and `organization_id + 0` keeps the organization's B-tree indexes out (one would
--   be walked just the same).
-- The answer is the same either way; only the cost differs.
CREATE FUNCTION prospect_text_known(organization bigint, query text) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
SET enable_seqscan = off
AS $$
    -- OR evaluates the second EXISTS only when the first is false.
    SELECT EXISTS (
        SELECT 1 FROM prospect_search_view TABLESAMPLE SYSTEM_ROWS (1000)
        WHERE search_document @@ websearch_to_tsquery('simple', query)
          AND organization_id = organization)
    OR EXISTS (
        SELECT 1 FROM prospect_search_view
        WHERE search_document @@ websearch_to_tsquery('simple', query)
          AND organization_id + 0 = organization)
$$;

-- Only search-svc asks (V7__grants.sql).
REVOKE ALL ON FUNCTION prospect_text_known(bigint, text) FROM PUBLIC;
