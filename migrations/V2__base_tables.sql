-- The normalized base tables ingest-svc writes, and the legacy flat customer table.
-- Optional text is NULL when not given (never ''); column limits are the API's limits.

CREATE FUNCTION set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END
$$;

-- A company's updated_at moves with any change; profile_updated_at only with a change to a
-- column a search hit shows (see prospect_search_def), so that a change no hit shows, such as
-- the company's phone, does not rewrite the search rows of all its prospects.
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

CREATE TABLE company (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organization_id    bigint NOT NULL REFERENCES organization (id),
    -- Registrable domain: lower case, punycode for IDNs.
    domain             varchar(253) NOT NULL,
    name               varchar(300),
    industry           varchar(100),
    min_employees      integer,
    max_employees      integer,
    employee_size_link varchar(2048),
    revenue            bigint,
    address            varchar(300),
    city               varchar(100),
    state              varchar(100),
    country            varchar(100),
    zip_code           varchar(20),
    phone              varchar(50),
    mobile_phone       varchar(50),
    external_source    varchar(100) NOT NULL DEFAULT '',
    external_id        varchar(200),
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    -- Kept by set_company_updated_at(). NULL reads as updated_at: every reader takes
    -- coalesce(profile_updated_at, updated_at).
    profile_updated_at timestamptz DEFAULT now(),
    CONSTRAINT company_domain_unique UNIQUE (organization_id, domain),
    CONSTRAINT company_external_id_unique UNIQUE (organization_id, external_source, external_id),
    -- Target of prospect's tenant-safe foreign key.
    CONSTRAINT company_organization_id_unique UNIQUE (organization_id, id),
    CONSTRAINT company_domain_format CHECK (
        domain ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$'
    ),
    CONSTRAINT company_revenue_non_negative CHECK (revenue >= 0),
    CONSTRAINT company_employees_non_negative CHECK (min_employees >= 0 AND max_employees >= 0),
    CONSTRAINT company_employees_range CHECK (min_employees <= max_employees)
);

CREATE TRIGGER company_set_updated_at
    BEFORE UPDATE ON company
    FOR EACH ROW
    WHEN (OLD.* IS DISTINCT FROM NEW.*)
    EXECUTE FUNCTION set_company_updated_at();

CREATE TABLE prospect (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- No foreign key of its own to organization: prospect_company_fk already ties the prospect
    -- to a company of this organization, and a second key would cost every inserted row another
    -- referential-integrity check and row lock.
    organization_id bigint NOT NULL,
    company_id      bigint NOT NULL,
    external_source varchar(100) NOT NULL DEFAULT '',
    external_id     varchar(200) NOT NULL,
    salutation      varchar(20),
    first_name      varchar(100),
    last_name       varchar(100),
    email           varchar(254) NOT NULL,
    job_title       varchar(200),
    job_title_level varchar(20),
    department      varchar(100),
    job_title_link  varchar(2048),
    address         varchar(300),
    city            varchar(100),
    state           varchar(100),
    country         varchar(100),
    zip_code        varchar(20),
    phone           varchar(50),
    mobile_phone    varchar(50),
    tags            text[] NOT NULL DEFAULT '{}',
    custom_fields   jsonb NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT prospect_external_id_unique UNIQUE (organization_id, external_source, external_id),
    -- A prospect's company always belongs to the prospect's organization.
    CONSTRAINT prospect_company_fk FOREIGN KEY (organization_id, company_id)
        REFERENCES company (organization_id, id),
    CONSTRAINT prospect_external_id_not_blank CHECK (btrim(external_id) <> ''),
    CONSTRAINT prospect_email_format CHECK (email ~ '^[^@[:space:]]+@[^@[:space:]]+\.[^@[:space:]]+$'),
    CONSTRAINT prospect_job_title_level_known CHECK (
        job_title_level IN ('owner', 'c_suite', 'vp', 'director', 'manager', 'senior', 'entry', 'other')
    ),
    CONSTRAINT prospect_custom_fields_object CHECK (jsonb_typeof(custom_fields) = 'object')
);

-- (company_id, id): refresh-svc re-derives a large company's prospects in ranges of ids, each an
-- index range scan; the index serves company_id = ... alone as well.
CREATE INDEX prospect_company_idx ON prospect (company_id, id);
CREATE INDEX prospect_organization_email_idx ON prospect (organization_id, lower(email));

CREATE TRIGGER prospect_set_updated_at
    BEFORE UPDATE ON prospect
    FOR EACH ROW
    WHEN (OLD.* IS DISTINCT FROM NEW.*)
    EXECUTE FUNCTION set_updated_at();

-- The legacy flat table: one row per person with the company inline. Kept for backward
-- compatibility and dual ingestion; its constraints are deliberately loose because legacy rows
-- are dirty, and MigrateLegacyCustomers reports what it cannot normalize.
CREATE TABLE customer (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organization_id    bigint NOT NULL REFERENCES organization (id),
    external_source    varchar(100) NOT NULL DEFAULT '',
    external_id        varchar(200),
    salutation         text,
    first_name         text,
    last_name          text,
    email              text,
    job_title          text,
    job_title_level    text,
    department         text,
    job_title_link     text,
    address            text,
    city               text,
    state              text,
    country            text,
    zip_code           text,
    phone              text,
    mobile_phone       text,
    company_name       text,
    company_domain     text,
    industry           text,
    min_employees      integer,
    max_employees      integer,
    employee_size_link text,
    revenue            bigint,
    company_address    text,
    company_city       text,
    company_state      text,
    company_country    text,
    company_zip_code   text,
    company_phone      text,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT customer_external_id_unique UNIQUE (organization_id, external_source, external_id)
);

CREATE TRIGGER customer_set_updated_at
    BEFORE UPDATE ON customer
    FOR EACH ROW
    WHEN (OLD.* IS DISTINCT FROM NEW.*)
    EXECUTE FUNCTION set_updated_at();
