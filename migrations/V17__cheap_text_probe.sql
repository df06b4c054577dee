-- The "text known in the organization" probe (V14) was a GIN bitmap of every row holding the
-- words: for words in a tenth of the rows (105,000 at a million) it took ~37 ms to find the
-- first one, mostly building and sorting the bitmap. A sample of the table finds a common word
-- at once (0.1 ms), and a word the sample misses is rare, whose bitmap is small. The answer is
-- the same either way; only the cost differs. tsm_system_rows samples a fixed number of rows
-- whatever the table's size (a few hundred pages read).
CREATE EXTENSION IF NOT EXISTS tsm_system_rows;

CREATE OR REPLACE FUNCTION prospect_text_known(organization bigint, query text) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
SET enable_seqscan = off
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
