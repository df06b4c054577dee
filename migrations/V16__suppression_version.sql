-- Imports and suppression changes of one organization in a known order (issue 19). A batch is
-- screened against the suppression list before the transaction that writes it, and an erasure or
-- an entry change committed in between must not be missed by the write. Every ingest write
-- transaction takes the organization's suppression lock shared, every change of the list
-- (AddSuppressions, RemoveSuppression, ErasePerson) takes it exclusive, and the list has a
-- version, bumped by every change, that a write compares with the version its rows were screened
-- against: rows screened against an older list are screened again before they are written.

-- One row per organization that ever had an entry; none reads as version 0.
CREATE TABLE suppression_version (
    organization_id bigint PRIMARY KEY REFERENCES organization (id) ON DELETE CASCADE,
    version         bigint NOT NULL
);

-- Organizations with entries already: their row must exist before an entry is removed (the
-- bump of a removal only updates, see below).
INSERT INTO suppression_version (organization_id, version)
SELECT DISTINCT organization_id, 1 FROM suppression;

-- Every statement that changes entries bumps the version of their organizations, whatever
-- path writes them. A removal only updates: an entry's insert made the row, and an organization
-- being deleted takes its entries with it, where an insert would fail its foreign key.
CREATE FUNCTION bump_suppression_version() RETURNS trigger
LANGUAGE plpgsql AS $$
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

CREATE TRIGGER suppression_version_insert
    AFTER INSERT ON suppression REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION bump_suppression_version();
CREATE TRIGGER suppression_version_update
    AFTER UPDATE ON suppression REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION bump_suppression_version();
CREATE TRIGGER suppression_version_delete
    AFTER DELETE ON suppression REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION bump_suppression_version();

-- The organization's suppression lock, the one definition of its key: taken by the first
-- statement of a transaction and held to its end, exclusive for a change of the list, shared for
-- an ingest write. Returns the list's version as it is once the lock is granted. A function
-- because a plain statement reads in a snapshot taken before it waited for the lock; each
-- statement here takes its own, after the wait.
--
-- The two-key form of the advisory lock functions has a key space of its own, apart from the
-- single bigint keys of the migration and refresh leader locks: the first key ('lmsu' in ASCII)
-- names this lock, the second the organization. Ids beyond the int4 range share a key with a
-- smaller one, which can only make one organization wait for the other.
CREATE FUNCTION lock_suppression_list(organization bigint, exclusive boolean) RETURNS bigint
LANGUAGE plpgsql AS $$
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

REVOKE ALL ON FUNCTION bump_suppression_version() FROM PUBLIC;
REVOKE ALL ON FUNCTION lock_suppression_list(bigint, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION lock_suppression_list(bigint, boolean) TO lma_ingest;
-- The triggers run as the writer of the entries: ingest-svc's role.
GRANT SELECT, INSERT, UPDATE ON suppression_version TO lma_ingest;
