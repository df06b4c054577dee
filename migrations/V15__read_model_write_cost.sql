-- What every incremental apply pays per row it writes (issue 4).
--
-- The single-column B-tree indexes of prospect_search_view's list filters duplicate the
-- multi-column GIN index of V11, which serves each of those filters alone as well as combined
-- (EXPLAIN at 1M rows: the same or faster plans without them). Every row the apply writes paid
-- for six more index entries.
DROP INDEX prospect_search_view_industry_idx;
DROP INDEX prospect_search_view_country_idx;
DROP INDEX prospect_search_view_level_idx;
DROP INDEX prospect_search_view_department_idx;
DROP INDEX prospect_search_view_state_idx;
DROP INDEX prospect_search_view_city_idx;

-- Room on every page for a row's new version, so that an update that leaves the indexed columns
-- alone (a company's phone, a prospect's title in company_prospect_view) stays on its page and
-- writes no index entries (HOT). prospect_search_view indexes updated_at, which every write
-- changes, so it gains nothing from it. A full rebuild keeps these settings.
ALTER TABLE company_prospect_view SET (fillfactor = 85);
ALTER TABLE company_summary_view SET (fillfactor = 85);
