-- Search plans (issue 5): what the planner needs to let a selective filter drive a search
-- rather than walk a sort index hunting for matches that never come.

-- One multi-column GIN index (btree_gin) over the list filters that are combined with each
-- other: it intersects the posting lists of every equality filter of a search (department AND
-- city, country AND level) inside the index, so a combination that matches few rows costs few
-- heap reads whatever the sort. Like the other GIN indexes it does not hold organization_id
-- (the planner would not use a posting list as long as the tenant); the heap check drops other
-- tenants' rows. The B-tree indexes of V10 stay: they serve one filter with its sort.
CREATE EXTENSION IF NOT EXISTS btree_gin;

CREATE INDEX prospect_search_view_filters_idx
    ON prospect_search_view USING gin (
        lower(industry), lower(department), job_title_level, lower(country), lower(state),
        lower(city));

-- Extended statistics on the filter columns that are correlated (a city lies in one state and
-- country; departments and levels cluster by place and company). Without them the planner
-- multiplies the selectivities, expects thousands of rows where a combination has none, and
-- walks the sort index to meet the first 51 early. A full rebuild of the read model must
-- recreate these with the indexes.
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

ANALYZE prospect_search_view;
