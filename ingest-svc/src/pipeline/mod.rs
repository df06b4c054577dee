//! The one ingestion pipeline of the streamed, CSV and legacy paths: records are validated
//! (each reject carrying its line and field), cut into batches ([`Batcher`]) and handed to a
//! writer task, which writes them in order through the [`Store`] while the next batch is
//! validated, and reports each committed batch.

mod batcher;

use std::sync::{Arc, LazyLock};

use lma_proto::v1::{IngestSummary, ProspectRecord, RowError};
use svc_core::FieldViolation;
use svc_core::metrics::Counter;
use svc_core::telemetry::spawn_traced;
use tokio::sync::mpsc;

use crate::abort::Abort;
use crate::error::IngestError;
use crate::persistence::{BatchOptions, ImportMemory, StagedRow, Store};
use crate::validate;
pub use batcher::{Batch, Batcher};
use svc_core::DbError;

/// How many errors a summary lists; the rest are counted.
pub const MAX_REPORTED_ERRORS: usize = 1_000;

/// Batches buffered between the validation and the writer: one validated while one is written.
const BATCHES_IN_FLIGHT: usize = 1;

/// Where a bulk write goes.
#[derive(Clone)]
pub struct Target {
    pub store: Arc<Store>,
    pub organization_id: i64,
    /// Validate only; write nothing.
    pub dry_run: bool,
    pub options: BatchOptions,
    /// Stops the write when the call is abandoned.
    pub abort: Abort,
}

/// One input record of the pipeline, as its source read it.
pub enum Input<'a> {
    /// A record to validate.
    Record(&'a ProspectRecord),
    /// A record its source already found invalid (values that do not parse).
    Invalid {
        external_id: &'a str,
        violations: Vec<FieldViolation>,
    },
    /// A row that could not be read at all.
    Unreadable(String),
}

/// The writer stopped taking batches (it failed or the write was aborted).
#[derive(Debug)]
pub struct WriterStopped;

/// The front of the pipeline: validates records and hands full batches to the writer.
pub struct Intake {
    batcher: Batcher,
    batches: mpsc::Sender<Batch>,
}

impl Intake {
    pub fn new(batch_rows: usize, batches: mpsc::Sender<Batch>) -> Self {
        Self {
            batcher: Batcher::new(batch_rows),
            batches,
        }
    }

    /// Validates `input` found at `row` (record number or line) and adds it to the batch;
    /// returns the batch it completed.
    fn accept(&mut self, row: u64, input: Input<'_>) -> Option<Batch> {
        match input {
            Input::Record(record) => match validate::prospect(record) {
                Ok(valid) => self.batcher.push(StagedRow { row, record: valid }),
                Err(violations) => {
                    self.batcher
                        .reject(row_errors(row, &record.external_id, violations))
                }
            },
            Input::Invalid {
                external_id,
                violations,
            } => self
                .batcher
                .reject(row_errors(row, external_id, violations)),
            Input::Unreadable(reason) => self.batcher.reject(vec![RowError {
                row,
                external_id: String::new(),
                field: String::new(),
                reason,
            }]),
        }
    }

    pub async fn add(&mut self, row: u64, input: Input<'_>) -> Result<(), WriterStopped> {
        match self.accept(row, input) {
            Some(batch) => self.batches.send(batch).await.map_err(|_| WriterStopped),
            None => Ok(()),
        }
    }

    /// [`Intake::add`] from a blocking thread (the CSV parser's).
    pub fn add_blocking(&mut self, row: u64, input: Input<'_>) -> Result<(), WriterStopped> {
        match self.accept(row, input) {
            Some(batch) => self.batches.blocking_send(batch).map_err(|_| WriterStopped),
            None => Ok(()),
        }
    }

    /// The input ended cleanly: hands over the last batch. (An input that breaks off drops
    /// the intake instead: its unfinished batch is never written.)
    pub async fn finish(self) -> Result<(), WriterStopped> {
        match self.batcher.finish() {
            Some(batch) => self.batches.send(batch).await.map_err(|_| WriterStopped),
            None => Ok(()),
        }
    }

    /// [`Intake::finish`] from a blocking thread.
    pub fn finish_blocking(self) -> Result<(), WriterStopped> {
        match self.batcher.finish() {
            Some(batch) => self.batches.blocking_send(batch).map_err(|_| WriterStopped),
            None => Ok(()),
        }
    }
}

/// One RowError per violation of a record. The external id is named only when it is a valid
/// one ([`validate::reportable_external_id`]).
pub fn row_errors(row: u64, external_id: &str, violations: Vec<FieldViolation>) -> Vec<RowError> {
    let external_id = validate::reportable_external_id(external_id);
    violations
        .into_iter()
        .map(|violation| RowError {
            row,
            external_id: external_id.to_owned(),
            field: violation.field,
            reason: violation.description,
        })
        .collect()
}

/// Running counts of a bulk write.
#[derive(Debug, Default, Clone)]
pub struct Totals {
    pub received: u64,
    pub validated: u64,
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub rejected: u64,
    pub companies_created: u64,
    pub companies_updated: u64,
    pub errors: Vec<RowError>,
    pub errors_truncated: bool,
    pub consistency_token: String,
}

impl Totals {
    fn add_errors(&mut self, errors: &[RowError]) {
        for error in errors {
            if self.errors.len() < MAX_REPORTED_ERRORS {
                self.errors.push(error.clone());
            } else {
                self.errors_truncated = true;
            }
        }
    }

    /// Rows stored so far (inserted, updated or unchanged), or validated in a dry run.
    pub fn accepted(&self) -> u64 {
        self.stored() + self.validated
    }

    /// Rows stored so far: inserted, updated or unchanged.
    fn stored(&self) -> u64 {
        self.inserted + self.updated + self.unchanged
    }

    pub fn summary(mut self) -> IngestSummary {
        self.errors.sort_by_key(|error| error.row);
        IngestSummary {
            received: self.received,
            inserted: self.inserted,
            updated: self.updated,
            unchanged: self.unchanged,
            rejected: self.rejected,
            companies_created: self.companies_created,
            companies_updated: self.companies_updated,
            errors: self.errors,
            errors_truncated: self.errors_truncated,
            consistency_token: self.consistency_token,
            validated: self.validated,
        }
    }
}

/// Rows of bulk writes stored (inserted, updated or unchanged) and rejected.
static ROWS: LazyLock<(Counter<u64>, Counter<u64>)> = LazyLock::new(|| {
    let meter = svc_core::metrics::meter();
    (
        meter
            .u64_counter("lma.ingest.rows.ingested")
            .with_unit("{row}")
            .with_description("Rows of bulk writes stored: inserted, updated or unchanged.")
            .build(),
        meter
            .u64_counter("lma.ingest.rows.rejected")
            .with_unit("{row}")
            .with_description("Rows of bulk writes rejected by validation or the database.")
            .build(),
    )
});

fn count_rows(stored: u64, rejected: u64) {
    ROWS.0.add(stored, &[]);
    ROWS.1.add(rejected, &[]);
}

/// The writer task of one bulk write; see [`start`].
pub struct Writer(tokio::task::JoinHandle<Result<Totals, DbError>>);

impl Writer {
    /// Waits for the writer once every [`Intake`] of it is gone.
    pub async fn join(self) -> Result<Totals, IngestError> {
        Ok(self
            .0
            .await
            .map_err(|error| IngestError::TaskFailed("the batch writer", error))??)
    }
}

/// Starts a bulk write: the writer, and the channel its [`Intake`] hands batches over.
/// `on_batch` is called after each committed batch with the totals and that batch's errors
/// (validation and write). Once `target.abort` is set, the batch being written is rolled
/// back, the rest are dropped, and the totals count only what was committed.
pub fn start<F, Fut>(target: Target, on_batch: F) -> (mpsc::Sender<Batch>, Writer)
where
    F: FnMut(&Totals, Vec<RowError>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (batches, receiver) = mpsc::channel(BATCHES_IN_FLIGHT);
    let writer = Writer(spawn_traced(write_batches(target, receiver, on_batch)));
    (batches, writer)
}

/// Logs what a bulk request stored.
pub fn log_summary(summary: &IngestSummary, what: &'static str) {
    tracing::info!(
        received = summary.received,
        inserted = summary.inserted,
        updated = summary.updated,
        unchanged = summary.unchanged,
        rejected = summary.rejected,
        "{what}"
    );
}

/// Writes batches in order until the channel closes; see [`start`].
async fn write_batches<F, Fut>(
    target: Target,
    mut batches: mpsc::Receiver<Batch>,
    mut on_batch: F,
) -> Result<Totals, DbError>
where
    F: FnMut(&Totals, Vec<RowError>) -> Fut + Send,
    Fut: std::future::Future<Output = ()> + Send,
{
    let mut totals = Totals::default();
    let memory = ImportMemory::default();
    while let Some(batch) = batches.recv().await {
        if target.abort.is_aborted() {
            break;
        }
        let counted = (totals.stored(), totals.rejected);
        let mut errors = batch.rejected;
        let received = batch.rows.len() as u64 + batch.rejected_records;
        // Rows the suppression list refuses: one statement for the whole batch. Dry runs
        // report them too. The write screens the rows again if the list changes before it.
        let (rows, refused) = target
            .store
            .screen_batch(target.organization_id, batch.rows)
            .await?;
        let refused_records = refused.len() as u64;
        errors.extend(refused);
        if target.dry_run {
            totals.validated += rows.rows.len() as u64;
        } else if !rows.rows.is_empty() {
            let outcome = target
                .store
                .write_batch(
                    target.organization_id,
                    rows,
                    target.options,
                    &target.abort,
                    &memory,
                )
                .await?;
            totals.inserted += outcome.inserted;
            totals.updated += outcome.updated;
            totals.unchanged += outcome.unchanged;
            totals.companies_created += outcome.companies_created;
            totals.companies_updated += outcome.companies_updated;
            if outcome.aborted {
                // Parts that committed before the abort stay and are counted; the caller is
                // gone, so the batch is not reported.
                count_rows(totals.stored() - counted.0, 0);
                break;
            }
            totals.rejected += outcome.rejected_records;
            if let Some(token) = outcome.consistency_token {
                totals.consistency_token = token;
            }
            errors.extend(outcome.rejected);
        }
        errors.sort_by_key(|error| error.row);
        totals.received += received;
        totals.rejected += batch.rejected_records + refused_records;
        totals.add_errors(&errors);
        count_rows(totals.stored() - counted.0, totals.rejected - counted.1);
        on_batch(&totals, errors).await;
    }
    Ok(totals)
}
