-- Suppression policy HIDE (issue 19): rows that match a hide entry stay stored, but searches,
-- counts, facets and exports leave them out. Search reads only the read models, so the hidden
-- state is stored on the base rows, where the capture triggers see it change, and the read model
-- carries it as one boolean.
--
-- A prospect is hidden by the entry of its own email (prospect.suppressed_by, which ingest sets
-- per row when it screens it, and AddSuppressions on the rows already stored); a company, with
-- every prospect of it, by the entry of its domain (company.suppressed_by). An id, not personal
-- data. Removing the entry clears it (ON DELETE SET NULL runs an UPDATE, so the capture
-- triggers log it); a change to policy refuse clears it in the same transaction.
ALTER TABLE prospect
    ADD COLUMN suppressed_by bigint REFERENCES suppression (id) ON DELETE SET NULL;
ALTER TABLE company
    ADD COLUMN suppressed_by bigint REFERENCES suppression (id) ON DELETE SET NULL;

-- Removing an entry (and a policy change) finds the rows it hides by these; hidden rows are
-- few, so the indexes are small.
CREATE INDEX prospect_suppressed_by_idx ON prospect (suppressed_by) WHERE suppressed_by IS NOT NULL;
CREATE INDEX company_suppressed_by_idx ON company (suppressed_by) WHERE suppressed_by IS NOT NULL;

-- A company is created (or renamed to a domain) by many paths (every ingest path, UpsertCompany,
-- lmactl normalize): one trigger gives each the hide entry of its domain. It runs only for new
-- companies and domain changes, one probe of suppression_domain_idx each.
CREATE FUNCTION set_company_suppressed_by() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.suppressed_by := (
        SELECT s.id FROM public.suppression s
        WHERE s.organization_id = NEW.organization_id AND s.domain = NEW.domain
          AND s.policy = 'hide');
    RETURN NEW;
END
$$;

CREATE TRIGGER company_set_suppressed_by
    BEFORE INSERT OR UPDATE OF domain ON company
    FOR EACH ROW EXECUTE FUNCTION set_company_suppressed_by();

-- Hiding or showing a company changes what searches show of all its prospects, so it counts as
-- a profile change: without it the capture would mark the change profile_unchanged and the
-- search rows of the company would not be re-derived.
CREATE OR REPLACE FUNCTION set_company_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    -- Keep in step with the company columns prospect_search_def reads.
    IF (NEW.domain, NEW.name, NEW.industry, NEW.min_employees, NEW.max_employees, NEW.revenue,
        NEW.max_revenue, NEW.city, NEW.state, NEW.country, NEW.suppressed_by IS NULL)
       IS DISTINCT FROM
       (OLD.domain, OLD.name, OLD.industry, OLD.min_employees, OLD.max_employees, OLD.revenue,
        OLD.max_revenue, OLD.city, OLD.state, OLD.country, OLD.suppressed_by IS NULL) THEN
        NEW.profile_updated_at := now();
    ELSE
        NEW.profile_updated_at := coalesce(OLD.profile_updated_at, OLD.updated_at);
    END IF;
    RETURN NEW;
END
$$;

-- The definitions gain `suppressed` as their last column (CREATE OR REPLACE VIEW can only
-- append), and prospect_search_view the same column in the same place.
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
    c.max_revenue,
    -- Hidden by its email's entry or by its company's domain's.
    (p.suppressed_by IS NOT NULL OR c.suppressed_by IS NOT NULL) AS suppressed
FROM prospect p
JOIN company c ON c.id = p.company_id;

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
    d.max_revenue,
    -- Searches leave these rows out unless asked (privacy.admin).
    d.suppressed
FROM prospect_with_company_def d;

-- Nothing was hidden before (AddSuppressions refused HIDE), so every stored row is visible: a
-- default fills the existing rows without rewriting the table, and dropping it keeps the table's
-- columns what the definition gives (no default, like every other column).
ALTER TABLE prospect_search_view ADD COLUMN suppressed boolean DEFAULT false;
ALTER TABLE prospect_search_view ALTER COLUMN suppressed DROP DEFAULT;

-- Until the column has statistics the planner takes `NOT suppressed` to keep half the rows, which
-- skews the plans of every search; with them it knows almost every row is kept. (Only the
-- table's or the database's owner may analyze it: anyone else gets a warning, and autovacuum's
-- next analyze does it.)
ANALYZE prospect_search_view (suppressed);
