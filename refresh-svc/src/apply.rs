//! Incremental apply (DESIGN.md section 2): claim a batch of change-log rows, re-derive the
//! affected companies' rows of every read model from its definition, and advance the watermark,
//! all in one transaction.

use std::time::{Instant, SystemTime};

use svc_core::DbError;
use tokio_postgres::{Client, IsolationLevel};

/// A read model and the view that defines it.
#[derive(Debug, Clone, Copy)]
pub struct ReadModel {
    pub table: &'static str,
    pub definition: &'static str,
}

pub const READ_MODELS: [ReadModel; 3] = [
    ReadModel {
        table: "company_prospect_view",
        definition: "company_prospect_def",
    },
    ReadModel {
        table: "company_summary_view",
        definition: "company_summary_def",
    },
    ReadModel {
        table: "prospect_search_view",
        definition: "prospect_search_def",
    },
];

/// Serializes appliers across replicas: two applies of one company at once would collide on the
/// read models' primary keys.
const APPLY_LOCK_KEY: i64 = 0x6c6d_615f_6170_706c; // "lma_appl"

/// What one apply transaction did.
#[derive(Debug, Clone, Default)]
pub struct BatchOutcome {
    /// Change-log rows claimed.
    pub claimed: i64,
    /// Distinct companies re-derived.
    pub keys: usize,
    /// Read-model rows deleted plus inserted, over all read models.
    pub rows: u64,
    pub watermark: String,
}

/// Applies up to `batch_size` change-log rows.
pub async fn apply_batch(
    client: &mut Client,
    batch_size: i64,
    replica: &str,
) -> Result<BatchOutcome, DbError> {
    let started_at = SystemTime::now();
    let started = Instant::now();
    // One snapshot for the claim, the re-derivation and the watermark.
    let transaction = client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .start()
        .await?;
    transaction
        .execute("SELECT pg_advisory_xact_lock($1)", &[&APPLY_LOCK_KEY])
        .await?;
    let snapshot_xmin: String = transaction
        .query_one("SELECT pg_snapshot_xmin(pg_current_snapshot())::text", &[])
        .await?
        .try_get(0)?;
    let claim = transaction
        .query_one(
            "WITH claimed AS ( \
                 DELETE FROM change_log WHERE id IN ( \
                     SELECT id FROM change_log ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED) \
                 RETURNING company_id) \
             SELECT count(*), coalesce(array_agg(DISTINCT company_id), '{}') FROM claimed",
            &[&batch_size],
        )
        .await?;
    let claimed: i64 = claim.try_get(0)?;
    let keys: Vec<i64> = claim.try_get(1)?;

    let mut rows = 0;
    let mut per_model = Vec::with_capacity(READ_MODELS.len());
    if !keys.is_empty() {
        for model in READ_MODELS {
            let model_started = Instant::now();
            let deleted = transaction
                .execute(
                    &format!("DELETE FROM {} WHERE company_id = ANY($1)", model.table),
                    &[&keys],
                )
                .await?;
            let inserted = transaction
                .execute(
                    &format!(
                        "INSERT INTO {} SELECT * FROM {} WHERE company_id = ANY($1)",
                        model.table, model.definition
                    ),
                    &[&keys],
                )
                .await?;
            rows += deleted + inserted;
            per_model.push((model, deleted + inserted, model_started.elapsed()));
        }
    }

    // Every transaction below the snapshot's xmin has finished; those of them still in the log
    // (beyond this batch) are not applied yet, so the watermark stops at the oldest of them.
    let watermark: String = transaction
        .query_one(
            "SELECT least($1::text::xid8, (SELECT min(xid) FROM change_log))::text",
            &[&snapshot_xmin],
        )
        .await?
        .try_get(0)?;
    let table_names: Vec<&str> = READ_MODELS.iter().map(|model| model.table).collect();
    transaction
        .execute(
            "UPDATE read_model_state SET watermark = $1::text::xid8, watermark_at = now() \
             WHERE read_model = ANY($2) AND watermark < $1::text::xid8",
            &[&watermark, &table_names],
        )
        .await?;
    for (model, model_rows, duration) in per_model {
        let duration_ms = duration.as_secs_f64() * 1000.0;
        let model_rows = i64::try_from(model_rows).unwrap_or(i64::MAX);
        transaction
            .execute(
                "UPDATE read_model_state SET last_refresh_at = now(), last_mode = 'incremental', \
                 last_duration_ms = $2, last_rows = $3 WHERE read_model = $1",
                &[&model.table, &duration_ms, &model_rows],
            )
            .await?;
        transaction
            .execute(
                "INSERT INTO materialized_view_log \
                 (view_name, mode, keys, rows_affected, started_at, duration_ms, watermark, replica) \
                 VALUES ($1, 'incremental', $2, $3, $4, $5, $6::text::xid8, $7)",
                &[
                    &model.table,
                    &i64::try_from(keys.len()).unwrap_or(i64::MAX),
                    &model_rows,
                    &started_at,
                    &duration_ms,
                    &watermark,
                    &replica,
                ],
            )
            .await?;
    }
    transaction.commit().await?;
    if claimed > 0 {
        tracing::info!(
            claimed,
            keys = keys.len(),
            rows,
            %watermark,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "applied change-log batch"
        );
    }
    Ok(BatchOutcome {
        claimed,
        keys: keys.len(),
        rows,
        watermark,
    })
}

/// Records a failed apply so that operators (and GetStatus) can see it.
pub async fn record_error(
    client: &Client,
    mode: &str,
    error: &str,
    replica: &str,
) -> Result<(), DbError> {
    let table_names: Vec<&str> = READ_MODELS.iter().map(|model| model.table).collect();
    client
        .execute(
            "INSERT INTO materialized_view_error (view_name, mode, error, replica) \
             SELECT unnest($1::text[]), $2, $3, $4",
            &[&table_names, &mode, &error, &replica],
        )
        .await?;
    Ok(())
}
