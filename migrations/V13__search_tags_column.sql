-- Tag filters read a stored, lower-cased copy of the tags (issue 5). V10 filtered on the
-- expression lower_tags(tags): a SQL function with an aggregate is never inlined, so every row a
-- plan looks at paid ~4.5 us for it (5.0 s against 0.45 s for a scan of a million rows). A tag
-- filter combined with a sort walks the sort index and tests thousands of rows; now the value is
-- computed once, when refresh-svc writes the row.
--
-- Tags and custom fields share one multi-column GIN index instead of one each: a search with both
-- intersects them inside the index, one with either uses it as well as its own index, and every
-- write of the read model maintains one GIN index fewer.

CREATE OR REPLACE VIEW prospect_search_def AS
SELECT
    d.prospect_id,
    d.organization_id,
    d.company_id,
    d.external_source,
    d.external_id,
    d.salutation,
    d.first_name,
    d.last_name,
    d.full_name,
    d.email,
    d.job_title,
    d.job_title_level,
    d.department,
    coalesce(d.city, d.company_city) AS city,
    coalesce(d.state, d.company_state) AS state,
    coalesce(d.country, d.company_country) AS country,
    d.tags,
    d.custom_fields,
    d.company_domain,
    d.company_name,
    d.industry,
    d.min_employees,
    d.max_employees,
    d.revenue,
    d.formatted_revenue,
    d.company_context,
    d.updated_at,
    setweight(to_tsvector('simple', d.full_name), 'A')
        || setweight(to_tsvector('simple', concat_ws(' ', d.company_name, d.company_domain)), 'A')
        || setweight(to_tsvector('simple', concat_ws(' ', d.job_title, d.email)), 'B')
        || setweight(to_tsvector('simple', concat_ws(' ', d.industry, d.department)), 'C')
        AS search_document,
    -- What the tag filters compare with.
    lower_tags(d.tags) AS search_tags
FROM company_prospect_def d;

-- The table's columns follow the definition's, in the same order (the apply compares rows).
ALTER TABLE prospect_search_view ADD COLUMN search_tags text[];
UPDATE prospect_search_view SET search_tags = lower_tags(tags);

DROP INDEX prospect_search_view_tags_idx;
DROP INDEX prospect_search_view_custom_fields_idx;
CREATE INDEX prospect_search_view_tags_fields_idx
    ON prospect_search_view USING gin (search_tags, custom_fields jsonb_path_ops);

ANALYZE prospect_search_view;
