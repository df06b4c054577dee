-- The read models (DESIGN.md section 2): plain tables owned and maintained by refresh-svc.
-- Each has exactly one definition, a view named *_def; the incremental apply and the full
-- rebuild both select from it, so a projection changes in one place.
--
-- The formatting functions below are STABLE, not IMMUTABLE: they call to_char and concat_ws,
-- which are STABLE, and PostgreSQL only inlines a SQL function whose body is no less volatile
-- than its declaration. Inlined, company_context costs ~2 us a row instead of ~60 us, which is
-- most of the cost of re-deriving or rebuilding a read model.

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

CREATE VIEW company_prospect_def AS
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
    greatest(p.updated_at, c.updated_at) AS updated_at
FROM prospect p
JOIN company c ON c.id = p.company_id;

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
    d.updated_at,
    -- 'simple' keeps names and titles unstemmed; weights rank names and companies first.
    setweight(to_tsvector('simple', d.full_name), 'A')
        || setweight(to_tsvector('simple', concat_ws(' ', d.company_name, d.company_domain)), 'A')
        || setweight(to_tsvector('simple', concat_ws(' ', d.job_title, d.email)), 'B')
        || setweight(to_tsvector('simple', concat_ws(' ', d.industry, d.department)), 'C')
        AS search_document
FROM company_prospect_def d;

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

-- The tables take their columns from the definitions, so the two cannot drift apart.
CREATE TABLE company_prospect_view AS SELECT * FROM company_prospect_def WITH NO DATA;
ALTER TABLE company_prospect_view ADD CONSTRAINT company_prospect_view_pkey PRIMARY KEY (prospect_id);
CREATE INDEX company_prospect_view_company_idx ON company_prospect_view (company_id);
CREATE INDEX company_prospect_view_organization_idx
    ON company_prospect_view (organization_id, company_id);

CREATE TABLE prospect_search_view AS SELECT * FROM prospect_search_def WITH NO DATA;
ALTER TABLE prospect_search_view ADD CONSTRAINT prospect_search_view_pkey PRIMARY KEY (prospect_id);
CREATE INDEX prospect_search_view_company_idx ON prospect_search_view (company_id);
CREATE INDEX prospect_search_view_updated_idx
    ON prospect_search_view (organization_id, updated_at DESC, prospect_id DESC);
CREATE INDEX prospect_search_view_industry_idx
    ON prospect_search_view (organization_id, lower(industry));
CREATE INDEX prospect_search_view_country_idx
    ON prospect_search_view (organization_id, lower(country));
CREATE INDEX prospect_search_view_document_idx
    ON prospect_search_view USING gin (search_document);

CREATE TABLE company_summary_view AS SELECT * FROM company_summary_def WITH NO DATA;
ALTER TABLE company_summary_view ADD CONSTRAINT company_summary_view_pkey PRIMARY KEY (company_id);
CREATE UNIQUE INDEX company_summary_view_domain_idx ON company_summary_view (organization_id, domain);
CREATE INDEX company_summary_view_name_idx
    ON company_summary_view (organization_id, lower(name) text_pattern_ops);

-- Per read model: how far it is applied. Every transaction whose xid is below `watermark` has
-- finished and its changes are in the read model (DESIGN.md section 3).
CREATE TABLE read_model_state (
    read_model      text PRIMARY KEY,
    watermark       xid8 NOT NULL DEFAULT '0',
    watermark_at    timestamptz NOT NULL DEFAULT now(),
    last_refresh_at timestamptz,
    last_mode       text,
    last_duration_ms double precision,
    last_rows       bigint
);

INSERT INTO read_model_state (read_model)
VALUES ('company_prospect_view'), ('company_summary_view'), ('prospect_search_view');

-- Every refresh: which view, how, how many keys and rows, how long, up to which watermark.
CREATE TABLE materialized_view_log (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    view_name     text NOT NULL,
    mode          text NOT NULL CHECK (mode IN ('incremental', 'full', 'reconcile')),
    keys          bigint NOT NULL,
    rows_affected bigint NOT NULL,
    started_at    timestamptz NOT NULL,
    duration_ms   double precision NOT NULL,
    watermark     xid8,
    replica       text
);

CREATE INDEX materialized_view_log_view_idx ON materialized_view_log (view_name, started_at DESC);

CREATE TABLE materialized_view_error (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    view_name   text NOT NULL,
    mode        text NOT NULL,
    error       text NOT NULL,
    occurred_at timestamptz NOT NULL DEFAULT now(),
    replica     text
);

CREATE INDEX materialized_view_error_view_idx ON materialized_view_error (view_name, occurred_at DESC);
