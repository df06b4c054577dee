-- A company change that leaves every column a search hit shows as it was (its phone, its
-- address) changes no prospect_search_view row, yet re-deriving the company there costs a
-- search document per prospect: half of a whole-company re-derivation, and for a large company
-- hundreds of thousands of them per change. The change log says which changes these are, so
-- that the apply and the chunked passes leave the search rows of such a company alone.

-- True only for a company update that left its profile (company.profile_updated_at, kept by
-- set_company_updated_at() in step with the company columns prospect_search_def reads) as it
-- was; every other change may have changed anything.
ALTER TABLE change_log ADD COLUMN profile_unchanged boolean NOT NULL DEFAULT false;

-- A profile change sets profile_updated_at to now(), the transaction's start, however long
-- before the update that was; this trigger runs in the same transaction and compares with the
-- same now(). So a row whose profile_updated_at is not now() kept its profile. One whose profile
-- changed earlier in the same transaction also reads now() and counts as changed: more than
-- needed (the earlier change's own row already asks for the search rows), never less.
CREATE OR REPLACE FUNCTION capture_company_change() RETURNS trigger
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

-- Whether the current pass re-derives the models that read only a company's profile
-- (prospect_search_view): false while every change to the whole company it covers left the
-- profile alone. dirty_profile is the same for the pass a dirty row has to come.
ALTER TABLE company_rederivation
    ADD COLUMN profile boolean NOT NULL DEFAULT true,
    ADD COLUMN dirty_profile boolean NOT NULL DEFAULT false;
