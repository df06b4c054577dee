-- The read models: plain tables owned and maintained by refresh-svc (docs/REFRESH.md). Each has
-- exactly one definition, a view named *_def; the incremental apply and the full rebuild both
-- select from it, so a projection changes in one place.
--
-- The formatting functions below are STABLE, not IMMUTABLE: they call to_char and concat_ws,
-- which are STABLE, and PostgreSQL only inlines a SQL function whose body is no less volatile
-- than its declaration. Called rather than inlined, company_context would be most of the cost
-- of re-deriving or rebuilding a read model.

-- "1.2B", "3.4M", "5.6K", "$999", or "NA" when unknown. Rounds to one decimal; thresholds sit
-- where rounding would otherwise print "1000.0K".
CREATE FUNCTION format_revenue(revenue bigint) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT CASE
        WHEN revenue IS NULL THEN 'NA'
        WHEN revenue >= 999950000 THEN to_char(round(revenue / 1e9, 1), 'FM9999999990.0') || 'B'
        WHEN revenue >= 999950 THEN to_char(round(revenue / 1e6, 1), 'FM990.0') || 'M'
        WHEN revenue >= 1000 THEN to_char(round(revenue / 1e3, 1), 'FM990.0') || 'K'
        ELSE '$' || revenue::text
    END
$$;

-- "51-200", "5000+", "up to 10", or NULL when unknown.
CREATE FUNCTION format_employee_range(min_employees integer, max_employees integer) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT CASE
        WHEN min_employees IS NOT NULL AND max_employees IS NOT NULL AND min_employees = max_employees
            THEN min_employees::text
        WHEN min_employees IS NOT NULL AND max_employees IS NOT NULL
            THEN min_employees::text || '-' || max_employees::text
        WHEN min_employees IS NOT NULL THEN min_employees::text || '+'
        WHEN max_employees IS NOT NULL THEN 'up to ' || max_employees::text
    END
$$;

-- One line about a company for people and for search context:
-- "Acme Corp (acme.com), Software, 51-200 employees, 1.2B revenue, Berlin, Germany".
CREATE FUNCTION company_context(
    name text, domain text, industry text, min_employees integer, max_employees integer,
    revenue bigint, city text, country text
) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT concat_ws(', ',
        CASE WHEN name IS NULL THEN domain ELSE name || ' (' || domain || ')' END,
        industry,
        format_employee_range(min_employees, max_employees) || ' employees',
        CASE WHEN revenue IS NOT NULL THEN format_revenue(revenue) || ' revenue' END,
        city,
        country)
$$;

-- Tags lower-cased, so tag filters match case-insensitively like every other list filter.
-- Stored in the read model (search_tags) rather than indexed as an expression: a SQL function
-- with an aggregate is never inlined, so every row a plan looked at would pay for a call.
CREATE FUNCTION lower_tags(tags text[]) RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT coalesce(array_agg(lower(tag)), '{}') FROM unnest(tags) AS tag
$$;

-- One derivation of a prospect's row with its company, both timestamps apart; the two
-- definitions below choose their updated_at from it.
CREATE VIEW prospect_with_company_def AS
SELECT
    p.id AS prospect_id,
    p.organization_id,
    p.company_id,
    p.external_source,
    p.external_id,
    p.salutation,
    p.first_name,
    p.last_name,
    concat_ws(' ', p.first_name, p.last_name) AS full_name,
    p.email,
    p.job_title,
    p.job_title_level,
    p.department,
    p.job_title_link,
    p.address,
    p.city,
    p.state,
    p.country,
    p.zip_code,
    p.phone,
    p.mobile_phone,
    p.tags,
    p.custom_fields,
    c.domain AS company_domain,
    c.name AS company_name,
    c.industry,
    c.min_employees,
    c.max_employees,
    c.employee_size_link,
    c.revenue,
    format_revenue(c.revenue) AS formatted_revenue,
    c.address AS company_address,
    c.city AS company_city,
    c.state AS company_state,
    c.country AS company_country,
    c.zip_code AS company_zip_code,
    c.phone AS company_phone,
    company_context(c.name, c.domain, c.industry, c.min_employees, c.max_employees, c.revenue,
                    c.city, c.country) AS company_context,
    p.created_at,
    p.updated_at AS prospect_updated_at,
    c.updated_at AS company_updated_at,
    coalesce(c.profile_updated_at, c.updated_at) AS company_profile_updated_at
FROM prospect p
JOIN company c ON c.id = p.company_id;

-- Every prospect with every column of its company; updated_at moves with either.
CREATE VIEW company_prospect_def AS
SELECT
    prospect_id, organization_id, company_id, external_source, external_id, salutation,
    first_name, last_name, full_name, email, job_title, job_title_level, department,
    job_title_link, address, city, state, country, zip_code, phone, mobile_phone, tags,
    custom_fields, company_domain, company_name, industry, min_employees, max_employees,
    employee_size_link, revenue, formatted_revenue, company_address, company_city,
    company_state, company_country, company_zip_code, company_phone, company_context,
    created_at,
    greatest(prospect_updated_at, company_updated_at) AS updated_at
FROM prospect_with_company_def;

-- A search hit. Its updated_at moves with the prospect or with a company column the hit shows
-- (company_profile_updated_at), so that a company change no hit shows leaves the search rows,
-- which index updated_at, alone. A client syncing by updated_since still misses nothing: every
-- field of a hit moves its updated_at.
CREATE VIEW prospect_search_def AS
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
    -- Where the person is, falling back to where the company is.
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
    greatest(d.prospect_updated_at, d.company_profile_updated_at) AS updated_at,
    -- 'simple' keeps names and titles unstemmed; weights rank names and companies first.
    setweight(to_tsvector('simple', d.full_name), 'A')
        || setweight(to_tsvector('simple', concat_ws(' ', d.company_name, d.company_domain)), 'A')
        || setweight(to_tsvector('simple', concat_ws(' ', d.job_title, d.email)), 'B')
        || setweight(to_tsvector('simple', concat_ws(' ', d.industry, d.department)), 'C')
        AS search_document,
    -- What the tag filters compare with.
    lower_tags(d.tags) AS search_tags
FROM prospect_with_company_def d;

CREATE VIEW company_summary_def AS
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
    format_revenue(c.revenue) AS formatted_revenue,
    c.address,
    c.city,
    c.state,
    c.country,
    c.zip_code,
    c.phone,
    c.external_source,
    c.external_id,
    company_context(c.name, c.domain, c.industry, c.min_employees, c.max_employees, c.revenue,
                    c.city, c.country) AS company_context,
    count(p.id) AS prospect_count,
    coalesce(array_agg(DISTINCT p.department ORDER BY p.department)
                 FILTER (WHERE p.department IS NOT NULL), '{}') AS departments,
    max(p.updated_at) AS last_prospect_updated_at,
    c.created_at,
    c.updated_at,
    to_tsvector('simple', concat_ws(' ', c.name, c.domain, c.industry)) AS search_document
FROM company c
LEFT JOIN prospect p ON p.company_id = c.id
GROUP BY c.id;

-- The tables take their columns from the definitions, in the same order (the apply compares
-- rows), so the two cannot drift apart.
--
-- fillfactor leaves room on every page for a row's new version, so that an update that leaves
-- the indexed columns alone (a company's phone, a prospect's title in company_prospect_view)
-- stays on its page and writes no index entries (HOT). prospect_search_view indexes updated_at,
-- which every write of it changes, so it would gain nothing. A full rebuild keeps these
-- settings.
CREATE TABLE company_prospect_view WITH (fillfactor = 85) AS
    SELECT * FROM company_prospect_def WITH NO DATA;
CREATE TABLE prospect_search_view AS
    SELECT * FROM prospect_search_def WITH NO DATA;
CREATE TABLE company_summary_view WITH (fillfactor = 85) AS
    SELECT * FROM company_summary_def WITH NO DATA;

ALTER TABLE company_prospect_view ADD CONSTRAINT company_prospect_view_pkey PRIMARY KEY (prospect_id);
ALTER TABLE prospect_search_view ADD CONSTRAINT prospect_search_view_pkey PRIMARY KEY (prospect_id);
ALTER TABLE company_summary_view ADD CONSTRAINT company_summary_view_pkey PRIMARY KEY (company_id);

-- (company_id, prospect_id): a large company's rows are re-derived in ranges of prospect ids,
-- each an index range scan, as on prospect (company_id, id).
CREATE INDEX company_prospect_view_company_idx ON company_prospect_view (company_id, prospect_id);
CREATE INDEX prospect_search_view_company_idx ON prospect_search_view (company_id, prospect_id);

-- One company per domain in an organization, as in company.
CREATE UNIQUE INDEX company_summary_view_domain_idx ON company_summary_view (organization_id, domain);
