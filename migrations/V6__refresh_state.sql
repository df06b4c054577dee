-- refresh-svc's own state: how far each read model is applied, what every refresh did, who
-- leads among the replicas, and the large companies re-derived in chunks (docs/REFRESH.md).

-- Per read model: how far it is applied. Every transaction whose xid is below `watermark` has
-- finished and its changes are in the read model.
CREATE TABLE read_model_state (
    read_model      text PRIMARY KEY,
    watermark       xid8 NOT NULL DEFAULT '0',
    watermark_at    timestamptz NOT NULL DEFAULT now(),
    last_refresh_at timestamptz,
    last_mode       text,
    last_duration_ms double precision,
    last_rows       bigint,
    -- Rows in the read model: exact after a rebuild, kept by every apply and repair since, so
    -- status needs no count(*) over a million rows.
    row_count       bigint NOT NULL DEFAULT 0,
    -- A failed apply of this model lost its share of a claimed batch: only a full rebuild makes
    -- it whole again. Until then its watermark stands still and the leader retries the rebuild.
    needs_rebuild   boolean NOT NULL DEFAULT false,
    -- The most recent failure since the last success (history: materialized_view_error).
    last_error      text,
    last_error_at   timestamptz
);

-- One row per read model; refresh-svc only ever updates them.
INSERT INTO read_model_state (read_model)
VALUES ('company_prospect_view'), ('company_summary_view'), ('prospect_search_view');

-- Per organization and read model: its rows, and what the most recent refresh that wrote any of
-- them wrote. Kept by every apply, repair and rebuild, as read_model_state.row_count is, so
-- GetStatus shows each key its own organization's figures by reading one row instead of
-- counting the organization's rows.
CREATE TABLE read_model_organization_state (
    organization_id bigint NOT NULL,
    read_model      text NOT NULL,
    row_count       bigint NOT NULL,
    last_rows       bigint NOT NULL DEFAULT 0,
    -- The refresh that wrote last_rows (its transaction's now(); NULL: none yet).
    last_written_at timestamptz,
    PRIMARY KEY (organization_id, read_model)
);

-- Every refresh: which view, how, how many keys and rows, how long, up to which watermark.
CREATE TABLE materialized_view_log (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    view_name     text NOT NULL,
    mode          text NOT NULL CHECK (mode IN ('incremental', 'full', 'reconcile')),
    keys          bigint NOT NULL,
    rows_affected bigint NOT NULL,
    started_at    timestamptz NOT NULL,
    duration_ms   double precision NOT NULL,
    watermark     xid8,
    replica       text
);

CREATE INDEX materialized_view_log_view_idx ON materialized_view_log (view_name, started_at DESC);

CREATE TABLE materialized_view_error (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    view_name   text NOT NULL,
    mode        text NOT NULL,
    error       text NOT NULL,
    occurred_at timestamptz NOT NULL DEFAULT now(),
    replica     text
);

CREATE INDEX materialized_view_error_view_idx ON materialized_view_error (view_name, occurred_at DESC);

-- Serializes everything that writes the read models (incremental apply, full rebuild, reconcile
-- repair) across replicas. Taken with LOCK TABLE, which, unlike a SELECT of an advisory-lock
-- function, does not fix a REPEATABLE READ transaction's snapshot: the applier's snapshot is
-- therefore always taken after the previous holder committed. Never written, so autovacuum never
-- takes a conflicting lock on it.
CREATE TABLE refresh_apply_lock ();

-- The replica holding the leader's session advisory lock registers itself here. A row is only
-- believed while its backend still holds that lock (GetStatus checks pg_locks), so a dead
-- leader's row is harmless and simply overwritten by the next one.
CREATE TABLE refresh_leader (
    singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    replica     text NOT NULL,
    backend_pid integer NOT NULL,
    since       timestamptz NOT NULL DEFAULT now()
);

-- A large company's prospect rows are re-derived in bounded chunks beside the change log, so
-- that one employer of hundreds of thousands of prospects cannot stall the apply for everyone.
-- Chunks are ranges of prospect ids within one company: each side of a chunk (the base table
-- through the definition, and the stored rows) is an index range scan of (company_id, id).
--
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
