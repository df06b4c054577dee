-- A company's revenue may be a range ("$1M-$10M", "$1B+"), stored as its bounds like the
-- employee range: `revenue` is the amount or the range's lower bound (what the revenue sort and
-- its indexes, on coalesce(revenue, -1), keep ordering by); `max_revenue` is the same amount for
-- an exact one, the range's upper bound, or NULL for an open range ("$1B+") or unknown revenue.
--
-- Every row stored before holds an exact amount, so it gets max_revenue = revenue. The base
-- tables are filled with their triggers off: the stored values mean what they meant, so neither
-- updated_at nor the change log (which would re-derive every company) should move. The read
-- models are filled the same way, in step with their definitions.

ALTER TABLE company
    ADD COLUMN max_revenue bigint,
    ADD CONSTRAINT company_revenue_range CHECK (max_revenue >= revenue),
    -- An upper bound without a lower one is no range this model has a meaning for.
    ADD CONSTRAINT company_max_revenue_has_revenue CHECK (max_revenue IS NULL OR revenue IS NOT NULL);

ALTER TABLE company DISABLE TRIGGER USER;
UPDATE company SET max_revenue = revenue WHERE revenue IS NOT NULL;
ALTER TABLE company ENABLE TRIGGER USER;

-- The legacy flat table mirrors the company's revenue with both bounds (ingest-svc's dual
-- ingestion) and gives them back to MigrateLegacyCustomers. Its constraints stay loose, as all
-- of its columns' are: a migration reports bounds that do not fit.
ALTER TABLE customer ADD COLUMN max_revenue bigint;
ALTER TABLE customer DISABLE TRIGGER USER;
UPDATE customer SET max_revenue = revenue WHERE revenue IS NOT NULL;
ALTER TABLE customer ENABLE TRIGGER USER;

-- max_revenue is shown by a search hit (formatted_revenue, company_context, max_revenue), so a
-- change to it moves profile_updated_at like the other profile columns.
CREATE OR REPLACE FUNCTION set_company_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    -- Keep in step with the company columns prospect_search_def reads.
    IF (NEW.domain, NEW.name, NEW.industry, NEW.min_employees, NEW.max_employees, NEW.revenue,
        NEW.max_revenue, NEW.city, NEW.state, NEW.country)
       IS DISTINCT FROM
       (OLD.domain, OLD.name, OLD.industry, OLD.min_employees, OLD.max_employees, OLD.revenue,
        OLD.max_revenue, OLD.city, OLD.state, OLD.country) THEN
        NEW.profile_updated_at := now();
    ELSE
        NEW.profile_updated_at := coalesce(OLD.profile_updated_at, OLD.updated_at);
    END IF;
    RETURN NEW;
END
$$;

-- An exact amount as before: "1.2B", "3.4M", "5.6K", "$999", or "NA" when unknown. A range is
-- its two bounds, each written the same way ("1M-10M"); an open range its lower bound and a
-- plus ("1B+"). STABLE for the reason V4__read_models.sql gives.
CREATE FUNCTION format_revenue(revenue bigint, max_revenue bigint) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT CASE
        WHEN revenue IS NULL OR max_revenue = revenue THEN format_revenue(revenue)
        WHEN max_revenue IS NULL THEN format_revenue(revenue) || '+'
        ELSE format_revenue(revenue) || '-' || format_revenue(max_revenue)
    END
$$;

-- As before, with the revenue range: "Acme Corp (acme.com), Software, 51-200 employees,
-- 1M-10M revenue, Berlin, Germany".
CREATE FUNCTION company_context(
    name text, domain text, industry text, min_employees integer, max_employees integer,
    revenue bigint, max_revenue bigint, city text, country text
) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT concat_ws(', ',
        CASE WHEN name IS NULL THEN domain ELSE name || ' (' || domain || ')' END,
        industry,
        format_employee_range(min_employees, max_employees) || ' employees',
        CASE WHEN revenue IS NOT NULL THEN format_revenue(revenue, max_revenue) || ' revenue' END,
        city,
        country)
$$;

-- The definitions gain max_revenue as their last column (CREATE OR REPLACE VIEW can only
-- append), and the read-model tables the same column in the same place: the apply and the
-- rebuild compare a table's columns with its definition's, in order.
CREATE OR REPLACE VIEW prospect_with_company_def AS
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
    format_revenue(c.revenue, c.max_revenue) AS formatted_revenue,
    c.address AS company_address,
    c.city AS company_city,
    c.state AS company_state,
    c.country AS company_country,
    c.zip_code AS company_zip_code,
    c.phone AS company_phone,
    company_context(c.name, c.domain, c.industry, c.min_employees, c.max_employees, c.revenue,
                    c.max_revenue, c.city, c.country) AS company_context,
    p.created_at,
    p.updated_at AS prospect_updated_at,
    c.updated_at AS company_updated_at,
    coalesce(c.profile_updated_at, c.updated_at) AS company_profile_updated_at,
    c.max_revenue
FROM prospect p
JOIN company c ON c.id = p.company_id;

CREATE OR REPLACE VIEW company_prospect_def AS
SELECT
    prospect_id, organization_id, company_id, external_source, external_id, salutation,
    first_name, last_name, full_name, email, job_title, job_title_level, department,
    job_title_link, address, city, state, country, zip_code, phone, mobile_phone, tags,
    custom_fields, company_domain, company_name, industry, min_employees, max_employees,
    employee_size_link, revenue, formatted_revenue, company_address, company_city,
    company_state, company_country, company_zip_code, company_phone, company_context,
    created_at,
    greatest(prospect_updated_at, company_updated_at) AS updated_at,
    max_revenue
FROM prospect_with_company_def;

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
    lower_tags(d.tags) AS search_tags,
    d.max_revenue
FROM prospect_with_company_def d;

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
    c.max_revenue
FROM company c
LEFT JOIN prospect p ON p.company_id = c.id
GROUP BY c.id;

-- The one-amount company_context is no longer used by anything; format_revenue(bigint) is, by
-- the two-bound one.
DROP FUNCTION company_context(text, text, text, integer, integer, bigint, text, text);

-- Existing read-model rows: every stored revenue is an exact amount, whose formatted_revenue
-- and company_context the new functions write as before, so only the new column is filled.
ALTER TABLE company_prospect_view ADD COLUMN max_revenue bigint;
ALTER TABLE prospect_search_view ADD COLUMN max_revenue bigint;
ALTER TABLE company_summary_view ADD COLUMN max_revenue bigint;
UPDATE company_prospect_view SET max_revenue = revenue WHERE revenue IS NOT NULL;
UPDATE prospect_search_view SET max_revenue = revenue WHERE revenue IS NOT NULL;
UPDATE company_summary_view SET max_revenue = revenue WHERE revenue IS NOT NULL;
