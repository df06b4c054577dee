-- Issue 16, items 6 and 7 (docs/REFRESH.md):
-- 1. GetStatus counts rows per organization: each key sees its own organization's figures.
-- 2. A large company's prospect rows are re-derived in bounded chunks beside the change log,
--    so that one employer of 600,000 prospects cannot stall the apply for everyone.

-- 1. Per organization and read model: its rows, and what the most recent refresh that wrote any
-- of them wrote. Kept by every apply, repair and rebuild, as read_model_state.row_count is
-- (V8), so GetStatus reads one row instead of counting an organization's million rows.
CREATE TABLE read_model_organization_state (
    organization_id bigint NOT NULL,
    read_model      text NOT NULL,
    row_count       bigint NOT NULL,
    last_rows       bigint NOT NULL DEFAULT 0,
    -- The refresh that wrote last_rows (its transaction's now(); NULL: none since this migration).
    last_written_at timestamptz,
    PRIMARY KEY (organization_id, read_model)
);

INSERT INTO read_model_organization_state (organization_id, read_model, row_count)
SELECT organization_id, 'company_prospect_view', count(*) FROM company_prospect_view
GROUP BY organization_id
UNION ALL
SELECT organization_id, 'company_summary_view', count(*) FROM company_summary_view
GROUP BY organization_id
UNION ALL
SELECT organization_id, 'prospect_search_view', count(*) FROM prospect_search_view
GROUP BY organization_id;

GRANT SELECT, INSERT, UPDATE, DELETE ON read_model_organization_state TO lma_refresh;

-- 2. Chunks are ranges of prospect ids within one company: each side of a chunk (the base table
-- through the definition, and the stored rows) is an index range scan of (company_id, id). The
-- single-column indexes these replace served company_id = ... alone, which these serve as well.
DROP INDEX prospect_company_idx;
CREATE INDEX prospect_company_idx ON prospect (company_id, id);
DROP INDEX company_prospect_view_company_idx;
CREATE INDEX company_prospect_view_company_idx ON company_prospect_view (company_id, prospect_id);
DROP INDEX prospect_search_view_company_idx;
CREATE INDEX prospect_search_view_company_idx ON prospect_search_view (company_id, prospect_id);

-- A row exists exactly while a company has unfinished chunked work. The change-log rows that
-- asked for it are gone (claimed by an apply that published a watermark past them); this row
-- holds their place:
--
--   every write to this company with xid < pending_since is applied to every read model.
--
-- search-svc takes an organization's effective watermark as
-- least(read_model_state.watermark, min(pending_since) of the organization's rows), so a
-- min_token wait for a write to a large company lasts until the company is done, while other
-- organizations, which have no rows here, are never held back.
--
-- pending_since is the highest watermark published before the change was claimed. Every
-- published watermark is below every write not claimed when it was computed (WATERMARK_SQL,
-- refresh-svc/src/read_model.rs), and the claim comes later, so it is a lower bound.
CREATE TABLE company_rederivation (
    company_id      bigint PRIMARY KEY,
    organization_id bigint NOT NULL,
    pending_since   xid8 NOT NULL,
    -- When pending_since was claimed: the age GetStatus reports.
    pending_at      timestamptz NOT NULL DEFAULT now(),
    -- The pass re-derives every prospect row of the company (a company change, a bulk write of
    -- its prospects); false: only its summary (its prospects' own changes were applied in the
    -- apply that claimed them).
    whole           boolean NOT NULL,
    -- Prospect rows with ids up to this are done in the current pass (0: none yet); NULL once all
    -- are, and only the company's summary is left.
    done_up_to      bigint DEFAULT 0,
    -- Set by the pass's first chunk. A change to the whole company claimed after that is not
    -- covered by the chunks done before it: it marks the row dirty, and one more pass follows.
    pass_started_at timestamptz,
    -- The published watermark when the first such change was claimed: the next pass's
    -- pending_since, taken over only once the current pass has finished.
    dirty_since     xid8,
    dirty_at        timestamptz,
    -- Chunks done in the current pass, and passes finished since the row was created.
    chunks          integer NOT NULL DEFAULT 0,
    passes          integer NOT NULL DEFAULT 0,
    -- The last step: the company worked least recently goes next.
    worked_at       timestamptz,
    -- The transaction that last queued work here: a full rebuild of every read model clears the
    -- rows nobody queued to since it began.
    queued_by       xid8 NOT NULL DEFAULT pg_current_xact_id()
);

CREATE INDEX company_rederivation_organization_idx
    ON company_rederivation (organization_id, pending_since);

GRANT SELECT, INSERT, UPDATE, DELETE ON company_rederivation TO lma_refresh;
GRANT SELECT ON company_rederivation TO lma_search;
