//! The read models refresh-svc maintains, the lock that serializes writing them, and what one
//! refresh of one read model did.

use std::time::{Duration, SystemTime};

use lma_proto::v1 as pb;
use svc_core::DbError;
use tokio_postgres::{GenericClient, Transaction};

/// A read model and the view that defines it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadModel {
    pub table: &'static str,
    pub definition: &'static str,
    /// The table's primary key column.
    pub key: &'static str,
    pub proto: pb::ReadModel,
    /// Of its company, its rows read only the profile (the columns `company.profile_updated_at`
    /// moves with): a company change that left the profile alone (`change_log.profile_unchanged`)
    /// changes none of them, and its rows of that company are not re-derived.
    pub profile_only: bool,
}

pub const READ_MODELS: [ReadModel; 3] = [
    ReadModel {
        table: "company_prospect_view",
        definition: "company_prospect_def",
        key: "prospect_id",
        proto: pb::ReadModel::CompanyProspect,
        profile_only: false,
    },
    ReadModel {
        table: "company_summary_view",
        definition: "company_summary_def",
        key: "company_id",
        proto: pb::ReadModel::CompanySummary,
        profile_only: false,
    },
    ReadModel {
        table: "prospect_search_view",
        definition: "prospect_search_def",
        key: "prospect_id",
        proto: pb::ReadModel::ProspectSearch,
        profile_only: true,
    },
];

/// The read models a request names: one, or all for `READ_MODEL_UNSPECIFIED`.
pub fn selected(read_model: pb::ReadModel) -> Vec<ReadModel> {
    READ_MODELS
        .into_iter()
        .filter(|model| read_model == pb::ReadModel::Unspecified || model.proto == read_model)
        .collect()
}

pub fn by_table(table: &str) -> Option<ReadModel> {
    READ_MODELS.into_iter().find(|model| model.table == table)
}

/// How a refresh was done; the names are those of `materialized_view_log.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Incremental,
    Full,
    Reconcile,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Incremental => "incremental",
            Mode::Full => "full",
            Mode::Reconcile => "reconcile",
        }
    }

    pub fn parse(text: &str) -> Option<Mode> {
        [Mode::Incremental, Mode::Full, Mode::Reconcile]
            .into_iter()
            .find(|mode| mode.as_str() == text)
    }

    pub fn proto(self) -> pb::RefreshMode {
        match self {
            Mode::Incremental => pb::RefreshMode::Incremental,
            Mode::Full => pb::RefreshMode::Full,
            Mode::Reconcile => pb::RefreshMode::Reconcile,
        }
    }
}

/// What one refresh did to one read model.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub model: ReadModel,
    pub mode: Mode,
    /// Rows written: deleted, updated or inserted.
    pub rows: u64,
    /// Companies and prospects re-derived; 0 for a full rebuild.
    pub keys: u64,
    pub started_at: SystemTime,
    pub duration: Duration,
    /// The model's watermark after the refresh.
    pub watermark: String,
    /// Why this model's refresh failed; `None` on success.
    pub error: Option<String>,
}

impl Outcome {
    pub fn to_proto(&self) -> pb::RefreshResult {
        pb::RefreshResult {
            read_model: self.model.proto as i32,
            mode: self.mode.proto() as i32,
            rows: i64::try_from(self.rows).unwrap_or(i64::MAX),
            keys: i64::try_from(self.keys).unwrap_or(i64::MAX),
            started_at: Some(self.started_at.into()),
            duration: prost_types::Duration::try_from(self.duration).ok(),
            watermark: self.watermark.clone(),
            error: self.error.clone().unwrap_or_default(),
        }
    }
}

/// Settings of every transaction that writes read-model rows a change asked for (an apply, a
/// step of chunked re-derivation):
/// - it writes only what can be derived again, and deletes the change-log rows (or moves the
///   queue position) it applies in the same transaction: a commit a crash loses takes all of
///   that with it and the next drain redoes it. So it does not wait for its WAL to reach the
///   disk, where a durable server's flushes would queue it behind the writers'
///   (docs/REFRESH.md);
/// - no JIT: a very large company skews the statistics, and an ordinary apply is then costed
///   over `jit_above_cost` and spends a large part of its time compiling; slower applies make
///   larger batches, which cost more, until the applies fall far behind (docs/BENCHMARKS.md,
///   Refresh, "(e)").
pub const APPLY_SETTINGS: &str = "SET LOCAL synchronous_commit = off; SET LOCAL jit = off";

/// Re-derivations of a bounded set of keys (an apply's batch, a chunk) reach their rows through
/// indexes; the planner is told so, around those statements only ([`INDEXED_DONE`]):
/// - no sequential scans: left to itself the planner hashes the whole company table into the
///   join of each definition, a large part of a re-derivation's time; the watermark's scan of
///   the change log, on the other hand, has no index to use and is many times slower when told
///   not to scan, hence around the re-derivations only;
/// - no merge joins: a very large company skews the statistics so that the planner takes every
///   other company for many more prospects than it has, and merge-joins the summaries of a
///   batch over the whole prospect index, several times slower than nested loops; an apply
///   that falls behind then claims larger batches, each scanning whole indexes, and never
///   catches up.
///
/// The measurements behind both: docs/BENCHMARKS.md, Refresh (the fourth session and "(e)").
pub const INDEXED: &str = "SET LOCAL enable_seqscan = off; SET LOCAL enable_mergejoin = off";

/// Ends [`INDEXED`].
pub const INDEXED_DONE: &str = "RESET enable_seqscan; RESET enable_mergejoin";

/// Whether to wait for the apply lock or give up at once when another writer holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockWait {
    Wait,
    NoWait,
}

/// Takes the apply lock for the rest of `transaction`; `Ok(false)` when `NoWait` found it held.
/// Must be the transaction's first statement, so that a REPEATABLE READ snapshot is taken only
/// once the previous holder has committed (LOCK TABLE takes no snapshot).
pub async fn lock_apply(transaction: &Transaction<'_>, wait: LockWait) -> Result<bool, DbError> {
    let statement = match wait {
        LockWait::Wait => "LOCK TABLE refresh_apply_lock IN EXCLUSIVE MODE",
        LockWait::NoWait => "LOCK TABLE refresh_apply_lock IN EXCLUSIVE MODE NOWAIT",
    };
    match transaction.batch_execute(statement).await {
        Ok(()) => Ok(true),
        Err(error)
            if error.code() == Some(&tokio_postgres::error::SqlState::LOCK_NOT_AVAILABLE) =>
        {
            Ok(false)
        }
        Err(error) => Err(error.into()),
    }
}

/// Starts a REPEATABLE READ transaction with the apply settings holding the apply lock, as
/// every write to the read models between applies does; `None` when `NoWait` found it held.
pub async fn begin_apply(
    client: &mut tokio_postgres::Client,
    wait: LockWait,
) -> Result<Option<Transaction<'_>>, DbError> {
    let transaction = client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .start()
        .await?;
    transaction.batch_execute(APPLY_SETTINGS).await?;
    Ok(lock_apply(&transaction, wait).await?.then_some(transaction))
}

/// The writers of this database that were in progress just before an apply's snapshot, and the
/// first transaction id not assigned by then. Taken before the apply transaction starts, so that
/// the watermark waits only for transactions that can write this database's change log: the
/// snapshot's xmin is cluster-wide, and a long writer in another database would otherwise hold
/// every search's `min_token` back.
pub struct WriterHorizon {
    next_xid: String,
    local_xids: Vec<String>,
}

/// `backend_xid` of pg_stat_activity is the same proc-array entry snapshots are built from; it is
/// read after the statement's snapshot, so a transaction started in between is at or above
/// `next_xid` and counted anyway.
const WRITER_HORIZON_SQL: &str = "SELECT pg_snapshot_xmax(pg_current_snapshot())::text, ARRAY( \
         SELECT backend_xid::text FROM pg_stat_activity \
         WHERE datname = current_database() AND backend_xid IS NOT NULL \
         UNION ALL \
         SELECT transaction::text FROM pg_prepared_xacts WHERE database = current_database())";

pub async fn writer_horizon(client: &impl GenericClient) -> Result<WriterHorizon, DbError> {
    let row = client.query_one(WRITER_HORIZON_SQL, &[]).await?;
    Ok(WriterHorizon {
        next_xid: row.try_get(0)?,
        local_xids: row.try_get(1)?,
    })
}

/// The watermark a transaction may publish once it holds the apply lock (docs/ARCHITECTURE.md,
/// "Tokens and watermarks"): every transaction below it has finished and its changes are applied. A
/// transaction still in progress in the snapshot holds it back if it belongs to this database or
/// started after the horizon was taken (it could be anywhere); so does the oldest change still in
/// the log. An in-progress xid was below `next_xid` only if it already ran when the horizon was
/// read, so it is in `local_xids` exactly when it is this database's. xid8 values are compared with
/// the 32-bit `backend_xid` modulo 2^32.
pub const WATERMARK_SQL: &str = "SELECT least(pg_snapshot_xmax(s), \
     (SELECT min(x) FROM pg_snapshot_xip(s) AS x \
      WHERE x >= $1::text::xid8 OR (x::text::numeric % 4294967296)::text = ANY($2::text[])), \
     (SELECT min(xid) FROM change_log))::text \
     FROM pg_current_snapshot() AS s";

impl WriterHorizon {
    /// Parameters of [`WATERMARK_SQL`].
    pub fn params(&self) -> [&(dyn tokio_postgres::types::ToSql + Sync); 2] {
        [&self.next_xid, &self.local_xids]
    }
}

/// Models a failed apply marked for a full rebuild: applying to them is pointless until it.
pub async fn pending_rebuild(client: &impl GenericClient) -> Result<Vec<String>, DbError> {
    client
        .query(
            "SELECT read_model FROM read_model_state WHERE needs_rebuild ORDER BY read_model",
            &[],
        )
        .await?
        .iter()
        .map(|row| row.try_get(0).map_err(DbError::from))
        .collect()
}

/// Records a failed refresh of `model`: in the error history and as its current error.
pub async fn record_error(
    client: &impl GenericClient,
    model: ReadModel,
    mode: Mode,
    error: &str,
    replica: &str,
) -> Result<(), DbError> {
    client
        .execute(
            "WITH history AS ( \
                 INSERT INTO materialized_view_error (view_name, mode, error, replica) \
                 VALUES ($1, $2, $3, $4)) \
             UPDATE read_model_state SET last_error = $3, last_error_at = now() \
             WHERE read_model = $1",
            &[&model.table, &mode.as_str(), &error, &replica],
        )
        .await?;
    Ok(())
}

/// Logs a successful refresh of one model inside its transaction and clears its error; counts
/// what it wrote per organization (`written`; a full rebuild counts its organizations itself and
/// passes `None`).
pub async fn record_success(
    transaction: &Transaction<'_>,
    outcome: &Outcome,
    replica: &str,
    written: Option<&Rederived>,
) -> Result<(), DbError> {
    let duration_ms = outcome.duration.as_secs_f64() * 1000.0;
    let rows = i64::try_from(outcome.rows).unwrap_or(i64::MAX);
    let keys = i64::try_from(outcome.keys).unwrap_or(i64::MAX);
    let row_delta = written.map_or(0, |written| written.row_delta());
    transaction
        .execute(
            "UPDATE read_model_state SET last_refresh_at = now(), last_mode = $2, \
                 last_duration_ms = $3, last_rows = $4, row_count = row_count + $5, \
                 last_error = NULL, last_error_at = NULL \
             WHERE read_model = $1",
            &[
                &outcome.model.table,
                &outcome.mode.as_str(),
                &duration_ms,
                &rows,
                &row_delta,
            ],
        )
        .await?;
    if let Some(written) = written.filter(|written| !written.organizations.is_empty()) {
        let (organizations, rows, deltas) = written.per_organization();
        // last_written_at is this transaction's now(), as last_refresh_at above: GetStatus shows
        // an organization's last_rows only while they are the last refresh's.
        transaction
            .execute(
                "INSERT INTO read_model_organization_state AS s \
                     (organization_id, read_model, row_count, last_rows, last_written_at) \
                 SELECT organization_id, $1, delta, rows, now() \
                 FROM unnest($2::bigint[], $3::bigint[], $4::bigint[]) \
                     AS w(organization_id, rows, delta) \
                 ON CONFLICT (organization_id, read_model) DO UPDATE \
                 SET row_count = s.row_count + excluded.row_count, \
                     last_rows = excluded.last_rows, last_written_at = excluded.last_written_at",
                &[&outcome.model.table, &organizations, &rows, &deltas],
            )
            .await?;
    }
    transaction
        .execute(
            "INSERT INTO materialized_view_log \
             (view_name, mode, keys, rows_affected, started_at, duration_ms, watermark, replica) \
             VALUES ($1, $2, $3, $4, $5, $6, $7::text::xid8, $8)",
            &[
                &outcome.model.table,
                &outcome.mode.as_str(),
                &keys,
                &rows,
                &outcome.started_at,
                &duration_ms,
                &outcome.watermark,
                &replica,
            ],
        )
        .await?;
    Ok(())
}

/// Sets `model`'s per-organization row counts to what `table` holds (a full rebuild's new table,
/// before the swap): every row counts as written.
pub async fn count_organizations(
    transaction: &Transaction<'_>,
    model: ReadModel,
    table: &str,
) -> Result<(), DbError> {
    transaction
        .execute(
            "DELETE FROM read_model_organization_state WHERE read_model = $1",
            &[&model.table],
        )
        .await?;
    transaction
        .execute(
            &format!(
                "INSERT INTO read_model_organization_state \
                     (organization_id, read_model, row_count, last_rows, last_written_at) \
                 SELECT organization_id, $1, count(*), count(*), now() FROM {table} \
                 GROUP BY organization_id"
            ),
            &[&model.table],
        )
        .await?;
    Ok(())
}

/// Advances `models`' watermarks to `watermark`, never backwards.
pub async fn advance_watermark(
    transaction: &Transaction<'_>,
    models: &[&str],
    watermark: &str,
) -> Result<(), DbError> {
    transaction
        .execute(
            "UPDATE read_model_state SET watermark = $1::text::xid8, watermark_at = now() \
             WHERE read_model = ANY($2) AND watermark < $1::text::xid8",
            &[&watermark, &models],
        )
        .await?;
    Ok(())
}

/// What a re-derivation wrote.
#[derive(Debug, Clone, Default)]
pub struct Rederived {
    pub deleted: u64,
    pub updated: u64,
    pub inserted: u64,
    /// Per organization whose rows were written: rows written and how its row count changed.
    pub organizations: Vec<OrganizationRows>,
}

/// What a re-derivation wrote of one organization's rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrganizationRows {
    pub organization_id: i64,
    pub written: i64,
    pub delta: i64,
}

impl Rederived {
    /// Rows written, whichever way.
    pub fn rows(&self) -> u64 {
        self.deleted + self.updated + self.inserted
    }

    /// How the model's row count changed.
    pub fn row_delta(&self) -> i64 {
        i64::try_from(self.inserted).unwrap_or(i64::MAX)
            - i64::try_from(self.deleted).unwrap_or(i64::MAX)
    }

    /// The organizations, rows written and deltas as three parallel arrays (SQL's unnest).
    fn per_organization(&self) -> (Vec<i64>, Vec<i64>, Vec<i64>) {
        let rows = &self.organizations;
        (
            rows.iter().map(|row| row.organization_id).collect(),
            rows.iter().map(|row| row.written).collect(),
            rows.iter().map(|row| row.delta).collect(),
        )
    }
}

/// The rows of a read model a re-derivation covers.
#[derive(Debug, Default)]
pub struct Affected {
    /// Companies every row of which is re-derived (within `key_range`, when set).
    pub companies: Vec<i64>,
    /// Rows re-derived by the model's own key (prospect ids), whatever their company.
    pub keys: Vec<i64>,
    /// Limits the companies' rows to keys in `(after, up_to]` (`up_to` `None`: no upper end):
    /// one chunk of a large company (crate::rederivation).
    pub key_range: Option<(i64, Option<i64>)>,
}

impl Affected {
    /// Every row of `companies`.
    pub fn companies(companies: Vec<i64>) -> Self {
        Self {
            companies,
            ..Self::default()
        }
    }

    pub fn is_empty(&self) -> bool {
        self.companies.is_empty() && self.keys.is_empty()
    }

    /// Companies plus keys named: how much a refresh had to look at.
    pub fn count(&self) -> u64 {
        (self.companies.len() + self.keys.len()) as u64
    }
}

/// Brings the `affected` rows of `model` in line with its definition.
pub async fn rederive(
    transaction: &Transaction<'_>,
    model: ReadModel,
    affected: &Affected,
) -> Result<Rederived, DbError> {
    rederive_from(transaction, model, model.definition, affected).await
}

/// Like [`rederive`], from `source`: the definition, or rows already computed from it.
///
/// Only rows that differ are written. Fresh and stored rows are paired by key: a stored row
/// without a fresh one is deleted, a fresh one without a stored one inserted, and a pair that
/// differs is updated in place. A company's change re-derives the rows of all its prospects,
/// and only those the change reaches are written; an update that leaves every indexed column as
/// it was (a company's phone in `company_prospect_view`) is a HOT update, which writes no index
/// entry at all. Delete, update and insert touch different keys, so their order does not matter.
pub async fn rederive_from(
    transaction: &Transaction<'_>,
    model: ReadModel,
    source: &str,
    affected: &Affected,
) -> Result<Rederived, DbError> {
    let table = model.table;
    let key = model.key;
    // Read each time: a migration may add a column while the service runs.
    let columns = column_list(
        transaction,
        "SELECT quote_ident(attname) FROM pg_attribute \
         WHERE attrelid = $1::text::regclass AND attnum > 0 AND NOT attisdropped \
         ORDER BY attnum",
        table,
    )
    .await?;
    // `diff` holds the fresh row (its key is NULL for a row to delete) and the stored row's key
    // (NULL for a row to insert); each write joins it with the table by key. The planner cannot
    // estimate `diff`, and has joined it with the whole table by a hash: the delete and the
    // update also name the affected rows, which bounds the table's side to them. A prospect's
    // row is found by its key ($2) even when it moved to another company.
    let fresh_columns = columns
        .iter()
        .map(|column| format!("diff.{column}"))
        .collect::<Vec<_>>()
        .join(", ");
    let columns = columns.join(", ");
    // A chunk limits its company's rows to a key range ($3, $4]; the statement without one
    // stays as it was, so the planner sees nothing new in an ordinary apply.
    let (after, up_to) = match affected.key_range {
        Some((after, up_to)) => (after, up_to.unwrap_or(i64::MAX)),
        None => (i64::MIN, i64::MAX),
    };
    let affected_rows = |qualifier: &str| match affected.key_range {
        Some(_) => format!(
            "({qualifier}company_id = ANY($1) AND {qualifier}{key} > $3 \
             AND {qualifier}{key} <= $4) OR {qualifier}{key} = ANY($2)"
        ),
        None => format!("{qualifier}company_id = ANY($1) OR {qualifier}{key} = ANY($2)"),
    };
    let (in_scope, stored_in_scope) = (affected_rows(""), affected_rows(&format!("{table}.")));
    let mut params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
        vec![&affected.companies, &affected.keys];
    if affected.key_range.is_some() {
        params.push(&after);
        params.push(&up_to);
    }
    // Each write returns the organization of the rows it wrote (an update the old and the new
    // one), so that row counts are kept per organization (GetStatus shows the caller's).
    let row = transaction
        .query_one(
            &format!(
                "WITH fresh AS MATERIALIZED (
                     SELECT * FROM {source} WHERE {in_scope}),
                 stored AS MATERIALIZED (
                     SELECT * FROM {table} WHERE {in_scope}),
                 diff AS MATERIALIZED (
                     SELECT fresh.*, stored.{key} AS lma_stored_key,
                         stored.organization_id AS lma_stored_organization
                     FROM fresh FULL JOIN stored ON fresh.{key} = stored.{key}
                     WHERE ROW(fresh.*) IS DISTINCT FROM ROW(stored.*)),
                 deleted AS (
                     DELETE FROM {table} USING diff
                     WHERE diff.{key} IS NULL AND {table}.{key} = diff.lma_stored_key
                         AND ({stored_in_scope})
                     RETURNING {table}.organization_id),
                 updated AS (
                     UPDATE {table} SET ({columns}) = ({fresh_columns}) FROM diff
                     WHERE {table}.{key} = diff.lma_stored_key AND diff.{key} IS NOT NULL
                         AND ({stored_in_scope})
                     RETURNING {table}.organization_id, diff.lma_stored_organization),
                 inserted AS (
                     INSERT INTO {table} SELECT {fresh_columns} FROM diff
                     WHERE diff.lma_stored_key IS NULL
                     RETURNING organization_id),
                 per_organization AS (
                     SELECT organization_id, count(*) AS written, sum(delta)::bigint AS delta
                     FROM (SELECT organization_id, -1 AS delta FROM deleted
                           UNION ALL SELECT organization_id, 1 FROM inserted
                           UNION ALL SELECT organization_id,
                               CASE WHEN organization_id = lma_stored_organization THEN 0 ELSE 1 END
                               FROM updated
                           UNION ALL SELECT lma_stored_organization, -1 FROM updated
                               WHERE organization_id <> lma_stored_organization) AS written
                     GROUP BY organization_id)
                 SELECT (SELECT count(*) FROM deleted), (SELECT count(*) FROM updated),
                     (SELECT count(*) FROM inserted),
                     ARRAY(SELECT organization_id FROM per_organization ORDER BY 1),
                     ARRAY(SELECT written FROM per_organization ORDER BY organization_id),
                     ARRAY(SELECT delta FROM per_organization ORDER BY organization_id)"
            ),
            &params,
        )
        .await?;
    let count =
        |index: usize| -> Result<u64, DbError> { Ok(row.try_get::<_, i64>(index)?.max(0) as u64) };
    let organizations: Vec<i64> = row.try_get(3)?;
    let written: Vec<i64> = row.try_get(4)?;
    let deltas: Vec<i64> = row.try_get(5)?;
    Ok(Rederived {
        deleted: count(0)?,
        updated: count(1)?,
        inserted: count(2)?,
        organizations: organizations
            .into_iter()
            .zip(written)
            .zip(deltas)
            .map(|((organization_id, written), delta)| OrganizationRows {
                organization_id,
                written,
                delta,
            })
            .collect(),
    })
}

/// The first column of `sql`'s rows, where `$1` is `table`: column names of a table.
pub(crate) async fn column_list(
    transaction: &Transaction<'_>,
    sql: &str,
    table: &str,
) -> Result<Vec<String>, DbError> {
    transaction
        .query(sql, &[&table])
        .await?
        .iter()
        .map(|row| row.try_get(0).map_err(DbError::from))
        .collect()
}
