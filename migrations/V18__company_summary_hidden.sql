-- HIDE reaches company searches (issue 19): a company whose domain a HIDE entry names is left
-- out of SearchCompanies and GetCompany unless the request asks to include hidden rows, and a
-- company's prospect count, departments and last prospect update leave out its hidden
-- prospects, as prospect counts and facets do.

-- `suppressed` is added as the last column (CREATE OR REPLACE VIEW can only add columns at the
-- end); the table takes it in the same place.
CREATE OR REPLACE VIEW company_summary_def AS
SELECT
    c.id AS company_id,
    c.organization_id,
    c.domain,
    c.name,
    c.industry,
    c.min_employees,
    c.max_employees,
    c.employee_size_link,
    c.revenue,
    format_revenue(c.revenue, c.max_revenue) AS formatted_revenue,
    c.address,
    c.city,
    c.state,
    c.country,
    c.zip_code,
    c.phone,
    c.external_source,
    c.external_id,
    company_context(c.name, c.domain, c.industry, c.min_employees, c.max_employees, c.revenue,
                    c.max_revenue, c.city, c.country) AS company_context,
    count(p.id) AS prospect_count,
    coalesce(array_agg(DISTINCT p.department ORDER BY p.department)
                 FILTER (WHERE p.department IS NOT NULL), '{}') AS departments,
    max(p.updated_at) AS last_prospect_updated_at,
    c.created_at,
    c.updated_at,
    to_tsvector('simple', concat_ws(' ', c.name, c.domain, c.industry)) AS search_document,
    c.max_revenue,
    c.suppressed_by IS NOT NULL AS suppressed
FROM company c
LEFT JOIN prospect p ON p.company_id = c.id AND p.suppressed_by IS NULL
GROUP BY c.id;

ALTER TABLE company_summary_view ADD COLUMN suppressed boolean DEFAULT false;
ALTER TABLE company_summary_view ALTER COLUMN suppressed DROP DEFAULT;

-- Rows hidden before this migration: their companies' summaries as the definition now gives
-- them (written only where they differ, so nothing else is touched).
UPDATE company_summary_view v
SET prospect_count = d.prospect_count, departments = d.departments,
    last_prospect_updated_at = d.last_prospect_updated_at, suppressed = d.suppressed
FROM company_summary_def d
WHERE d.company_id = v.company_id
  AND (v.company_id IN (SELECT company_id FROM prospect WHERE suppressed_by IS NOT NULL)
       OR v.company_id IN (SELECT id FROM company WHERE suppressed_by IS NOT NULL));

ANALYZE company_summary_view (suppressed);
