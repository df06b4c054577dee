-- Search (issue 5): the functions and indexes search-svc's filters and sorts need on the read
-- models. Indexes live on the tables (a full rebuild recreates them from the catalog); every
-- B-tree a tenant query uses leads with organization_id. The GIN indexes do not: a GIN posting
-- list for the organization would be as long as the tenant and add nothing to the filter.

-- Trigram matching: the substring and typo-tolerant fallback when full text finds nothing.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- Tags lower-cased, so tag filters match case-insensitively like every other list filter.
CREATE FUNCTION lower_tags(tags text[]) RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT coalesce(array_agg(lower(tag)), '{}') FROM unnest(tags) AS tag
$$;

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

GRANT EXECUTE ON FUNCTION lower_tags(text[]) TO lma_refresh, lma_search;
GRANT EXECUTE ON FUNCTION prospect_trigram_text(text, text, text, text, text)
    TO lma_refresh, lma_search;
GRANT EXECUTE ON FUNCTION employee_size_bucket(integer, integer) TO lma_refresh, lma_search;

-- prospect_search_view: list filters.
CREATE INDEX prospect_search_view_domain_idx
    ON prospect_search_view (organization_id, company_domain);
CREATE INDEX prospect_search_view_level_idx
    ON prospect_search_view (organization_id, job_title_level);
CREATE INDEX prospect_search_view_department_idx
    ON prospect_search_view (organization_id, lower(department));
CREATE INDEX prospect_search_view_state_idx
    ON prospect_search_view (organization_id, lower(state));
CREATE INDEX prospect_search_view_city_idx
    ON prospect_search_view (organization_id, lower(city));
CREATE INDEX prospect_search_view_tags_idx
    ON prospect_search_view USING gin (lower_tags(tags));
CREATE INDEX prospect_search_view_custom_fields_idx
    ON prospect_search_view USING gin (custom_fields jsonb_path_ops);
CREATE INDEX prospect_search_view_trigram_idx
    ON prospect_search_view USING gin (
        prospect_trigram_text(full_name, email, job_title, company_name, industry) gin_trgm_ops);

-- prospect_search_view: sorts, each with prospect_id as the keyset tie-breaker. Company names
-- compare byte-wise (C collation) so the same index serves the sort and the name-prefix filter.
CREATE INDEX prospect_search_view_company_name_idx
    ON prospect_search_view (
        organization_id, (lower(coalesce(company_name, company_domain)) COLLATE "C"), prospect_id);
-- Revenue is never negative, so -1 puts unknown revenue last in a descending sort, and one
-- index serves the sort and the revenue range filter.
CREATE INDEX prospect_search_view_revenue_idx
    ON prospect_search_view (organization_id, (coalesce(revenue, -1)) DESC, prospect_id DESC);

-- company_summary_view: filters and sorts of SearchCompanies.
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
    ON company_summary_view USING gin (search_document);
