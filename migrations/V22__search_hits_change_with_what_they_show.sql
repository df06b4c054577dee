-- A search hit's updated_at moves when something the hit shows changes (issue 4, 1,000 writes
-- per second at 1M prospects).
--
-- It was greatest(prospect.updated_at, company.updated_at): any change to a company, say its
-- phone number, which no search hit shows, rewrote the search rows of all its prospects. Those
-- rows index updated_at, so none of the updates was HOT, and each wrote every index entry of the
-- row again, ~80 trigram keys among them. In the refresh benchmark's mix (a quarter company
-- phone changes) that was ~80% of the rows an apply wrote to prospect_search_view.
--
-- Now a hit changes with the prospect's record or with a company column the hit shows: domain,
-- name, industry, employees, revenue, city, state, country (company_context and the location
-- fallback read the same columns). `company.profile_updated_at` records the last such change.
-- company_prospect_view, which shows every company column, keeps greatest(prospect, company).
-- For a client that syncs by `updated_since` nothing is missed: every field of a hit still
-- moves its updated_at.

-- No default while adding: a default would stamp every existing company with this migration's
-- time and put every read model out of step with its definition. NULL reads as updated_at.
ALTER TABLE company ADD COLUMN profile_updated_at timestamptz;
ALTER TABLE company ALTER COLUMN profile_updated_at SET DEFAULT now();

CREATE FUNCTION set_company_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    -- Keep in step with the company columns prospect_search_def reads.
    IF (NEW.domain, NEW.name, NEW.industry, NEW.min_employees, NEW.max_employees, NEW.revenue,
        NEW.city, NEW.state, NEW.country)
       IS DISTINCT FROM
       (OLD.domain, OLD.name, OLD.industry, OLD.min_employees, OLD.max_employees, OLD.revenue,
        OLD.city, OLD.state, OLD.country) THEN
        NEW.profile_updated_at := now();
    ELSE
        NEW.profile_updated_at := coalesce(OLD.profile_updated_at, OLD.updated_at);
    END IF;
    RETURN NEW;
END
$$;

CREATE OR REPLACE TRIGGER company_set_updated_at
    BEFORE UPDATE ON company
    FOR EACH ROW
    WHEN (OLD.* IS DISTINCT FROM NEW.*)
    EXECUTE FUNCTION set_company_updated_at();

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

-- The same columns in the same order as V4's definition.
CREATE OR REPLACE VIEW company_prospect_def AS
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

-- The same columns in the same order as V13's definition.
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
    lower_tags(d.tags) AS search_tags
FROM prospect_with_company_def d;
