-- Person identity (issue 19): within an organization a prospect is identified by its email
-- (compared lower-cased), and each (external_source, external_id) a source sent becomes a source
-- link to one prospect; a prospect may have many. prospect.external_source/external_id stay: the
-- key of the source that created the prospect, which its search hits show.

CREATE TABLE prospect_source_link (
    organization_id bigint NOT NULL,
    external_source varchar(100) NOT NULL,
    external_id     varchar(200) NOT NULL,
    -- Erasing or deleting the prospect takes its links with it.
    prospect_id     bigint NOT NULL REFERENCES prospect (id) ON DELETE CASCADE,
    linked_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT prospect_source_link_pkey PRIMARY KEY (organization_id, external_source, external_id)
);

-- GetProspect lists a prospect's links; the cascade of a delete finds them.
CREATE INDEX prospect_source_link_prospect_idx ON prospect_source_link (prospect_id);

-- Every stored prospect is linked from its own key.
INSERT INTO prospect_source_link (organization_id, external_source, external_id, prospect_id, linked_at)
SELECT organization_id, external_source, external_id, id, created_at FROM prospect;

-- Prospects that share an address are one person: the lowest id survives, each of its columns
-- takes the group's most recently updated non-empty value (custom fields merged key by key, the
-- most recent value of a key winning), the others' links move to it and the others are deleted.
-- The capture triggers log the updates and deletes, so refresh-svc removes the others from the
-- read models.
CREATE TEMP TABLE person_merge ON COMMIT DROP AS
SELECT id, survivor
FROM (SELECT id, min(id) OVER (PARTITION BY organization_id, lower(email)) AS survivor
      FROM prospect) grouped
WHERE id <> survivor;

UPDATE prospect_source_link l SET prospect_id = m.survivor
FROM person_merge m WHERE l.prospect_id = m.id;

WITH groups AS (
    SELECT coalesce(m.survivor, p.id) AS survivor, p.*
    FROM prospect p LEFT JOIN person_merge m ON m.id = p.id
    WHERE p.id IN (SELECT survivor FROM person_merge UNION SELECT id FROM person_merge)),
survived AS (
    SELECT survivor,
        (array_agg(company_id ORDER BY updated_at DESC, id DESC))[1] AS company_id,
        (array_agg(email ORDER BY updated_at DESC, id DESC))[1] AS email,
        (array_agg(salutation ORDER BY updated_at DESC, id DESC) FILTER (WHERE salutation IS NOT NULL))[1] AS salutation,
        (array_agg(first_name ORDER BY updated_at DESC, id DESC) FILTER (WHERE first_name IS NOT NULL))[1] AS first_name,
        (array_agg(last_name ORDER BY updated_at DESC, id DESC) FILTER (WHERE last_name IS NOT NULL))[1] AS last_name,
        (array_agg(job_title ORDER BY updated_at DESC, id DESC) FILTER (WHERE job_title IS NOT NULL))[1] AS job_title,
        (array_agg(job_title_level ORDER BY updated_at DESC, id DESC) FILTER (WHERE job_title_level IS NOT NULL))[1] AS job_title_level,
        (array_agg(department ORDER BY updated_at DESC, id DESC) FILTER (WHERE department IS NOT NULL))[1] AS department,
        (array_agg(job_title_link ORDER BY updated_at DESC, id DESC) FILTER (WHERE job_title_link IS NOT NULL))[1] AS job_title_link,
        (array_agg(address ORDER BY updated_at DESC, id DESC) FILTER (WHERE address IS NOT NULL))[1] AS address,
        (array_agg(city ORDER BY updated_at DESC, id DESC) FILTER (WHERE city IS NOT NULL))[1] AS city,
        (array_agg(state ORDER BY updated_at DESC, id DESC) FILTER (WHERE state IS NOT NULL))[1] AS state,
        -- The code goes with the name, as ingest merges them.
        (array_agg(country ORDER BY updated_at DESC, id DESC) FILTER (WHERE country IS NOT NULL))[1] AS country,
        (array_agg(country_code ORDER BY updated_at DESC, id DESC) FILTER (WHERE country IS NOT NULL))[1] AS country_code,
        (array_agg(zip_code ORDER BY updated_at DESC, id DESC) FILTER (WHERE zip_code IS NOT NULL))[1] AS zip_code,
        (array_agg(phone ORDER BY updated_at DESC, id DESC) FILTER (WHERE phone IS NOT NULL))[1] AS phone,
        (array_agg(mobile_phone ORDER BY updated_at DESC, id DESC) FILTER (WHERE mobile_phone IS NOT NULL))[1] AS mobile_phone,
        (array_agg(suppressed_by ORDER BY updated_at DESC, id DESC) FILTER (WHERE suppressed_by IS NOT NULL))[1] AS suppressed_by,
        min(created_at) AS created_at
    FROM groups GROUP BY survivor),
tags AS (
    SELECT DISTINCT ON (survivor) survivor, tags
    FROM groups WHERE cardinality(tags) > 0
    ORDER BY survivor, updated_at DESC, id DESC),
fields AS (
    -- jsonb keeps the last value of a duplicate key: the most recently updated one.
    SELECT g.survivor, jsonb_object_agg(f.key, f.value ORDER BY g.updated_at, g.id) AS custom_fields
    FROM groups g, jsonb_each(g.custom_fields) f GROUP BY g.survivor)
UPDATE prospect p SET
    company_id = s.company_id, email = s.email, salutation = s.salutation,
    first_name = s.first_name, last_name = s.last_name, job_title = s.job_title,
    job_title_level = s.job_title_level, department = s.department,
    job_title_link = s.job_title_link, address = s.address, city = s.city, state = s.state,
    country = s.country, country_code = s.country_code, zip_code = s.zip_code, phone = s.phone,
    mobile_phone = s.mobile_phone, suppressed_by = s.suppressed_by, created_at = s.created_at,
    tags = coalesce(t.tags, p.tags), custom_fields = coalesce(f.custom_fields, p.custom_fields)
FROM survived s
LEFT JOIN tags t ON t.survivor = s.survivor
LEFT JOIN fields f ON f.survivor = s.survivor
WHERE p.id = s.survivor;

DELETE FROM prospect p USING person_merge m WHERE p.id = m.id;

-- One prospect per address: what ingest resolves records by, and what keeps two concurrent
-- writers from creating the same person twice.
DROP INDEX prospect_organization_email_idx;
CREATE UNIQUE INDEX prospect_organization_email_unique ON prospect (organization_id, lower(email));

-- Every path that inserts a prospect (binary COPY, merges, single upserts, legacy migration)
-- links it from its own key here, with no code of its own. A plain insert, not ON CONFLICT DO
-- NOTHING: a key already linked to another person must fail the insert (ingest then resolves the
-- row by that link) rather than leave a second person its key does not reach.
CREATE FUNCTION link_new_prospects() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.prospect_source_link (organization_id, external_source, external_id, prospect_id)
    SELECT organization_id, external_source, external_id, id FROM new_rows;
    RETURN NULL;
END
$$;

CREATE TRIGGER prospect_link_insert
    AFTER INSERT ON prospect
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION link_new_prospects();

-- Ingest writes links; search and refresh read no links (read models carry none).
GRANT SELECT, INSERT, UPDATE, DELETE ON prospect_source_link TO lma_ingest;
