//! Reconcile: compare a read model with its definition and repair any drift.
//!
//! The comparison (rows paired by primary key) reads the whole model and the whole definition in
//! one snapshot without the apply lock, so incremental applies go on meanwhile. Only the repair,
//! a re-derivation of the companies found to differ, takes the lock, in a transaction of its
//! own; re-deriving from a newer snapshot is always correct, and changes after it are in the log.

use std::time::{Instant, SystemTime};

use svc_core::DbError;
use tokio_postgres::{Client, IsolationLevel, Transaction};

use crate::read_model::{self, LockWait, Mode, Outcome, ReadModel};
use crate::rederivation;

/// The temporary table (dropped at commit) that [`drift_in`] computes a definition into.
pub const FRESH_ROWS: &str = "fresh_read_model_rows";

/// How `model` differs from its definition.
pub struct Drift {
    /// Companies with at least one differing row.
    pub keys: Vec<i64>,
    /// Rows in only one of the model and the definition, or different in the two (a changed row
    /// counts once).
    pub rows: i64,
}

/// Computes `model`'s definition once into [`FRESH_ROWS`] and compares it with the model row
/// by row, paired by primary key. Comparing against the view directly would compute the
/// definition twice, which costs more than the comparison itself.
pub async fn drift_in(transaction: &Transaction<'_>, model: ReadModel) -> Result<Drift, DbError> {
    transaction
        .batch_execute(&format!(
            "SET LOCAL work_mem = '{DIFF_WORK_MEM}'; \
             CREATE TEMPORARY TABLE {FRESH_ROWS} ON COMMIT DROP AS SELECT * FROM {}",
            model.definition
        ))
        .await?;
    // Rows are paired by the model's primary key (a hash join on one column) and compared
    // whole: an EXCEPT ALL each way would sort or hash both sides on every column, which costs
    // more than the REFRESH MATERIALIZED VIEW CONCURRENTLY a rebuild must not be slower than.
    let row = transaction
        .query_one(
            &format!(
                "SELECT coalesce(array_agg(DISTINCT coalesce(live.company_id, fresh.company_id)), \
                        '{{}}'), count(*) \
                 FROM {table} live FULL JOIN {FRESH_ROWS} fresh ON live.{key} = fresh.{key} \
                 WHERE live.{key} IS NULL OR fresh.{key} IS NULL \
                    OR ROW(live.*) IS DISTINCT FROM ROW(fresh.*)",
                table = model.table,
                key = model.key,
            ),
            &[],
        )
        .await?;
    Ok(Drift {
        keys: row.try_get(0)?,
        rows: row.try_get(1)?,
    })
}

/// Sorting a million wide rows for the comparison in memory rather than in many spill files.
const DIFF_WORK_MEM: &str = "256MB";

/// Companies whose rows in `model` differ from its definition, and how many rows differ, read in
/// one snapshot without the apply lock.
pub async fn drift(
    client: &mut Client,
    model: ReadModel,
    statement_timeout_ms: u64,
) -> Result<Drift, DbError> {
    // Not read-only: the comparison writes a temporary table.
    let transaction = client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .start()
        .await?;
    transaction
        .batch_execute(&format!(
            "SET LOCAL statement_timeout = {statement_timeout_ms}"
        ))
        .await?;
    let drift = drift_in(&transaction, model).await?;
    transaction.commit().await?;
    Ok(drift)
}

/// Compares `model` with its definition and re-derives the companies that differ; a large one
/// (more than `large_company_prospects`) is queued for chunked re-derivation instead.
pub async fn reconcile(
    client: &mut Client,
    model: ReadModel,
    replica: &str,
    statement_timeout_ms: u64,
    large_company_prospects: i64,
) -> Result<Outcome, DbError> {
    let started_at = SystemTime::now();
    let started = Instant::now();
    let Drift {
        keys,
        rows: drifted_rows,
    } = drift(client, model, statement_timeout_ms).await?;
    let mut drifted = read_model::Affected::companies(keys);
    if !drifted.is_empty() {
        tracing::info!(
            read_model = model.table,
            companies = drifted.count(),
            rows = drifted_rows,
            "read model differs from its definition; repairing"
        );
    }
    let transaction = client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .start()
        .await?;
    read_model::lock_apply(&transaction, LockWait::Wait).await?;
    let large =
        rederivation::large_companies(&transaction, &drifted.companies, large_company_prospects)
            .await?;
    if !large.is_empty() {
        drifted.companies.retain(|company| !large.contains(company));
        // The summary of a large company is its own step; its prospect rows are the chunks.
        let (whole, summary_only): (&[i64], &[i64]) = if model.key == "company_id" {
            (&[], &large)
        } else {
            (&large, &[])
        };
        // Drift may be anywhere in the rows: every model is re-derived.
        rederivation::queue(&transaction, whole, whole, summary_only).await?;
    }
    let written = if drifted.is_empty() {
        read_model::Rederived::default()
    } else {
        read_model::rederive(&transaction, model, &drifted).await?
    };
    let watermark: String = transaction
        .query_one(
            "SELECT watermark::text FROM read_model_state WHERE read_model = $1",
            &[&model.table],
        )
        .await?
        .try_get(0)?;
    let outcome = Outcome {
        model,
        mode: Mode::Reconcile,
        rows: written.rows(),
        keys: drifted.count(),
        started_at,
        duration: started.elapsed(),
        watermark,
        error: None,
    };
    read_model::record_success(&transaction, &outcome, replica, Some(&written)).await?;
    transaction.commit().await?;
    Ok(outcome)
}
