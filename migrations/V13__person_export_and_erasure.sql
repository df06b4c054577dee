-- ExportPersonData and ErasePerson (issue 19): their audit records, and the look-up of a
-- person's legacy customer rows by email.

-- An access request and an erasure are privacy events like a suppression change. Their records
-- name what was disclosed or deleted by id only (the rows are gone after an erasure, so the ids
-- identify nobody) and the person by the email's keyed hash: never an email, name or phone.
ALTER TABLE privacy_audit
    ADD COLUMN prospect_ids bigint[],
    ADD COLUMN legacy_customer_ids bigint[],
    DROP CONSTRAINT privacy_audit_action_known,
    ADD CONSTRAINT privacy_audit_action_known CHECK (
        action IN ('suppression_added', 'suppression_updated', 'suppression_removed',
                   'person_exported', 'person_erased')
    );

-- A person's legacy rows are found by email compared as the legacy integrity check compares
-- it (trimmed, case-insensitive); without the index every export or erasure would read all of
-- the organization's customer rows.
CREATE INDEX customer_organization_email_idx ON customer (organization_id, lower(btrim(email)));

-- ErasePerson deletes customer rows: lma_ingest already holds DELETE on customer (V7).
