//! One read model's share of an apply or of a step of chunked re-derivation: re-derive the
//! affected rows under a savepoint of their own and record the outcome, so that a broken
//! definition fails only its own model.

use std::time::{Instant, SystemTime};

use svc_core::DbError;
use svc_core::db::{DbOperation, traced};
use tokio_postgres::Transaction;

use crate::read_model::{self, Affected, Mode, Outcome, ReadModel};

/// What a statement timeout (or cancel) of a re-derivation means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnCancel {
    /// The model is left behind, like any failure of it: a full rebuild follows (an apply,
    /// whose batch would time out again).
    Rebuild,
    /// The whole transaction fails and is tried again smaller (a chunk: crate::rederivation).
    Fail,
}

/// Re-derives the `affected` rows of `model` under a savepoint of its own and records the
/// outcome. A failure of the model's definition (or table) is recorded, marks the model for a
/// full rebuild and is returned in the outcome, so the caller goes on with the other models; only
/// a failure of the connection itself, or a cancel with `OnCancel::Fail`, is an error.
/// `watermark` goes to the refresh log.
pub async fn apply_to_model(
    transaction: &Transaction<'_>,
    model: ReadModel,
    affected: &Affected,
    watermark: &str,
    replica: &str,
    on_cancel: OnCancel,
) -> Result<Outcome, DbError> {
    apply_to_model_from(
        transaction,
        model,
        model.definition,
        affected,
        watermark,
        replica,
        on_cancel,
    )
    .await
}

/// Like [`apply_to_model`], from `source`: the definition, or rows already computed from it
/// (the summary step computes its row before it takes the apply lock).
pub async fn apply_to_model_from(
    transaction: &Transaction<'_>,
    model: ReadModel,
    source: &str,
    affected: &Affected,
    watermark: &str,
    replica: &str,
    on_cancel: OnCancel,
) -> Result<Outcome, DbError> {
    let model_started = Instant::now();
    transaction.batch_execute("SAVEPOINT read_model").await?;
    let mut outcome = Outcome {
        model,
        mode: Mode::Incremental,
        rows: 0,
        keys: affected.count(),
        started_at: SystemTime::now(),
        duration: Default::default(),
        watermark: watermark.to_owned(),
        error: None,
    };
    let rederived = traced(
        DbOperation::new("REDERIVE", model.table),
        read_model::rederive_from(transaction, model, source, affected),
    );
    match rederived.await {
        Ok(written) => {
            transaction
                .batch_execute("RELEASE SAVEPOINT read_model")
                .await?;
            outcome.rows = written.rows();
            outcome.duration = model_started.elapsed();
            read_model::record_success(transaction, &outcome, replica, Some(&written)).await?;
        }
        Err(error)
            if on_cancel == OnCancel::Fail
                && error.sql_state() == Some(&tokio_postgres::error::SqlState::QUERY_CANCELED) =>
        {
            return Err(error);
        }
        Err(error) if error.db_error().is_some() => {
            // The model's definition (or its table) is broken; the others go on.
            transaction
                .batch_execute("ROLLBACK TO SAVEPOINT read_model")
                .await?;
            transaction
                .execute(
                    "UPDATE read_model_state SET needs_rebuild = true WHERE read_model = $1",
                    &[&model.table],
                )
                .await?;
            let message = crate::error::describe(&error);
            outcome.duration = model_started.elapsed();
            read_model::record_error(transaction, model, Mode::Incremental, &message, replica)
                .await?;
            tracing::error!(read_model = model.table, error = %message, "incremental apply of a read model failed; a full rebuild will follow");
            outcome.error = Some(message);
        }
        // The connection itself failed: nothing is committed, the batch stays in the log.
        Err(error) => return Err(error),
    }
    crate::metrics::record_refresh(&outcome);
    Ok(outcome)
}
