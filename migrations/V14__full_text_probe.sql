-- Whether full text matches a search's text anywhere in an organization: decides whether
-- search-svc falls back to trigram matching (issue 5). As a plain EXISTS the planner expects an
-- unknown word to be as common as a rare known one and walks the table to find the first match:
-- 0.7 s at a million rows for a word that matches nothing, which is exactly the case that asks.
-- Here the only way in is the GIN index: sequential scans are off, and `organization_id + 0`
-- keeps the organization's B-tree indexes out (one would be walked just the same).
CREATE FUNCTION prospect_text_known(organization bigint, query text) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
SET enable_seqscan = off
AS $$
    SELECT EXISTS (
        SELECT 1 FROM prospect_search_view
        WHERE search_document @@ websearch_to_tsquery('simple', query)
          AND organization_id + 0 = organization)
$$;

REVOKE ALL ON FUNCTION prospect_text_known(bigint, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION prospect_text_known(bigint, text) TO lma_search;
