-- Merge and unmerge (issue 19): MergeProspects joins prospects that are one person without
-- sharing an address (a personal and a work address); UnmergeProspect undoes a merge by one of
-- the source links it moved.

-- The addresses of a person besides prospect.email: those of the prospects merged into it
-- (lower-cased, as identity compares addresses). Identity finds a person by them as by its own
-- address; erasing the person deletes them.
CREATE TABLE prospect_email_alias (
    organization_id bigint NOT NULL,
    email           varchar(254) NOT NULL,
    prospect_id     bigint NOT NULL REFERENCES prospect (id) ON DELETE CASCADE,
    CONSTRAINT prospect_email_alias_pkey PRIMARY KEY (organization_id, email)
);

CREATE INDEX prospect_email_alias_prospect_idx ON prospect_email_alias (prospect_id);

-- A record that comes with one of its person's other addresses makes that address the
-- person's email (the latest record's address, as always); the old one becomes an alias, so the
-- person keeps every address.
CREATE FUNCTION swap_prospect_email_alias() RETURNS trigger
LANGUAGE plpgsql AS $$
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

CREATE TRIGGER prospect_email_alias_swap
    AFTER UPDATE OF email ON prospect
    FOR EACH ROW WHEN (lower(OLD.email) IS DISTINCT FROM lower(NEW.email))
    EXECUTE FUNCTION swap_prospect_email_alias();

-- An address is one person's: a new prospect with an address another holds as an alias fails
-- as a duplicate of it (ingest then resolves the row to that person), as one with another's
-- own address fails on prospect_organization_email_unique.
CREATE OR REPLACE FUNCTION link_new_prospects() RETURNS trigger
LANGUAGE plpgsql AS $$
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

-- A merge, kept until it is undone or the survivor is deleted (erasure included): the merged
-- prospect as it was (to restore it), the survivor's row before (to take back the values the
-- merged one supplied), and the links and addresses that moved.
CREATE TABLE prospect_merge (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organization_id bigint NOT NULL,
    survivor_id     bigint NOT NULL REFERENCES prospect (id) ON DELETE CASCADE,
    merged_id       bigint NOT NULL,
    merged          jsonb NOT NULL,
    survivor_before jsonb NOT NULL,
    link_sources    text[] NOT NULL,
    link_ids        text[] NOT NULL,
    addresses       text[] NOT NULL,
    merged_at       timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX prospect_merge_survivor_idx ON prospect_merge (survivor_id);
CREATE INDEX prospect_merge_links_idx ON prospect_merge USING gin (link_ids);

ALTER TABLE privacy_audit
    DROP CONSTRAINT privacy_audit_action_known,
    ADD CONSTRAINT privacy_audit_action_known CHECK (
        action IN ('suppression_added', 'suppression_updated', 'suppression_removed',
                   'person_exported', 'person_erased', 'prospects_merged', 'prospect_unmerged')
    );

GRANT SELECT, INSERT, UPDATE, DELETE ON prospect_email_alias, prospect_merge TO lma_ingest;
