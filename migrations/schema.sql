-- The schema the migrations in this directory create, as pg_dump --schema-only prints it.
-- Generated: do not edit. Regenerate with `bash migrations/snapshot` after adding a migration.
-- <migrator> stands for the role that ran the migrations.
--
-- PostgreSQL database dump
--

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

--
-- Name: btree_gin; Type: EXTENSION; Schema: -; Owner: -
--

CREATE EXTENSION IF NOT EXISTS btree_gin WITH SCHEMA public;


--
-- Name: EXTENSION btree_gin; Type: COMMENT; Schema: -; Owner: 
--

COMMENT ON EXTENSION btree_gin IS 'support for indexing common datatypes in GIN';


--
-- Name: pg_trgm; Type: EXTENSION; Schema: -; Owner: -
--

CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;


--
-- Name: EXTENSION pg_trgm; Type: COMMENT; Schema: -; Owner: 
--

COMMENT ON EXTENSION pg_trgm IS 'text similarity measurement and index searching based on trigrams';


--
-- Name: tsm_system_rows; Type: EXTENSION; Schema: -; Owner: -
--

CREATE EXTENSION IF NOT EXISTS tsm_system_rows WITH SCHEMA public;


--
-- Name: EXTENSION tsm_system_rows; Type: COMMENT; Schema: -; Owner: 
--

COMMENT ON EXTENSION tsm_system_rows IS 'TABLESAMPLE method which accepts number of rows as a limit';


--
-- Name: authenticate_api_key(bytea); Type: FUNCTION; Schema: public; Owner: <migrator>
--

CREATE FUNCTION public.authenticate_api_key(p_key_hash bytea) RETURNS TABLE(organization_id bigint, api_key_id bigint, scopes text[])
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'public'
    AS $$
    SELECT k.organization_id, k.id, k.scopes
    FROM api_key k
    WHERE k.key_hash = p_key_hash
      AND k.revoked_at IS NULL
$$;


ALTER FUNCTION public.authenticate_api_key(p_key_hash bytea) OWNER TO <migrator>;

--
-- Name: bump_suppression_version(); Type: FUNCTION; Schema: public; Owner: <migrator>
--

CREATE FUNCTION public.bump_suppression_version() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        UPDATE public.suppression_version v SET version = v.version + 1
        WHERE v.organization_id IN (SELECT organization_id FROM old_rows);
    ELSE
        INSERT INTO public.suppression_version AS v (organization_id, version)
        SELECT DISTINCT organization_id, 1 FROM new_rows
        ON CONFLICT (organization_id) DO UPDATE SET version = v.version + 1;
    END IF;
    RETURN NULL;
END
$$;


ALTER FUNCTION public.bump_suppression_version() OWNER TO <migrator>;

--
-- Name: capture_company_change(); Type: FUNCTION; Schema: public; Owner: <migrator>
--

CREATE FUNCTION public.capture_company_change() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO public.change_log (organization_id, company_id, source_table)
        SELECT organization_id, id, 'company' FROM old_rows;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO public.change_log
            (organization_id, company_id, source_table, profile_unchanged)
        SELECT organization_id, id, 'company', profile_updated_at IS DISTINCT FROM now()
        FROM new_rows;
    ELSE
        INSERT INTO public.change_log (organization_id, company_id, source_table)
        SELECT organization_id, id, 'company' FROM new_rows;
    END IF;
    IF FOUND AND pg_catalog.pg_sequence_last_value('public.change_drain_generation'::regclass)::text
            IS DISTINCT FROM pg_catalog.current_setting('lma.signal_checked', true) THEN
        PERFORM public.signal_change();
    END IF;
    RETURN NULL;
END
$$;


ALTER FUNCTION public.capture_company_change() OWNER TO <migrator>;

--
-- Name: capture_prospect_change(); Type: FUNCTION; Schema: public; Owner: <migrator>
--

CREATE FUNCTION public.capture_prospect_change() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        INSERT INTO public.change_log (organization_id, company_id, prospect_id, source_table)
        SELECT organization_id, company_id, id, 'prospect' FROM new_rows;
    ELSIF TG_OP = 'INSERT' THEN
        INSERT INTO public.change_log (organization_id, company_id, prospect_id, source_table)
        SELECT DISTINCT organization_id, company_id,
            CASE WHEN count(*) OVER () <= 64 THEN id END, 'prospect'
        FROM new_rows;
    ELSE
        INSERT INTO public.change_log (organization_id, company_id, prospect_id, source_table)
        SELECT DISTINCT organization_id, company_id,
            CASE WHEN count(*) OVER () <= 64 THEN id END, 'prospect'
        FROM old_rows;
    END IF;
    -- Function calls, no query: PL/pgSQL evaluates this without the executor.
    IF FOUND AND pg_catalog.pg_sequence_last_value('public.change_drain_generation'::regclass)::text
            IS DISTINCT FROM pg_catalog.current_setting('lma.signal_checked', true) THEN
        PERFORM public.signal_change();
    END IF;
    RETURN NULL;
END
$$;


ALTER FUNCTION public.capture_prospect_change() OWNER TO <migrator>;

--
-- Name: capture_prospect_move(); Type: FUNCTION; Schema: public; Owner: <migrator>
--

CREATE FUNCTION public.capture_prospect_move() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    INSERT INTO public.change_log (organization_id, company_id, prospect_id, source_table)
    VALUES (OLD.organization_id, OLD.company_id, OLD.id, 'prospect');
    RETURN NULL;
END
$$;


ALTER FUNCTION public.capture_prospect_move() OWNER TO <migrator>;

--
-- Name: company_context(text, text, text, integer, integer, bigint, bigint, text, text); Type: FUNCTION; Schema: public; Owner: <migrator>
--

CREATE FUNCTION public.company_context(name text, domain text, industry text, min_employees integer, max_employees integer, revenue bigint, max_revenue bigint, city text, country text) RETURNS text
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


ALTER FUNCTION public.company_context(name text, domain text, industry text, min_employees integer, max_employees integer, revenue bigint, max_revenue bigint, city text, country text) OWNER TO <migrator>;

--
-- Name: employee_size_bucket(integer, integer); Type: FUNCTION; Schema: public; Owner: <migrator>
--

CREATE FUNCTION public.employee_size_bucket(min_employees integer, max_employees integer) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
    SELECT CASE
        WHEN coalesce(min_employees, max_employees) IS NULL THEN NULL
        WHEN coalesce(min_employees, max_employees) <= 10 THEN '1-10'
        WHEN coalesce(min_employees, max_employees) <= 50 THEN '11-50'
        WHEN coalesce(min_employees, max_employees) <= 200 THEN '51-200'
        WHEN coalesce(min_employees, max_employees) <= 1000 THEN '201-1000'
        WHEN coalesce(min_employees, max_employees) <= 5000 THEN '1001-5000'
        ELSE '5001+'
    END
$$;


ALTER FUNCTION public.employee_size_bucket(min_employees integer, max_employees integer) OWNER TO <migrator>;

--
-- Name: format_employee_range(integer, integer); Type: FUNCTION; Schema: public; Owner: <migrator>
--

CREATE FUNCTION public.format_employee_range(min_employees integer, max_employees integer) RETURNS text
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


ALTER FUNCTION public.format_employee_range(min_employees integer, max_employees integer) OWNER TO <migrator>;

--
-- Name: format_revenue(bigint); Type: FUNCTION; Schema: public; Owner: <migrator>
--

CREATE FUNCTION public.format_revenue(revenue bigint) RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $_$
    SELECT CASE
        WHEN revenue IS NULL THEN 'NA'
        WHEN revenue >= 999950000 THEN to_char(round(revenue / 1e9, 1), 'FM9999999990.0') || 'B'
        WHEN revenue >= 999950 THEN to_char(round(revenue / 1e6, 1), 'FM990.0') || 'M'
        WHEN revenue >= 1000 THEN to_char(round(revenue / 1e3, 1), 'FM990.0') || 'K'
        ELSE '$' || revenue::text
    END
$_$;


ALTER FUNCTION public.format_revenue(revenue bigint) OWNER TO <migrator>;

--
-- Name: format_revenue(bigint, bigint); Type: FUNCTION; Schema: public; Owner: <migrator>
--

CREATE FUNCTION public.format_revenue(revenue bigint, max_revenue bigint) RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$
    SELECT CASE
        WHEN revenue IS NULL OR max_revenue = revenue THEN format_revenue(revenue)
        WHEN max_revenue IS NULL THEN format_revenue(revenue) || '+'
        ELSE format_revenue(revenue) || '-' || format_revenue(max_revenue)
    END
$$;


ALTER FUNCTION public.format_revenue(revenue bigint, max_revenue bigint) OWNER TO <migrator>;

--
-- Name: link_new_prospects(); Type: FUNCTION; Schema: public; Owner: <migrator>
--

CREATE FUNCTION public.link_new_prospects() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM new_rows n JOIN public.prospect_email_alias a
               ON a.organization_id = n.organization_id AND a.email = lower(n.email)) THEN
        RAISE unique_violation USING
            MESSAGE = 'the address is another prospect''s',
            CONSTRAINT = 'prospect_email_alias_pkey';
    END IF;
    INSERT INTO public.prospect_source_link (organization_id, external_source, external_id, prospect_id)
    SELECT organization_id, external_source, external_id, id FROM new_rows;
    RETURN NULL;
END
$$;


ALTER FUNCTION public.link_new_prospects() OWNER TO <migrator>;

--
-- Name: lock_suppression_list(bigint, boolean); Type: FUNCTION; Schema: public; Owner: <migrator>
--

CREATE FUNCTION public.lock_suppression_list(organization bigint, exclusive boolean) RETURNS bigint
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF exclusive THEN
        PERFORM pg_catalog.pg_advisory_xact_lock(1819112309, (organization % 2147483648)::integer);
    ELSE
        PERFORM pg_catalog.pg_advisory_xact_lock_shared(1819112309,
                                                        (organization % 2147483648)::integer);
    END IF;
    RETURN coalesce((SELECT v.version FROM public.suppression_version v
                     WHERE v.organization_id = organization), 0);
END
$$;


ALTER FUNCTION public.lock_suppression_list(organization bigint, exclusive boolean) OWNER TO <migrator>;

--
-- Name: lower_tags(text[]); Type: FUNCTION; Schema: public; Owner: <migrator>
--

CREATE FUNCTION public.lower_tags(tags text[]) RETURNS text[]
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$
    SELECT coalesce(array_agg(lower(tag)), '{}') FROM unnest(tags) AS tag
$$;


ALTER FUNCTION public.lower_tags(tags text[]) OWNER TO <migrator>;

--
-- Name: prospect_text_known(bigint, text); Type: FUNCTION; Schema: public; Owner: <migrator>
--

CREATE FUNCTION public.prospect_text_known(organization bigint, query text) RETURNS boolean
    LANGUAGE sql STABLE PARALLEL SAFE
    SET enable_seqscan TO 'off'
    AS $$
    -- OR evaluates the second EXISTS only when the first is false.
    SELECT EXISTS (
        SELECT 1 FROM prospect_search_view TABLESAMPLE SYSTEM_ROWS (1000)
        WHERE search_document @@ websearch_to_tsquery('simple', query)
          AND organization_id = organization)
    OR EXISTS (
        SELECT 1 FROM prospect_search_view
        WHERE search_document @@ websearch_to_tsquery('simple', query)
          AND organization_id + 0 = organization)
$$;


ALTER FUNCTION public.prospect_text_known(organization bigint, query text) OWNER TO <migrator>;

--
-- Name: prospect_trigram_text(text, text, text, text, text); Type: FUNCTION; Schema: public; Owner: <migrator>
--

CREATE FUNCTION public.prospect_trigram_text(full_name text, email text, job_title text, company_name text, industry text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
    SELECT lower(concat_ws(' ', full_name, email, job_title, company_name, industry))
$$;


ALTER FUNCTION public.prospect_trigram_text(full_name text, email text, job_title text, company_name text, industry text) OWNER TO <migrator>;

--
-- Name: set_company_suppressed_by(); Type: FUNCTION; Schema: public; Owner: <migrator>
--

CREATE FUNCTION public.set_company_suppressed_by() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    NEW.suppressed_by := (
        SELECT s.id FROM public.suppression s
        WHERE s.organization_id = NEW.organization_id AND s.domain = NEW.domain
          AND s.policy = 'hide');
    RETURN NEW;
END
$$;


ALTER FUNCTION public.set_company_suppressed_by() OWNER TO <migrator>;

--
-- Name: set_company_updated_at(); Type: FUNCTION; Schema: public; Owner: <migrator>
--

CREATE FUNCTION public.set_company_updated_at() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
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


ALTER FUNCTION public.set_company_updated_at() OWNER TO <migrator>;

--
-- Name: set_prospect_updated_at(); Type: FUNCTION; Schema: public; Owner: <migrator>
--

CREATE FUNCTION public.set_prospect_updated_at() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
DECLARE
    unhidden public.prospect := NEW;
BEGIN
    unhidden.suppressed_by := OLD.suppressed_by;
    IF unhidden IS DISTINCT FROM OLD THEN
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END
$$;


ALTER FUNCTION public.set_prospect_updated_at() OWNER TO <migrator>;

--
-- Name: set_updated_at(); Type: FUNCTION; Schema: public; Owner: <migrator>
--

CREATE FUNCTION public.set_updated_at() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END
$$;


ALTER FUNCTION public.set_updated_at() OWNER TO <migrator>;

--
-- Name: signal_change(); Type: FUNCTION; Schema: public; Owner: <migrator>
--

CREATE FUNCTION public.signal_change() RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'public'
    AS $$
DECLARE
    -- Before the signal: see above.
    generation bigint := pg_sequence_last_value('change_drain_generation');
BEGIN
    -- SKIP LOCKED: another writer holding the row is signalling right now, and a long import
    -- holding it must never make short writes wait.
    IF NOT (SELECT pending FROM change_signal) THEN
        PERFORM 1 FROM change_signal WHERE NOT pending FOR UPDATE SKIP LOCKED;
        IF FOUND THEN
            UPDATE change_signal SET pending = true;
            PERFORM pg_notify('lma_change_log', '');
        END IF;
    END IF;
    -- Not LOCAL: it outlives this transaction, unless the transaction rolls back.
    PERFORM set_config('lma.signal_checked', generation::text, false);
END
$$;


ALTER FUNCTION public.signal_change() OWNER TO <migrator>;

--
-- Name: source_rank(text[], text); Type: FUNCTION; Schema: public; Owner: <migrator>
--

CREATE FUNCTION public.source_rank(priority text[], source text) RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
    SELECT coalesce((
        SELECT cardinality(priority) - u.n + 1
        FROM unnest(priority) WITH ORDINALITY AS u(pattern, n)
        WHERE u.pattern = source
           OR (right(u.pattern, 1) = '*'
               AND left(source, length(u.pattern) - 1) = left(u.pattern, length(u.pattern) - 1))
        ORDER BY u.n LIMIT 1), 0)
$$;


ALTER FUNCTION public.source_rank(priority text[], source text) OWNER TO <migrator>;

--
-- Name: swap_prospect_email_alias(); Type: FUNCTION; Schema: public; Owner: <migrator>
--

CREATE FUNCTION public.swap_prospect_email_alias() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    DELETE FROM public.prospect_email_alias
    WHERE organization_id = NEW.organization_id AND email = lower(NEW.email)
      AND prospect_id = NEW.id;
    IF FOUND THEN
        INSERT INTO public.prospect_email_alias (organization_id, email, prospect_id)
        VALUES (NEW.organization_id, lower(OLD.email), NEW.id)
        ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END
$$;


ALTER FUNCTION public.swap_prospect_email_alias() OWNER TO <migrator>;

SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: api_key; Type: TABLE; Schema: public; Owner: <migrator>
--

CREATE TABLE public.api_key (
    id bigint NOT NULL,
    organization_id bigint NOT NULL,
    name character varying(200) NOT NULL,
    key_hash bytea NOT NULL,
    key_prefix character varying(16) NOT NULL,
    scopes text[] NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    revoked_at timestamp with time zone,
    CONSTRAINT api_key_hash_length CHECK ((octet_length(key_hash) = 32)),
    CONSTRAINT api_key_known_scopes CHECK ((scopes <@ ARRAY['ingest.write'::text, 'search.read'::text, 'refresh.admin'::text, 'privacy.admin'::text]))
);


ALTER TABLE public.api_key OWNER TO <migrator>;

--
-- Name: api_key_id_seq; Type: SEQUENCE; Schema: public; Owner: <migrator>
--

ALTER TABLE public.api_key ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.api_key_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: change_drain_generation; Type: SEQUENCE; Schema: public; Owner: <migrator>
--

CREATE SEQUENCE public.change_drain_generation
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


ALTER TABLE public.change_drain_generation OWNER TO <migrator>;

--
-- Name: change_log; Type: TABLE; Schema: public; Owner: <migrator>
--

CREATE TABLE public.change_log (
    id bigint NOT NULL,
    organization_id bigint NOT NULL,
    company_id bigint NOT NULL,
    source_table text NOT NULL,
    xid xid8 DEFAULT pg_current_xact_id() NOT NULL,
    traceparent text DEFAULT NULLIF(current_setting('lma.traceparent'::text, true), ''::text),
    created_at timestamp with time zone DEFAULT clock_timestamp() NOT NULL,
    prospect_id bigint,
    profile_unchanged boolean DEFAULT false NOT NULL
);


ALTER TABLE public.change_log OWNER TO <migrator>;

--
-- Name: change_log_id_seq; Type: SEQUENCE; Schema: public; Owner: <migrator>
--

ALTER TABLE public.change_log ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.change_log_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: change_signal; Type: TABLE; Schema: public; Owner: <migrator>
--

CREATE TABLE public.change_signal (
    singleton boolean DEFAULT true NOT NULL,
    pending boolean NOT NULL,
    CONSTRAINT change_signal_singleton_check CHECK (singleton)
);


ALTER TABLE public.change_signal OWNER TO <migrator>;

--
-- Name: company; Type: TABLE; Schema: public; Owner: <migrator>
--

CREATE TABLE public.company (
    id bigint NOT NULL,
    organization_id bigint NOT NULL,
    domain character varying(253) NOT NULL,
    name character varying(300),
    industry character varying(100),
    min_employees integer,
    max_employees integer,
    employee_size_link character varying(2048),
    revenue bigint,
    address character varying(300),
    city character varying(100),
    state character varying(100),
    country character varying(100),
    zip_code character varying(20),
    phone character varying(50),
    mobile_phone character varying(50),
    external_source character varying(100) DEFAULT ''::character varying NOT NULL,
    external_id character varying(200),
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    profile_updated_at timestamp with time zone DEFAULT now(),
    country_code text,
    max_revenue bigint,
    suppressed_by bigint,
    CONSTRAINT company_country_code_alpha2 CHECK ((country_code ~ '^[A-Z]{2}$'::text)),
    CONSTRAINT company_domain_format CHECK (((domain)::text ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$'::text)),
    CONSTRAINT company_employees_non_negative CHECK (((min_employees >= 0) AND (max_employees >= 0))),
    CONSTRAINT company_employees_range CHECK ((min_employees <= max_employees)),
    CONSTRAINT company_max_revenue_has_revenue CHECK (((max_revenue IS NULL) OR (revenue IS NOT NULL))),
    CONSTRAINT company_revenue_non_negative CHECK ((revenue >= 0)),
    CONSTRAINT company_revenue_range CHECK ((max_revenue >= revenue))
);


ALTER TABLE public.company OWNER TO <migrator>;

--
-- Name: company_id_seq; Type: SEQUENCE; Schema: public; Owner: <migrator>
--

ALTER TABLE public.company ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.company_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: prospect; Type: TABLE; Schema: public; Owner: <migrator>
--

CREATE TABLE public.prospect (
    id bigint NOT NULL,
    organization_id bigint NOT NULL,
    company_id bigint NOT NULL,
    external_source character varying(100) DEFAULT ''::character varying NOT NULL,
    external_id character varying(200) NOT NULL,
    salutation character varying(20),
    first_name character varying(100),
    last_name character varying(100),
    email character varying(254) NOT NULL,
    job_title character varying(200),
    job_title_level character varying(20),
    department character varying(100),
    job_title_link character varying(2048),
    address character varying(300),
    city character varying(100),
    state character varying(100),
    country character varying(100),
    zip_code character varying(20),
    phone character varying(50),
    mobile_phone character varying(50),
    tags text[] DEFAULT '{}'::text[] NOT NULL,
    custom_fields jsonb DEFAULT '{}'::jsonb NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    country_code text,
    suppressed_by bigint,
    created_token xid8 DEFAULT pg_current_xact_id(),
    provenance jsonb,
    CONSTRAINT prospect_country_code_alpha2 CHECK ((country_code ~ '^[A-Z]{2}$'::text)),
    CONSTRAINT prospect_custom_fields_object CHECK ((jsonb_typeof(custom_fields) = 'object'::text)),
    CONSTRAINT prospect_email_format CHECK (((email)::text ~ '^[^@[:space:]]+@[^@[:space:]]+\.[^@[:space:]]+$'::text)),
    CONSTRAINT prospect_external_id_not_blank CHECK ((btrim((external_id)::text) <> ''::text)),
    CONSTRAINT prospect_job_title_level_known CHECK (((job_title_level)::text = ANY ((ARRAY['owner'::character varying, 'c_suite'::character varying, 'vp'::character varying, 'director'::character varying, 'manager'::character varying, 'senior'::character varying, 'entry'::character varying, 'other'::character varying])::text[])))
);


ALTER TABLE public.prospect OWNER TO <migrator>;

--
-- Name: prospect_with_company_def; Type: VIEW; Schema: public; Owner: <migrator>
--

CREATE VIEW public.prospect_with_company_def AS
 SELECT p.id AS prospect_id,
    p.organization_id,
    p.company_id,
    p.external_source,
    p.external_id,
    p.salutation,
    p.first_name,
    p.last_name,
    concat_ws(' '::text, p.first_name, p.last_name) AS full_name,
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
    public.format_revenue(c.revenue, c.max_revenue) AS formatted_revenue,
    c.address AS company_address,
    c.city AS company_city,
    c.state AS company_state,
    c.country AS company_country,
    c.zip_code AS company_zip_code,
    c.phone AS company_phone,
    public.company_context((c.name)::text, (c.domain)::text, (c.industry)::text, c.min_employees, c.max_employees, c.revenue, c.max_revenue, (c.city)::text, (c.country)::text) AS company_context,
    p.created_at,
    p.updated_at AS prospect_updated_at,
    c.updated_at AS company_updated_at,
    COALESCE(c.profile_updated_at, c.updated_at) AS company_profile_updated_at,
    c.max_revenue,
    ((p.suppressed_by IS NOT NULL) OR (c.suppressed_by IS NOT NULL)) AS suppressed
   FROM (public.prospect p
     JOIN public.company c ON ((c.id = p.company_id)));


ALTER TABLE public.prospect_with_company_def OWNER TO <migrator>;

--
-- Name: company_prospect_def; Type: VIEW; Schema: public; Owner: <migrator>
--

CREATE VIEW public.company_prospect_def AS
 SELECT prospect_with_company_def.prospect_id,
    prospect_with_company_def.organization_id,
    prospect_with_company_def.company_id,
    prospect_with_company_def.external_source,
    prospect_with_company_def.external_id,
    prospect_with_company_def.salutation,
    prospect_with_company_def.first_name,
    prospect_with_company_def.last_name,
    prospect_with_company_def.full_name,
    prospect_with_company_def.email,
    prospect_with_company_def.job_title,
    prospect_with_company_def.job_title_level,
    prospect_with_company_def.department,
    prospect_with_company_def.job_title_link,
    prospect_with_company_def.address,
    prospect_with_company_def.city,
    prospect_with_company_def.state,
    prospect_with_company_def.country,
    prospect_with_company_def.zip_code,
    prospect_with_company_def.phone,
    prospect_with_company_def.mobile_phone,
    prospect_with_company_def.tags,
    prospect_with_company_def.custom_fields,
    prospect_with_company_def.company_domain,
    prospect_with_company_def.company_name,
    prospect_with_company_def.industry,
    prospect_with_company_def.min_employees,
    prospect_with_company_def.max_employees,
    prospect_with_company_def.employee_size_link,
    prospect_with_company_def.revenue,
    prospect_with_company_def.formatted_revenue,
    prospect_with_company_def.company_address,
    prospect_with_company_def.company_city,
    prospect_with_company_def.company_state,
    prospect_with_company_def.company_country,
    prospect_with_company_def.company_zip_code,
    prospect_with_company_def.company_phone,
    prospect_with_company_def.company_context,
    prospect_with_company_def.created_at,
    GREATEST(prospect_with_company_def.prospect_updated_at, prospect_with_company_def.company_updated_at) AS updated_at,
    prospect_with_company_def.max_revenue
   FROM public.prospect_with_company_def;


ALTER TABLE public.company_prospect_def OWNER TO <migrator>;

--
-- Name: company_prospect_view; Type: TABLE; Schema: public; Owner: lma_refresh
--

CREATE TABLE public.company_prospect_view (
    prospect_id bigint NOT NULL,
    organization_id bigint,
    company_id bigint,
    external_source character varying(100),
    external_id character varying(200),
    salutation character varying(20),
    first_name character varying(100),
    last_name character varying(100),
    full_name text,
    email character varying(254),
    job_title character varying(200),
    job_title_level character varying(20),
    department character varying(100),
    job_title_link character varying(2048),
    address character varying(300),
    city character varying(100),
    state character varying(100),
    country character varying(100),
    zip_code character varying(20),
    phone character varying(50),
    mobile_phone character varying(50),
    tags text[],
    custom_fields jsonb,
    company_domain character varying(253),
    company_name character varying(300),
    industry character varying(100),
    min_employees integer,
    max_employees integer,
    employee_size_link character varying(2048),
    revenue bigint,
    formatted_revenue text,
    company_address character varying(300),
    company_city character varying(100),
    company_state character varying(100),
    company_country character varying(100),
    company_zip_code character varying(20),
    company_phone character varying(50),
    company_context text,
    created_at timestamp with time zone,
    updated_at timestamp with time zone,
    max_revenue bigint
)
WITH (fillfactor='85');


ALTER TABLE public.company_prospect_view OWNER TO lma_refresh;

--
-- Name: company_rederivation; Type: TABLE; Schema: public; Owner: <migrator>
--

CREATE TABLE public.company_rederivation (
    company_id bigint NOT NULL,
    organization_id bigint NOT NULL,
    pending_since xid8 NOT NULL,
    pending_at timestamp with time zone DEFAULT now() NOT NULL,
    whole boolean NOT NULL,
    done_up_to bigint DEFAULT 0,
    pass_started_at timestamp with time zone,
    dirty_since xid8,
    dirty_at timestamp with time zone,
    chunks integer DEFAULT 0 NOT NULL,
    passes integer DEFAULT 0 NOT NULL,
    worked_at timestamp with time zone,
    queued_by xid8 DEFAULT pg_current_xact_id() NOT NULL,
    profile boolean DEFAULT true NOT NULL,
    dirty_profile boolean DEFAULT false NOT NULL
);


ALTER TABLE public.company_rederivation OWNER TO <migrator>;

--
-- Name: company_summary_def; Type: VIEW; Schema: public; Owner: <migrator>
--

CREATE VIEW public.company_summary_def AS
SELECT
    NULL::bigint AS company_id,
    NULL::bigint AS organization_id,
    NULL::character varying(253) AS domain,
    NULL::character varying(300) AS name,
    NULL::character varying(100) AS industry,
    NULL::integer AS min_employees,
    NULL::integer AS max_employees,
    NULL::character varying(2048) AS employee_size_link,
    NULL::bigint AS revenue,
    NULL::text AS formatted_revenue,
    NULL::character varying(300) AS address,
    NULL::character varying(100) AS city,
    NULL::character varying(100) AS state,
    NULL::character varying(100) AS country,
    NULL::character varying(20) AS zip_code,
    NULL::character varying(50) AS phone,
    NULL::character varying(100) AS external_source,
    NULL::character varying(200) AS external_id,
    NULL::text AS company_context,
    NULL::bigint AS prospect_count,
    NULL::character varying[] AS departments,
    NULL::timestamp with time zone AS last_prospect_updated_at,
    NULL::timestamp with time zone AS created_at,
    NULL::timestamp with time zone AS updated_at,
    NULL::tsvector AS search_document,
    NULL::bigint AS max_revenue,
    NULL::boolean AS suppressed;


ALTER TABLE public.company_summary_def OWNER TO <migrator>;

--
-- Name: company_summary_view; Type: TABLE; Schema: public; Owner: lma_refresh
--

CREATE TABLE public.company_summary_view (
    company_id bigint NOT NULL,
    organization_id bigint,
    domain character varying(253),
    name character varying(300),
    industry character varying(100),
    min_employees integer,
    max_employees integer,
    employee_size_link character varying(2048),
    revenue bigint,
    formatted_revenue text,
    address character varying(300),
    city character varying(100),
    state character varying(100),
    country character varying(100),
    zip_code character varying(20),
    phone character varying(50),
    external_source character varying(100),
    external_id character varying(200),
    company_context text,
    prospect_count bigint,
    departments character varying[],
    last_prospect_updated_at timestamp with time zone,
    created_at timestamp with time zone,
    updated_at timestamp with time zone,
    search_document tsvector,
    max_revenue bigint,
    suppressed boolean
)
WITH (fillfactor='85');


ALTER TABLE public.company_summary_view OWNER TO lma_refresh;

--
-- Name: customer; Type: TABLE; Schema: public; Owner: <migrator>
--

CREATE TABLE public.customer (
    id bigint NOT NULL,
    organization_id bigint NOT NULL,
    external_source character varying(100) DEFAULT ''::character varying NOT NULL,
    external_id character varying(200),
    salutation text,
    first_name text,
    last_name text,
    email text,
    job_title text,
    job_title_level text,
    department text,
    job_title_link text,
    address text,
    city text,
    state text,
    country text,
    zip_code text,
    phone text,
    mobile_phone text,
    company_name text,
    company_domain text,
    industry text,
    min_employees integer,
    max_employees integer,
    employee_size_link text,
    revenue bigint,
    company_address text,
    company_city text,
    company_state text,
    company_country text,
    company_zip_code text,
    company_phone text,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    max_revenue bigint
);


ALTER TABLE public.customer OWNER TO <migrator>;

--
-- Name: customer_id_seq; Type: SEQUENCE; Schema: public; Owner: <migrator>
--

ALTER TABLE public.customer ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.customer_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: materialized_view_error; Type: TABLE; Schema: public; Owner: <migrator>
--

CREATE TABLE public.materialized_view_error (
    id bigint NOT NULL,
    view_name text NOT NULL,
    mode text NOT NULL,
    error text NOT NULL,
    occurred_at timestamp with time zone DEFAULT now() NOT NULL,
    replica text
);


ALTER TABLE public.materialized_view_error OWNER TO <migrator>;

--
-- Name: materialized_view_error_id_seq; Type: SEQUENCE; Schema: public; Owner: <migrator>
--

ALTER TABLE public.materialized_view_error ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.materialized_view_error_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: materialized_view_log; Type: TABLE; Schema: public; Owner: <migrator>
--

CREATE TABLE public.materialized_view_log (
    id bigint NOT NULL,
    view_name text NOT NULL,
    mode text NOT NULL,
    keys bigint NOT NULL,
    rows_affected bigint NOT NULL,
    started_at timestamp with time zone NOT NULL,
    duration_ms double precision NOT NULL,
    watermark xid8,
    replica text,
    CONSTRAINT materialized_view_log_mode_check CHECK ((mode = ANY (ARRAY['incremental'::text, 'full'::text, 'reconcile'::text])))
);


ALTER TABLE public.materialized_view_log OWNER TO <migrator>;

--
-- Name: materialized_view_log_id_seq; Type: SEQUENCE; Schema: public; Owner: <migrator>
--

ALTER TABLE public.materialized_view_log ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.materialized_view_log_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: organization; Type: TABLE; Schema: public; Owner: <migrator>
--

CREATE TABLE public.organization (
    id bigint NOT NULL,
    name character varying(200) NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT organization_name_not_blank CHECK ((btrim((name)::text) <> ''::text))
);


ALTER TABLE public.organization OWNER TO <migrator>;

--
-- Name: organization_id_seq; Type: SEQUENCE; Schema: public; Owner: <migrator>
--

ALTER TABLE public.organization ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.organization_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: organization_source_priority; Type: TABLE; Schema: public; Owner: <migrator>
--

CREATE TABLE public.organization_source_priority (
    organization_id bigint NOT NULL,
    sources text[] NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL
);


ALTER TABLE public.organization_source_priority OWNER TO <migrator>;

--
-- Name: privacy_audit; Type: TABLE; Schema: public; Owner: <migrator>
--

CREATE TABLE public.privacy_audit (
    id bigint NOT NULL,
    organization_id bigint NOT NULL,
    at timestamp with time zone DEFAULT now() NOT NULL,
    api_key_id bigint NOT NULL,
    action text NOT NULL,
    suppression_id bigint,
    email_hmac bytea,
    domain character varying(253),
    reason text,
    policy text,
    prospect_ids bigint[],
    legacy_customer_ids bigint[],
    CONSTRAINT privacy_audit_action_known CHECK ((action = ANY (ARRAY['suppression_added'::text, 'suppression_updated'::text, 'suppression_removed'::text, 'person_exported'::text, 'person_erased'::text, 'prospects_merged'::text, 'prospect_unmerged'::text])))
);


ALTER TABLE public.privacy_audit OWNER TO <migrator>;

--
-- Name: privacy_audit_id_seq; Type: SEQUENCE; Schema: public; Owner: <migrator>
--

ALTER TABLE public.privacy_audit ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.privacy_audit_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: prospect_email_alias; Type: TABLE; Schema: public; Owner: <migrator>
--

CREATE TABLE public.prospect_email_alias (
    organization_id bigint NOT NULL,
    email character varying(254) NOT NULL,
    prospect_id bigint NOT NULL
);


ALTER TABLE public.prospect_email_alias OWNER TO <migrator>;

--
-- Name: prospect_id_seq; Type: SEQUENCE; Schema: public; Owner: <migrator>
--

ALTER TABLE public.prospect ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.prospect_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: prospect_merge; Type: TABLE; Schema: public; Owner: <migrator>
--

CREATE TABLE public.prospect_merge (
    id bigint NOT NULL,
    organization_id bigint NOT NULL,
    survivor_id bigint NOT NULL,
    merged_id bigint NOT NULL,
    merged jsonb NOT NULL,
    survivor_before jsonb NOT NULL,
    link_sources text[] NOT NULL,
    link_ids text[] NOT NULL,
    addresses text[] NOT NULL,
    merged_at timestamp with time zone DEFAULT now() NOT NULL
);


ALTER TABLE public.prospect_merge OWNER TO <migrator>;

--
-- Name: prospect_merge_id_seq; Type: SEQUENCE; Schema: public; Owner: <migrator>
--

ALTER TABLE public.prospect_merge ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.prospect_merge_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: prospect_search_def; Type: VIEW; Schema: public; Owner: <migrator>
--

CREATE VIEW public.prospect_search_def AS
 SELECT d.prospect_id,
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
    COALESCE(d.city, d.company_city) AS city,
    COALESCE(d.state, d.company_state) AS state,
    COALESCE(d.country, d.company_country) AS country,
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
    GREATEST(d.prospect_updated_at, d.company_profile_updated_at) AS updated_at,
    (((setweight(to_tsvector('simple'::regconfig, d.full_name), 'A'::"char") || setweight(to_tsvector('simple'::regconfig, concat_ws(' '::text, d.company_name, d.company_domain)), 'A'::"char")) || setweight(to_tsvector('simple'::regconfig, concat_ws(' '::text, d.job_title, d.email)), 'B'::"char")) || setweight(to_tsvector('simple'::regconfig, concat_ws(' '::text, d.industry, d.department)), 'C'::"char")) AS search_document,
    public.lower_tags(d.tags) AS search_tags,
    d.max_revenue,
    d.suppressed
   FROM public.prospect_with_company_def d;


ALTER TABLE public.prospect_search_def OWNER TO <migrator>;

--
-- Name: prospect_search_view; Type: TABLE; Schema: public; Owner: lma_refresh
--

CREATE TABLE public.prospect_search_view (
    prospect_id bigint NOT NULL,
    organization_id bigint,
    company_id bigint,
    external_source character varying(100),
    external_id character varying(200),
    salutation character varying(20),
    first_name character varying(100),
    last_name character varying(100),
    full_name text,
    email character varying(254),
    job_title character varying(200),
    job_title_level character varying(20),
    department character varying(100),
    city character varying(100),
    state character varying(100),
    country character varying(100),
    tags text[],
    custom_fields jsonb,
    company_domain character varying(253),
    company_name character varying(300),
    industry character varying(100),
    min_employees integer,
    max_employees integer,
    revenue bigint,
    formatted_revenue text,
    company_context text,
    updated_at timestamp with time zone,
    search_document tsvector,
    search_tags text[],
    max_revenue bigint,
    suppressed boolean
);


ALTER TABLE public.prospect_search_view OWNER TO lma_refresh;

--
-- Name: prospect_source_link; Type: TABLE; Schema: public; Owner: <migrator>
--

CREATE TABLE public.prospect_source_link (
    organization_id bigint NOT NULL,
    external_source character varying(100) NOT NULL,
    external_id character varying(200) NOT NULL,
    prospect_id bigint NOT NULL,
    linked_at timestamp with time zone DEFAULT now() NOT NULL
);


ALTER TABLE public.prospect_source_link OWNER TO <migrator>;

--
-- Name: read_model_organization_state; Type: TABLE; Schema: public; Owner: <migrator>
--

CREATE TABLE public.read_model_organization_state (
    organization_id bigint NOT NULL,
    read_model text NOT NULL,
    row_count bigint NOT NULL,
    last_rows bigint DEFAULT 0 NOT NULL,
    last_written_at timestamp with time zone
);


ALTER TABLE public.read_model_organization_state OWNER TO <migrator>;

--
-- Name: read_model_state; Type: TABLE; Schema: public; Owner: <migrator>
--

CREATE TABLE public.read_model_state (
    read_model text NOT NULL,
    watermark xid8 DEFAULT '0'::xid8 NOT NULL,
    watermark_at timestamp with time zone DEFAULT now() NOT NULL,
    last_refresh_at timestamp with time zone,
    last_mode text,
    last_duration_ms double precision,
    last_rows bigint,
    row_count bigint DEFAULT 0 NOT NULL,
    needs_rebuild boolean DEFAULT false NOT NULL,
    last_error text,
    last_error_at timestamp with time zone
);


ALTER TABLE public.read_model_state OWNER TO <migrator>;

--
-- Name: refresh_apply_lock; Type: TABLE; Schema: public; Owner: <migrator>
--

CREATE TABLE public.refresh_apply_lock (
);


ALTER TABLE public.refresh_apply_lock OWNER TO <migrator>;

--
-- Name: refresh_leader; Type: TABLE; Schema: public; Owner: <migrator>
--

CREATE TABLE public.refresh_leader (
    singleton boolean DEFAULT true NOT NULL,
    replica text NOT NULL,
    backend_pid integer NOT NULL,
    since timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT refresh_leader_singleton_check CHECK (singleton)
);


ALTER TABLE public.refresh_leader OWNER TO <migrator>;

--
-- Name: suppression; Type: TABLE; Schema: public; Owner: <migrator>
--

CREATE TABLE public.suppression (
    id bigint NOT NULL,
    organization_id bigint NOT NULL,
    email_hmac bytea,
    domain character varying(253),
    reason text NOT NULL,
    reason_text character varying(500),
    policy text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT suppression_domain_format CHECK (((domain)::text ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$'::text)),
    CONSTRAINT suppression_email_hmac_length CHECK ((octet_length(email_hmac) = 32)),
    CONSTRAINT suppression_one_subject CHECK (((email_hmac IS NULL) <> (domain IS NULL))),
    CONSTRAINT suppression_policy_known CHECK ((policy = ANY (ARRAY['refuse'::text, 'hide'::text]))),
    CONSTRAINT suppression_reason_known CHECK ((reason = ANY (ARRAY['erased'::text, 'opted_out'::text, 'do_not_contact'::text, 'competitor'::text, 'other'::text])))
);


ALTER TABLE public.suppression OWNER TO <migrator>;

--
-- Name: suppression_id_seq; Type: SEQUENCE; Schema: public; Owner: <migrator>
--

ALTER TABLE public.suppression ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.suppression_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: suppression_secret; Type: TABLE; Schema: public; Owner: <migrator>
--

CREATE TABLE public.suppression_secret (
    organization_id bigint NOT NULL,
    secret bytea NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT suppression_secret_length CHECK ((octet_length(secret) = 32))
);


ALTER TABLE public.suppression_secret OWNER TO <migrator>;

--
-- Name: suppression_version; Type: TABLE; Schema: public; Owner: <migrator>
--

CREATE TABLE public.suppression_version (
    organization_id bigint NOT NULL,
    version bigint NOT NULL
);


ALTER TABLE public.suppression_version OWNER TO <migrator>;

--
-- Name: api_key api_key_hash_unique; Type: CONSTRAINT; Schema: public; Owner: <migrator>
--

ALTER TABLE ONLY public.api_key
    ADD CONSTRAINT api_key_hash_unique UNIQUE (key_hash);


--
-- Name: api_key api_key_pkey; Type: CONSTRAINT; Schema: public; Owner: <migrator>
--

ALTER TABLE ONLY public.api_key
    ADD CONSTRAINT api_key_pkey PRIMARY KEY (id);


--
-- Name: change_log change_log_pkey; Type: CONSTRAINT; Schema: public; Owner: <migrator>
--

ALTER TABLE ONLY public.change_log
    ADD CONSTRAINT change_log_pkey PRIMARY KEY (id);


--
-- Name: change_signal change_signal_pkey; Type: CONSTRAINT; Schema: public; Owner: <migrator>
--

ALTER TABLE ONLY public.change_signal
    ADD CONSTRAINT change_signal_pkey PRIMARY KEY (singleton);


--
-- Name: company company_domain_unique; Type: CONSTRAINT; Schema: public; Owner: <migrator>
--

ALTER TABLE ONLY public.company
    ADD CONSTRAINT company_domain_unique UNIQUE (organization_id, domain);


--
-- Name: company company_external_id_unique; Type: CONSTRAINT; Schema: public; Owner: <migrator>
--

ALTER TABLE ONLY public.company
    ADD CONSTRAINT company_external_id_unique UNIQUE (organization_id, external_source, external_id);


--
-- Name: company company_organization_id_unique; Type: CONSTRAINT; Schema: public; Owner: <migrator>
--

ALTER TABLE ONLY public.company
    ADD CONSTRAINT company_organization_id_unique UNIQUE (organization_id, id);


--
-- Name: company company_pkey; Type: CONSTRAINT; Schema: public; Owner: <migrator>
--

ALTER TABLE ONLY public.company
    ADD CONSTRAINT company_pkey PRIMARY KEY (id);


--
-- Name: company_prospect_view company_prospect_view_pkey; Type: CONSTRAINT; Schema: public; Owner: lma_refresh
--

ALTER TABLE ONLY public.company_prospect_view
    ADD CONSTRAINT company_prospect_view_pkey PRIMARY KEY (prospect_id);


--
-- Name: company_rederivation company_rederivation_pkey; Type: CONSTRAINT; Schema: public; Owner: <migrator>
--

ALTER TABLE ONLY public.company_rederivation
    ADD CONSTRAINT company_rederivation_pkey PRIMARY KEY (company_id);


--
-- Name: company_summary_view company_summary_view_pkey; Type: CONSTRAINT; Schema: public; Owner: lma_refresh
--

ALTER TABLE ONLY public.company_summary_view
    ADD CONSTRAINT company_summary_view_pkey PRIMARY KEY (company_id);


--
-- Name: customer customer_external_id_unique; Type: CONSTRAINT; Schema: public; Owner: <migrator>
--

ALTER TABLE ONLY public.customer
    ADD CONSTRAINT customer_external_id_unique UNIQUE (organization_id, external_source, external_id);


--
-- Name: customer customer_pkey; Type: CONSTRAINT; Schema: public; Owner: <migrator>
--

ALTER TABLE ONLY public.customer
    ADD CONSTRAINT customer_pkey PRIMARY KEY (id);


--
-- Name: materialized_view_error materialized_view_error_pkey; Type: CONSTRAINT; Schema: public; Owner: <migrator>
--

ALTER TABLE ONLY public.materialized_view_error
    ADD CONSTRAINT materialized_view_error_pkey PRIMARY KEY (id);


--
-- Name: materialized_view_log materialized_view_log_pkey; Type: CONSTRAINT; Schema: public; Owner: <migrator>
--

ALTER TABLE ONLY public.materialized_view_log
    ADD CONSTRAINT materialized_view_log_pkey PRIMARY KEY (id);


--
-- Name: organization organization_name_unique; Type: CONSTRAINT; Schema: public; Owner: <migrator>
--

ALTER TABLE ONLY public.organization
    ADD CONSTRAINT organization_name_unique UNIQUE (name);


--
-- Name: organization organization_pkey; Type: CONSTRAINT; Schema: public; Owner: <migrator>
--

ALTER TABLE ONLY public.organization
    ADD CONSTRAINT organization_pkey PRIMARY KEY (id);


--
-- Name: organization_source_priority organization_source_priority_pkey; Type: CONSTRAINT; Schema: public; Owner: <migrator>
--

ALTER TABLE ONLY public.organization_source_priority
    ADD CONSTRAINT organization_source_priority_pkey PRIMARY KEY (organization_id);


--
-- Name: privacy_audit privacy_audit_pkey; Type: CONSTRAINT; Schema: public; Owner: <migrator>
--

ALTER TABLE ONLY public.privacy_audit
    ADD CONSTRAINT privacy_audit_pkey PRIMARY KEY (id);


--
-- Name: prospect_email_alias prospect_email_alias_pkey; Type: CONSTRAINT; Schema: public; Owner: <migrator>
--

ALTER TABLE ONLY public.prospect_email_alias
    ADD CONSTRAINT prospect_email_alias_pkey PRIMARY KEY (organization_id, email);


--
-- Name: prospect prospect_external_id_unique; Type: CONSTRAINT; Schema: public; Owner: <migrator>
--

ALTER TABLE ONLY public.prospect
    ADD CONSTRAINT prospect_external_id_unique UNIQUE (organization_id, external_source, external_id);


--
-- Name: prospect_merge prospect_merge_pkey; Type: CONSTRAINT; Schema: public; Owner: <migrator>
--

ALTER TABLE ONLY public.prospect_merge
    ADD CONSTRAINT prospect_merge_pkey PRIMARY KEY (id);


--
-- Name: prospect prospect_pkey; Type: CONSTRAINT; Schema: public; Owner: <migrator>
--

ALTER TABLE ONLY public.prospect
    ADD CONSTRAINT prospect_pkey PRIMARY KEY (id);


--
-- Name: prospect_search_view prospect_search_view_pkey; Type: CONSTRAINT; Schema: public; Owner: lma_refresh
--

ALTER TABLE ONLY public.prospect_search_view
    ADD CONSTRAINT prospect_search_view_pkey PRIMARY KEY (prospect_id);


--
-- Name: prospect_source_link prospect_source_link_pkey; Type: CONSTRAINT; Schema: public; Owner: <migrator>
--

ALTER TABLE ONLY public.prospect_source_link
    ADD CONSTRAINT prospect_source_link_pkey PRIMARY KEY (organization_id, external_source, external_id);


--
-- Name: read_model_organization_state read_model_organization_state_pkey; Type: CONSTRAINT; Schema: public; Owner: <migrator>
--

ALTER TABLE ONLY public.read_model_organization_state
    ADD CONSTRAINT read_model_organization_state_pkey PRIMARY KEY (organization_id, read_model);


--
-- Name: read_model_state read_model_state_pkey; Type: CONSTRAINT; Schema: public; Owner: <migrator>
--

ALTER TABLE ONLY public.read_model_state
    ADD CONSTRAINT read_model_state_pkey PRIMARY KEY (read_model);


--
-- Name: refresh_leader refresh_leader_pkey; Type: CONSTRAINT; Schema: public; Owner: <migrator>
--

ALTER TABLE ONLY public.refresh_leader
    ADD CONSTRAINT refresh_leader_pkey PRIMARY KEY (singleton);


--
-- Name: suppression suppression_pkey; Type: CONSTRAINT; Schema: public; Owner: <migrator>
--

ALTER TABLE ONLY public.suppression
    ADD CONSTRAINT suppression_pkey PRIMARY KEY (id);


--
-- Name: suppression_secret suppression_secret_pkey; Type: CONSTRAINT; Schema: public; Owner: <migrator>
--

ALTER TABLE ONLY public.suppression_secret
    ADD CONSTRAINT suppression_secret_pkey PRIMARY KEY (organization_id);


--
-- Name: suppression_version suppression_version_pkey; Type: CONSTRAINT; Schema: public; Owner: <migrator>
--

ALTER TABLE ONLY public.suppression_version
    ADD CONSTRAINT suppression_version_pkey PRIMARY KEY (organization_id);


--
-- Name: api_key_organization_idx; Type: INDEX; Schema: public; Owner: <migrator>
--

CREATE INDEX api_key_organization_idx ON public.api_key USING btree (organization_id);


--
-- Name: company_prospect_view_company_idx; Type: INDEX; Schema: public; Owner: lma_refresh
--

CREATE INDEX company_prospect_view_company_idx ON public.company_prospect_view USING btree (company_id, prospect_id);


--
-- Name: company_prospect_view_organization_idx; Type: INDEX; Schema: public; Owner: lma_refresh
--

CREATE INDEX company_prospect_view_organization_idx ON public.company_prospect_view USING btree (organization_id, company_id);


--
-- Name: company_rederivation_organization_idx; Type: INDEX; Schema: public; Owner: <migrator>
--

CREATE INDEX company_rederivation_organization_idx ON public.company_rederivation USING btree (organization_id, pending_since);


--
-- Name: company_summary_view_country_idx; Type: INDEX; Schema: public; Owner: lma_refresh
--

CREATE INDEX company_summary_view_country_idx ON public.company_summary_view USING btree (organization_id, lower((country)::text));


--
-- Name: company_summary_view_document_idx; Type: INDEX; Schema: public; Owner: lma_refresh
--

CREATE INDEX company_summary_view_document_idx ON public.company_summary_view USING gin (search_document) WITH (gin_pending_list_limit='16384');


--
-- Name: company_summary_view_domain_idx; Type: INDEX; Schema: public; Owner: lma_refresh
--

CREATE UNIQUE INDEX company_summary_view_domain_idx ON public.company_summary_view USING btree (organization_id, domain);


--
-- Name: company_summary_view_industry_idx; Type: INDEX; Schema: public; Owner: lma_refresh
--

CREATE INDEX company_summary_view_industry_idx ON public.company_summary_view USING btree (organization_id, lower((industry)::text));


--
-- Name: company_summary_view_name_idx; Type: INDEX; Schema: public; Owner: lma_refresh
--

CREATE INDEX company_summary_view_name_idx ON public.company_summary_view USING btree (organization_id, lower((name)::text) text_pattern_ops);


--
-- Name: company_summary_view_prospect_count_idx; Type: INDEX; Schema: public; Owner: lma_refresh
--

CREATE INDEX company_summary_view_prospect_count_idx ON public.company_summary_view USING btree (organization_id, prospect_count DESC, company_id DESC);


--
-- Name: company_summary_view_revenue_idx; Type: INDEX; Schema: public; Owner: lma_refresh
--

CREATE INDEX company_summary_view_revenue_idx ON public.company_summary_view USING btree (organization_id, COALESCE(revenue, ('-1'::integer)::bigint) DESC, company_id DESC);


--
-- Name: company_summary_view_sort_name_idx; Type: INDEX; Schema: public; Owner: lma_refresh
--

CREATE INDEX company_summary_view_sort_name_idx ON public.company_summary_view USING btree (organization_id, lower((COALESCE(name, domain))::text) COLLATE "C", company_id);


--
-- Name: company_suppressed_by_idx; Type: INDEX; Schema: public; Owner: <migrator>
--

CREATE INDEX company_suppressed_by_idx ON public.company USING btree (suppressed_by) WHERE (suppressed_by IS NOT NULL);


--
-- Name: customer_organization_email_idx; Type: INDEX; Schema: public; Owner: <migrator>
--

CREATE INDEX customer_organization_email_idx ON public.customer USING btree (organization_id, lower(btrim(email)));


--
-- Name: materialized_view_error_view_idx; Type: INDEX; Schema: public; Owner: <migrator>
--

CREATE INDEX materialized_view_error_view_idx ON public.materialized_view_error USING btree (view_name, occurred_at DESC);


--
-- Name: materialized_view_log_view_idx; Type: INDEX; Schema: public; Owner: <migrator>
--

CREATE INDEX materialized_view_log_view_idx ON public.materialized_view_log USING btree (view_name, started_at DESC);


--
-- Name: privacy_audit_organization_idx; Type: INDEX; Schema: public; Owner: <migrator>
--

CREATE INDEX privacy_audit_organization_idx ON public.privacy_audit USING btree (organization_id, at);


--
-- Name: prospect_company_idx; Type: INDEX; Schema: public; Owner: <migrator>
--

CREATE INDEX prospect_company_idx ON public.prospect USING btree (company_id, id);


--
-- Name: prospect_email_alias_prospect_idx; Type: INDEX; Schema: public; Owner: <migrator>
--

CREATE INDEX prospect_email_alias_prospect_idx ON public.prospect_email_alias USING btree (prospect_id);


--
-- Name: prospect_merge_links_idx; Type: INDEX; Schema: public; Owner: <migrator>
--

CREATE INDEX prospect_merge_links_idx ON public.prospect_merge USING gin (link_ids);


--
-- Name: prospect_merge_survivor_idx; Type: INDEX; Schema: public; Owner: <migrator>
--

CREATE INDEX prospect_merge_survivor_idx ON public.prospect_merge USING btree (survivor_id);


--
-- Name: prospect_organization_email_unique; Type: INDEX; Schema: public; Owner: <migrator>
--

CREATE UNIQUE INDEX prospect_organization_email_unique ON public.prospect USING btree (organization_id, lower((email)::text));


--
-- Name: prospect_search_view_company_idx; Type: INDEX; Schema: public; Owner: lma_refresh
--

CREATE INDEX prospect_search_view_company_idx ON public.prospect_search_view USING btree (company_id, prospect_id);


--
-- Name: prospect_search_view_company_name_idx; Type: INDEX; Schema: public; Owner: lma_refresh
--

CREATE INDEX prospect_search_view_company_name_idx ON public.prospect_search_view USING btree (organization_id, lower((COALESCE(company_name, company_domain))::text) COLLATE "C", prospect_id);


--
-- Name: prospect_search_view_domain_idx; Type: INDEX; Schema: public; Owner: lma_refresh
--

CREATE INDEX prospect_search_view_domain_idx ON public.prospect_search_view USING btree (organization_id, company_domain);


--
-- Name: prospect_search_view_filters_text_idx; Type: INDEX; Schema: public; Owner: lma_refresh
--

CREATE INDEX prospect_search_view_filters_text_idx ON public.prospect_search_view USING gin (lower((industry)::text), lower((department)::text), job_title_level, lower((country)::text), lower((state)::text), lower((city)::text), search_document) WITH (gin_pending_list_limit='16384');


--
-- Name: prospect_search_view_revenue_idx; Type: INDEX; Schema: public; Owner: lma_refresh
--

CREATE INDEX prospect_search_view_revenue_idx ON public.prospect_search_view USING btree (organization_id, COALESCE(revenue, ('-1'::integer)::bigint) DESC, prospect_id DESC);


--
-- Name: prospect_search_view_tags_fields_idx; Type: INDEX; Schema: public; Owner: lma_refresh
--

CREATE INDEX prospect_search_view_tags_fields_idx ON public.prospect_search_view USING gin (search_tags, custom_fields jsonb_path_ops) WITH (gin_pending_list_limit='16384');


--
-- Name: prospect_search_view_trigram_idx; Type: INDEX; Schema: public; Owner: lma_refresh
--

CREATE INDEX prospect_search_view_trigram_idx ON public.prospect_search_view USING gin (public.prospect_trigram_text(full_name, (email)::text, (job_title)::text, (company_name)::text, (industry)::text) public.gin_trgm_ops) WITH (gin_pending_list_limit='16384');


--
-- Name: prospect_search_view_updated_idx; Type: INDEX; Schema: public; Owner: lma_refresh
--

CREATE INDEX prospect_search_view_updated_idx ON public.prospect_search_view USING btree (organization_id, updated_at DESC, prospect_id DESC);


--
-- Name: prospect_source_link_prospect_idx; Type: INDEX; Schema: public; Owner: <migrator>
--

CREATE INDEX prospect_source_link_prospect_idx ON public.prospect_source_link USING btree (prospect_id);


--
-- Name: prospect_suppressed_by_idx; Type: INDEX; Schema: public; Owner: <migrator>
--

CREATE INDEX prospect_suppressed_by_idx ON public.prospect USING btree (suppressed_by) WHERE (suppressed_by IS NOT NULL);


--
-- Name: suppression_domain_idx; Type: INDEX; Schema: public; Owner: <migrator>
--

CREATE UNIQUE INDEX suppression_domain_idx ON public.suppression USING btree (organization_id, domain) WHERE (domain IS NOT NULL);


--
-- Name: suppression_email_idx; Type: INDEX; Schema: public; Owner: <migrator>
--

CREATE UNIQUE INDEX suppression_email_idx ON public.suppression USING btree (organization_id, email_hmac) WHERE (email_hmac IS NOT NULL);


--
-- Name: suppression_organization_idx; Type: INDEX; Schema: public; Owner: <migrator>
--

CREATE INDEX suppression_organization_idx ON public.suppression USING btree (organization_id, id);


--
-- Name: prospect_search_view_department_level_stats; Type: STATISTICS; Schema: public; Owner: <migrator>
--

CREATE STATISTICS public.prospect_search_view_department_level_stats (mcv) ON job_title_level, lower(department::text) FROM public.prospect_search_view;


ALTER STATISTICS public.prospect_search_view_department_level_stats OWNER TO <migrator>;

--
-- Name: prospect_search_view_department_place_stats; Type: STATISTICS; Schema: public; Owner: <migrator>
--

CREATE STATISTICS public.prospect_search_view_department_place_stats (mcv) ON lower(department::text), lower(country::text), lower(city::text) FROM public.prospect_search_view;


ALTER STATISTICS public.prospect_search_view_department_place_stats OWNER TO <migrator>;

--
-- Name: prospect_search_view_industry_place_stats; Type: STATISTICS; Schema: public; Owner: <migrator>
--

CREATE STATISTICS public.prospect_search_view_industry_place_stats (mcv) ON lower(industry::text), lower(country::text), lower(city::text) FROM public.prospect_search_view;


ALTER STATISTICS public.prospect_search_view_industry_place_stats OWNER TO <migrator>;

--
-- Name: prospect_search_view_level_place_stats; Type: STATISTICS; Schema: public; Owner: <migrator>
--

CREATE STATISTICS public.prospect_search_view_level_place_stats (mcv) ON job_title_level, lower(country::text), lower(city::text) FROM public.prospect_search_view;


ALTER STATISTICS public.prospect_search_view_level_place_stats OWNER TO <migrator>;

--
-- Name: prospect_search_view_place_stats; Type: STATISTICS; Schema: public; Owner: <migrator>
--

CREATE STATISTICS public.prospect_search_view_place_stats ON lower(country::text), lower(state::text), lower(city::text) FROM public.prospect_search_view;


ALTER STATISTICS public.prospect_search_view_place_stats OWNER TO <migrator>;

--
-- Name: company_summary_def _RETURN; Type: RULE; Schema: public; Owner: <migrator>
--

CREATE OR REPLACE VIEW public.company_summary_def AS
 SELECT c.id AS company_id,
    c.organization_id,
    c.domain,
    c.name,
    c.industry,
    c.min_employees,
    c.max_employees,
    c.employee_size_link,
    c.revenue,
    public.format_revenue(c.revenue, c.max_revenue) AS formatted_revenue,
    c.address,
    c.city,
    c.state,
    c.country,
    c.zip_code,
    c.phone,
    c.external_source,
    c.external_id,
    public.company_context((c.name)::text, (c.domain)::text, (c.industry)::text, c.min_employees, c.max_employees, c.revenue, c.max_revenue, (c.city)::text, (c.country)::text) AS company_context,
    count(p.id) AS prospect_count,
    COALESCE(array_agg(DISTINCT p.department ORDER BY p.department) FILTER (WHERE (p.department IS NOT NULL)), '{}'::character varying[]) AS departments,
    max(p.updated_at) AS last_prospect_updated_at,
    c.created_at,
    c.updated_at,
    to_tsvector('simple'::regconfig, concat_ws(' '::text, c.name, c.domain, c.industry)) AS search_document,
    c.max_revenue,
    (c.suppressed_by IS NOT NULL) AS suppressed
   FROM (public.company c
     LEFT JOIN public.prospect p ON (((p.company_id = c.id) AND (p.suppressed_by IS NULL))))
  GROUP BY c.id;


--
-- Name: company company_capture_delete; Type: TRIGGER; Schema: public; Owner: <migrator>
--

CREATE TRIGGER company_capture_delete AFTER DELETE ON public.company REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION public.capture_company_change();


--
-- Name: company company_capture_insert; Type: TRIGGER; Schema: public; Owner: <migrator>
--

CREATE TRIGGER company_capture_insert AFTER INSERT ON public.company REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.capture_company_change();


--
-- Name: company company_capture_update; Type: TRIGGER; Schema: public; Owner: <migrator>
--

CREATE TRIGGER company_capture_update AFTER UPDATE ON public.company REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.capture_company_change();


--
-- Name: company company_set_suppressed_by; Type: TRIGGER; Schema: public; Owner: <migrator>
--

CREATE TRIGGER company_set_suppressed_by BEFORE INSERT OR UPDATE OF domain ON public.company FOR EACH ROW EXECUTE FUNCTION public.set_company_suppressed_by();


--
-- Name: company company_set_updated_at; Type: TRIGGER; Schema: public; Owner: <migrator>
--

CREATE TRIGGER company_set_updated_at BEFORE UPDATE ON public.company FOR EACH ROW WHEN ((old.* IS DISTINCT FROM new.*)) EXECUTE FUNCTION public.set_company_updated_at();


--
-- Name: customer customer_set_updated_at; Type: TRIGGER; Schema: public; Owner: <migrator>
--

CREATE TRIGGER customer_set_updated_at BEFORE UPDATE ON public.customer FOR EACH ROW WHEN ((old.* IS DISTINCT FROM new.*)) EXECUTE FUNCTION public.set_updated_at();


--
-- Name: prospect prospect_capture_delete; Type: TRIGGER; Schema: public; Owner: <migrator>
--

CREATE TRIGGER prospect_capture_delete AFTER DELETE ON public.prospect REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION public.capture_prospect_change();


--
-- Name: prospect prospect_capture_insert; Type: TRIGGER; Schema: public; Owner: <migrator>
--

CREATE TRIGGER prospect_capture_insert AFTER INSERT ON public.prospect REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.capture_prospect_change();


--
-- Name: prospect prospect_capture_move; Type: TRIGGER; Schema: public; Owner: <migrator>
--

CREATE TRIGGER prospect_capture_move AFTER UPDATE OF company_id ON public.prospect FOR EACH ROW WHEN ((old.company_id IS DISTINCT FROM new.company_id)) EXECUTE FUNCTION public.capture_prospect_move();


--
-- Name: prospect prospect_capture_update; Type: TRIGGER; Schema: public; Owner: <migrator>
--

CREATE TRIGGER prospect_capture_update AFTER UPDATE ON public.prospect REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.capture_prospect_change();


--
-- Name: prospect prospect_email_alias_swap; Type: TRIGGER; Schema: public; Owner: <migrator>
--

CREATE TRIGGER prospect_email_alias_swap AFTER UPDATE OF email ON public.prospect FOR EACH ROW WHEN ((lower((old.email)::text) IS DISTINCT FROM lower((new.email)::text))) EXECUTE FUNCTION public.swap_prospect_email_alias();


--
-- Name: prospect prospect_link_insert; Type: TRIGGER; Schema: public; Owner: <migrator>
--

CREATE TRIGGER prospect_link_insert AFTER INSERT ON public.prospect REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.link_new_prospects();


--
-- Name: prospect prospect_set_updated_at; Type: TRIGGER; Schema: public; Owner: <migrator>
--

CREATE TRIGGER prospect_set_updated_at BEFORE UPDATE ON public.prospect FOR EACH ROW WHEN ((old.* IS DISTINCT FROM new.*)) EXECUTE FUNCTION public.set_prospect_updated_at();


--
-- Name: suppression suppression_version_delete; Type: TRIGGER; Schema: public; Owner: <migrator>
--

CREATE TRIGGER suppression_version_delete AFTER DELETE ON public.suppression REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION public.bump_suppression_version();


--
-- Name: suppression suppression_version_insert; Type: TRIGGER; Schema: public; Owner: <migrator>
--

CREATE TRIGGER suppression_version_insert AFTER INSERT ON public.suppression REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.bump_suppression_version();


--
-- Name: suppression suppression_version_update; Type: TRIGGER; Schema: public; Owner: <migrator>
--

CREATE TRIGGER suppression_version_update AFTER UPDATE ON public.suppression REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.bump_suppression_version();


--
-- Name: api_key api_key_organization_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: <migrator>
--

ALTER TABLE ONLY public.api_key
    ADD CONSTRAINT api_key_organization_id_fkey FOREIGN KEY (organization_id) REFERENCES public.organization(id) ON DELETE CASCADE;


--
-- Name: company company_organization_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: <migrator>
--

ALTER TABLE ONLY public.company
    ADD CONSTRAINT company_organization_id_fkey FOREIGN KEY (organization_id) REFERENCES public.organization(id);


--
-- Name: company company_suppressed_by_fkey; Type: FK CONSTRAINT; Schema: public; Owner: <migrator>
--

ALTER TABLE ONLY public.company
    ADD CONSTRAINT company_suppressed_by_fkey FOREIGN KEY (suppressed_by) REFERENCES public.suppression(id) ON DELETE SET NULL;


--
-- Name: customer customer_organization_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: <migrator>
--

ALTER TABLE ONLY public.customer
    ADD CONSTRAINT customer_organization_id_fkey FOREIGN KEY (organization_id) REFERENCES public.organization(id);


--
-- Name: organization_source_priority organization_source_priority_organization_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: <migrator>
--

ALTER TABLE ONLY public.organization_source_priority
    ADD CONSTRAINT organization_source_priority_organization_id_fkey FOREIGN KEY (organization_id) REFERENCES public.organization(id) ON DELETE CASCADE;


--
-- Name: privacy_audit privacy_audit_organization_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: <migrator>
--

ALTER TABLE ONLY public.privacy_audit
    ADD CONSTRAINT privacy_audit_organization_id_fkey FOREIGN KEY (organization_id) REFERENCES public.organization(id) ON DELETE CASCADE;


--
-- Name: prospect prospect_company_fk; Type: FK CONSTRAINT; Schema: public; Owner: <migrator>
--

ALTER TABLE ONLY public.prospect
    ADD CONSTRAINT prospect_company_fk FOREIGN KEY (organization_id, company_id) REFERENCES public.company(organization_id, id);


--
-- Name: prospect_email_alias prospect_email_alias_prospect_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: <migrator>
--

ALTER TABLE ONLY public.prospect_email_alias
    ADD CONSTRAINT prospect_email_alias_prospect_id_fkey FOREIGN KEY (prospect_id) REFERENCES public.prospect(id) ON DELETE CASCADE;


--
-- Name: prospect_merge prospect_merge_survivor_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: <migrator>
--

ALTER TABLE ONLY public.prospect_merge
    ADD CONSTRAINT prospect_merge_survivor_id_fkey FOREIGN KEY (survivor_id) REFERENCES public.prospect(id) ON DELETE CASCADE;


--
-- Name: prospect_source_link prospect_source_link_prospect_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: <migrator>
--

ALTER TABLE ONLY public.prospect_source_link
    ADD CONSTRAINT prospect_source_link_prospect_id_fkey FOREIGN KEY (prospect_id) REFERENCES public.prospect(id) ON DELETE CASCADE;


--
-- Name: prospect prospect_suppressed_by_fkey; Type: FK CONSTRAINT; Schema: public; Owner: <migrator>
--

ALTER TABLE ONLY public.prospect
    ADD CONSTRAINT prospect_suppressed_by_fkey FOREIGN KEY (suppressed_by) REFERENCES public.suppression(id) ON DELETE SET NULL;


--
-- Name: suppression suppression_organization_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: <migrator>
--

ALTER TABLE ONLY public.suppression
    ADD CONSTRAINT suppression_organization_id_fkey FOREIGN KEY (organization_id) REFERENCES public.organization(id) ON DELETE CASCADE;


--
-- Name: suppression_secret suppression_secret_organization_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: <migrator>
--

ALTER TABLE ONLY public.suppression_secret
    ADD CONSTRAINT suppression_secret_organization_id_fkey FOREIGN KEY (organization_id) REFERENCES public.organization(id) ON DELETE CASCADE;


--
-- Name: suppression_version suppression_version_organization_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: <migrator>
--

ALTER TABLE ONLY public.suppression_version
    ADD CONSTRAINT suppression_version_organization_id_fkey FOREIGN KEY (organization_id) REFERENCES public.organization(id) ON DELETE CASCADE;


--
-- Name: SCHEMA public; Type: ACL; Schema: -; Owner: pg_database_owner
--

GRANT CREATE ON SCHEMA public TO lma_refresh;


--
-- Name: FUNCTION authenticate_api_key(p_key_hash bytea); Type: ACL; Schema: public; Owner: <migrator>
--

REVOKE ALL ON FUNCTION public.authenticate_api_key(p_key_hash bytea) FROM PUBLIC;
GRANT ALL ON FUNCTION public.authenticate_api_key(p_key_hash bytea) TO lma_ingest;
GRANT ALL ON FUNCTION public.authenticate_api_key(p_key_hash bytea) TO lma_refresh;
GRANT ALL ON FUNCTION public.authenticate_api_key(p_key_hash bytea) TO lma_search;


--
-- Name: FUNCTION bump_suppression_version(); Type: ACL; Schema: public; Owner: <migrator>
--

REVOKE ALL ON FUNCTION public.bump_suppression_version() FROM PUBLIC;


--
-- Name: FUNCTION capture_company_change(); Type: ACL; Schema: public; Owner: <migrator>
--

REVOKE ALL ON FUNCTION public.capture_company_change() FROM PUBLIC;


--
-- Name: FUNCTION capture_prospect_change(); Type: ACL; Schema: public; Owner: <migrator>
--

REVOKE ALL ON FUNCTION public.capture_prospect_change() FROM PUBLIC;


--
-- Name: FUNCTION capture_prospect_move(); Type: ACL; Schema: public; Owner: <migrator>
--

REVOKE ALL ON FUNCTION public.capture_prospect_move() FROM PUBLIC;


--
-- Name: FUNCTION employee_size_bucket(min_employees integer, max_employees integer); Type: ACL; Schema: public; Owner: <migrator>
--

GRANT ALL ON FUNCTION public.employee_size_bucket(min_employees integer, max_employees integer) TO lma_refresh;
GRANT ALL ON FUNCTION public.employee_size_bucket(min_employees integer, max_employees integer) TO lma_search;


--
-- Name: FUNCTION lock_suppression_list(organization bigint, exclusive boolean); Type: ACL; Schema: public; Owner: <migrator>
--

REVOKE ALL ON FUNCTION public.lock_suppression_list(organization bigint, exclusive boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION public.lock_suppression_list(organization bigint, exclusive boolean) TO lma_ingest;


--
-- Name: FUNCTION lower_tags(tags text[]); Type: ACL; Schema: public; Owner: <migrator>
--

GRANT ALL ON FUNCTION public.lower_tags(tags text[]) TO lma_refresh;
GRANT ALL ON FUNCTION public.lower_tags(tags text[]) TO lma_search;


--
-- Name: FUNCTION prospect_text_known(organization bigint, query text); Type: ACL; Schema: public; Owner: <migrator>
--

REVOKE ALL ON FUNCTION public.prospect_text_known(organization bigint, query text) FROM PUBLIC;
GRANT ALL ON FUNCTION public.prospect_text_known(organization bigint, query text) TO lma_search;


--
-- Name: FUNCTION prospect_trigram_text(full_name text, email text, job_title text, company_name text, industry text); Type: ACL; Schema: public; Owner: <migrator>
--

GRANT ALL ON FUNCTION public.prospect_trigram_text(full_name text, email text, job_title text, company_name text, industry text) TO lma_refresh;
GRANT ALL ON FUNCTION public.prospect_trigram_text(full_name text, email text, job_title text, company_name text, industry text) TO lma_search;


--
-- Name: FUNCTION signal_change(); Type: ACL; Schema: public; Owner: <migrator>
--

REVOKE ALL ON FUNCTION public.signal_change() FROM PUBLIC;
GRANT ALL ON FUNCTION public.signal_change() TO lma_ingest;


--
-- Name: FUNCTION source_rank(priority text[], source text); Type: ACL; Schema: public; Owner: <migrator>
--

GRANT ALL ON FUNCTION public.source_rank(priority text[], source text) TO lma_ingest;


--
-- Name: SEQUENCE change_drain_generation; Type: ACL; Schema: public; Owner: <migrator>
--

GRANT SELECT ON SEQUENCE public.change_drain_generation TO lma_ingest;
GRANT USAGE ON SEQUENCE public.change_drain_generation TO lma_refresh;


--
-- Name: TABLE change_log; Type: ACL; Schema: public; Owner: <migrator>
--

GRANT SELECT,DELETE,UPDATE ON TABLE public.change_log TO lma_refresh;
GRANT INSERT ON TABLE public.change_log TO lma_ingest;


--
-- Name: TABLE change_signal; Type: ACL; Schema: public; Owner: <migrator>
--

GRANT SELECT,UPDATE ON TABLE public.change_signal TO lma_refresh;
GRANT SELECT ON TABLE public.change_signal TO lma_ingest;


--
-- Name: TABLE company; Type: ACL; Schema: public; Owner: <migrator>
--

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.company TO lma_ingest;
GRANT SELECT ON TABLE public.company TO lma_refresh;


--
-- Name: TABLE prospect; Type: ACL; Schema: public; Owner: <migrator>
--

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.prospect TO lma_ingest;
GRANT SELECT ON TABLE public.prospect TO lma_refresh;


--
-- Name: TABLE company_prospect_def; Type: ACL; Schema: public; Owner: <migrator>
--

GRANT SELECT ON TABLE public.company_prospect_def TO lma_refresh;


--
-- Name: TABLE company_prospect_view; Type: ACL; Schema: public; Owner: lma_refresh
--

GRANT SELECT ON TABLE public.company_prospect_view TO lma_search;


--
-- Name: TABLE company_rederivation; Type: ACL; Schema: public; Owner: <migrator>
--

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.company_rederivation TO lma_refresh;
GRANT SELECT ON TABLE public.company_rederivation TO lma_search;


--
-- Name: TABLE company_summary_def; Type: ACL; Schema: public; Owner: <migrator>
--

GRANT SELECT ON TABLE public.company_summary_def TO lma_refresh;


--
-- Name: TABLE company_summary_view; Type: ACL; Schema: public; Owner: lma_refresh
--

GRANT SELECT ON TABLE public.company_summary_view TO lma_search;


--
-- Name: TABLE customer; Type: ACL; Schema: public; Owner: <migrator>
--

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.customer TO lma_ingest;


--
-- Name: TABLE materialized_view_error; Type: ACL; Schema: public; Owner: <migrator>
--

GRANT SELECT,INSERT,DELETE ON TABLE public.materialized_view_error TO lma_refresh;


--
-- Name: TABLE materialized_view_log; Type: ACL; Schema: public; Owner: <migrator>
--

GRANT SELECT,INSERT,DELETE ON TABLE public.materialized_view_log TO lma_refresh;


--
-- Name: TABLE organization_source_priority; Type: ACL; Schema: public; Owner: <migrator>
--

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.organization_source_priority TO lma_ingest;


--
-- Name: TABLE privacy_audit; Type: ACL; Schema: public; Owner: <migrator>
--

GRANT INSERT ON TABLE public.privacy_audit TO lma_ingest;


--
-- Name: TABLE prospect_email_alias; Type: ACL; Schema: public; Owner: <migrator>
--

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.prospect_email_alias TO lma_ingest;


--
-- Name: TABLE prospect_merge; Type: ACL; Schema: public; Owner: <migrator>
--

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.prospect_merge TO lma_ingest;


--
-- Name: TABLE prospect_search_def; Type: ACL; Schema: public; Owner: <migrator>
--

GRANT SELECT ON TABLE public.prospect_search_def TO lma_refresh;


--
-- Name: TABLE prospect_search_view; Type: ACL; Schema: public; Owner: lma_refresh
--

GRANT SELECT ON TABLE public.prospect_search_view TO lma_search;


--
-- Name: TABLE prospect_source_link; Type: ACL; Schema: public; Owner: <migrator>
--

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.prospect_source_link TO lma_ingest;


--
-- Name: TABLE read_model_organization_state; Type: ACL; Schema: public; Owner: <migrator>
--

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.read_model_organization_state TO lma_refresh;


--
-- Name: TABLE read_model_state; Type: ACL; Schema: public; Owner: <migrator>
--

GRANT SELECT,UPDATE ON TABLE public.read_model_state TO lma_refresh;
GRANT SELECT ON TABLE public.read_model_state TO lma_search;


--
-- Name: TABLE refresh_apply_lock; Type: ACL; Schema: public; Owner: <migrator>
--

GRANT SELECT,UPDATE ON TABLE public.refresh_apply_lock TO lma_refresh;


--
-- Name: TABLE refresh_leader; Type: ACL; Schema: public; Owner: <migrator>
--

GRANT SELECT,INSERT,UPDATE ON TABLE public.refresh_leader TO lma_refresh;


--
-- Name: TABLE suppression; Type: ACL; Schema: public; Owner: <migrator>
--

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.suppression TO lma_ingest;


--
-- Name: TABLE suppression_secret; Type: ACL; Schema: public; Owner: <migrator>
--

GRANT SELECT,INSERT ON TABLE public.suppression_secret TO lma_ingest;


--
-- Name: TABLE suppression_version; Type: ACL; Schema: public; Owner: <migrator>
--

GRANT SELECT,INSERT,UPDATE ON TABLE public.suppression_version TO lma_ingest;


--
-- PostgreSQL database dump complete
--
