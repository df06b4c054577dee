-- Survivorship and provenance (issue 19): which source and which ingest supplied each field of a
-- prospect, and an organization's optional source priority that decides which source's value
-- survives when several describe one person.

-- The ingest that created a prospect (its consistency token): every field no later ingest
-- changed was supplied by it, under the prospect's own key. Rows stored before this migration
-- have none.
ALTER TABLE prospect ADD COLUMN created_token xid8;
ALTER TABLE prospect ALTER COLUMN created_token SET DEFAULT pg_current_xact_id();

-- The fields another key or a later ingest supplied: {"field": [external_source, external_id,
-- ingested_at, token]}; an entry without the last two was supplied at the prospect's creation
-- (rows of one person folded in one ingest). A field without an entry came from the prospect's
-- own key at its creation. Erasing the prospect deletes it with the row; it holds keys, never
-- a value.
ALTER TABLE prospect ADD COLUMN provenance jsonb;

-- An organization's source priority, highest first: exact external_source names, or prefixes
-- ending in '*' ("csv:*"). A value from a source ranked lower never replaces one a higher
-- source supplied; sources not listed rank below every listed one; equal ranks go by recency.
CREATE TABLE organization_source_priority (
    organization_id bigint PRIMARY KEY REFERENCES organization (id) ON DELETE CASCADE,
    sources         text[] NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- The rank of `source` under `priority` (highest first): the number of patterns from the first
-- one it matches to the end, 0 when none matches.
CREATE FUNCTION source_rank(priority text[], source text) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce((
        SELECT cardinality(priority) - u.n + 1
        FROM unnest(priority) WITH ORDINALITY AS u(pattern, n)
        WHERE u.pattern = source
           OR (right(u.pattern, 1) = '*'
               AND left(source, length(u.pattern) - 1) = left(u.pattern, length(u.pattern) - 1))
        ORDER BY u.n LIMIT 1), 0)
$$;

GRANT SELECT, INSERT, UPDATE, DELETE ON organization_source_priority TO lma_ingest;
GRANT EXECUTE ON FUNCTION source_rank(text[], text) TO lma_ingest;
