//! The refresh operations, shared by the leader's background loop and `RefreshNow`: drain the
//! change log, rebuild a read model, reconcile one. Failures of one read model are recorded (in
//! `materialized_view_error` and its status) and reported in its outcome; they never stop the
//! refresh of the others.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use svc_core::db::{DbOperation, traced};
use svc_core::{DbError, Pool};
use tokio::sync::{Mutex, Notify};

use crate::apply;
use crate::error::RefreshError;
use crate::read_model::{self, LockWait, Mode, Outcome, ReadModel};
use crate::{rebuild, reconcile, rederivation};

/// Longest one drain keeps claiming batches before it hands control back to the loop, so a
/// steady stream of writes cannot keep the leader from noticing shutdown or lost leadership.
const MAX_DRAIN: Duration = Duration::from_secs(1);

/// How much one transaction takes on.
#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    /// Change-log rows claimed per apply.
    pub batch_size: i64,
    /// Companies with more prospects are re-derived in chunks (crate::rederivation).
    pub large_company_prospects: i64,
    /// Most prospect rows in one chunk.
    pub max_chunk_rows: i64,
}

pub struct Refresher {
    pub pool: Pool,
    pub replica: String,
    pub sizes: Sizes,
    /// statement_timeout of rebuild and reconcile statements, which read whole tables.
    pub long_statement_timeout_ms: u64,
    /// Wakes the applier.
    pub wake: Arc<Notify>,
    /// One rebuild or reconcile at a time per process; across processes the apply lock does it.
    whole_table: Mutex<()>,
    /// Rows of the next chunk, adapted to how long chunks take (rederivation::next_chunk_rows).
    chunk_rows: AtomicI64,
    /// When the next step of chunked re-derivation may run while other changes keep coming
    /// (rederivation::STEP_SHARE).
    step_due: std::sync::Mutex<Instant>,
    /// The summary step running beside the applies (rederivation::summary_step), one at a time.
    summary: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Refresher {
    pub fn new(pool: Pool, replica: String, sizes: Sizes, long_statement_timeout_ms: u64) -> Self {
        Self {
            pool,
            replica,
            sizes,
            long_statement_timeout_ms,
            wake: Arc::new(Notify::new()),
            whole_table: Mutex::new(()),
            chunk_rows: AtomicI64::new(sizes.max_chunk_rows),
            step_due: std::sync::Mutex::new(Instant::now()),
            summary: std::sync::Mutex::new(None),
        }
    }

    async fn checked_out(&self) -> Result<svc_core::db::PooledClient, DbError> {
        Ok(self.pool.get().await?)
    }

    async fn client(&self) -> Result<svc_core::db::PooledClient, RefreshError> {
        Ok(self.checked_out().await?)
    }

    /// Applies batches until a claim finds the change log empty and no large company waits for
    /// chunked re-derivation, or (with `NoWait`) until another writer holds the apply lock, or
    /// for at most [`MAX_DRAIN`]. After each batch it works one step of the chunked
    /// re-derivation, so that a large company's chunks and everyone else's changes take turns.
    /// Returns one summed outcome per read model touched.
    pub async fn drain(&self, wait: LockWait) -> Result<Vec<Outcome>, RefreshError> {
        let mut client = self.client().await?;
        // Writers notify only while the signal is clear (`change_signal`): clear it before
        // claiming, so that a change committed from here on is either claimed below or wakes us
        // again.
        clear_change_signal(&client).await?;
        let started = Instant::now();
        let mut totals: Vec<Outcome> = Vec::new();
        let settings = apply::ApplySettings {
            batch_size: self.sizes.batch_size,
            large_company_prospects: self.sizes.large_company_prospects,
            replica: &self.replica,
        };
        let mut watermark = String::new();
        loop {
            let batch = apply::apply_batch(&mut client, &settings, wait).await;
            let batch = self.failed_everywhere(batch).await?;
            add_up(&mut totals, batch.models);
            if batch.busy {
                return Ok(published(totals, &watermark));
            }
            watermark = batch.watermark;
            if batch.claimed > 0 && Instant::now() < self.step_due() {
                // Other changes keep coming: the applies have their share first.
                if started.elapsed() >= MAX_DRAIN {
                    self.wake.notify_one();
                    return Ok(published(totals, &watermark));
                }
                continue;
            }
            let chunk_rows = self.chunk_rows.load(Ordering::Relaxed);
            let step_started = Instant::now();
            let step = match rederivation::step(&mut client, chunk_rows, &self.replica, wait).await
            {
                // A step the server refused outside a model's re-derivation (which records its
                // own failure) must not hold back everyone's applies: they go on, the step is
                // tried again next drain, and the company's pending_since holds its
                // organization's searches back meanwhile.
                Err(error) if error.db_error().is_some() => {
                    tracing::error!(
                        error = %crate::error::describe(&error),
                        chunk_rows,
                        "a step of chunked re-derivation failed"
                    );
                    if error.sql_state() == Some(&tokio_postgres::error::SqlState::QUERY_CANCELED) {
                        // Timed out: the next chunk is cut by half.
                        let next = rederivation::next_chunk_rows(
                            chunk_rows,
                            Duration::MAX,
                            self.sizes.max_chunk_rows,
                        );
                        self.chunk_rows.store(next, Ordering::Relaxed);
                    }
                    return Ok(published(totals, &watermark));
                }
                step => self.failed_everywhere(step).await?,
            };
            // While another summary is computed, this one waits for its end (which wakes the
            // applier) rather than have an idle loop pick it again and again meanwhile.
            let waiting_summary = step
                .summary
                .clone()
                .is_some_and(|work| !self.start_summary(work));
            add_up(&mut totals, step.models);
            if !step.yielded {
                self.set_step_due(
                    Instant::now() + rederivation::pause_after(step_started.elapsed()),
                );
            }
            if let Some((rows, elapsed)) = step.chunk {
                let next = rederivation::next_chunk_rows(rows, elapsed, self.sizes.max_chunk_rows);
                self.chunk_rows.store(next, Ordering::Relaxed);
            }
            if step.busy || (batch.claimed == 0 && (waiting_summary || !step.pending)) {
                return Ok(published(totals, &watermark));
            }
            if started.elapsed() >= MAX_DRAIN {
                // More may be waiting: come straight back after the loop's checks.
                self.wake.notify_one();
                return Ok(published(totals, &watermark));
            }
        }
    }

    /// Runs the summary step of `work` on a connection of its own, unless one is running: the
    /// aggregate is computed without the apply lock, and the applies on the drain's connection
    /// go on meanwhile. It wakes the applier when done, for the next step. Returns whether it
    /// started.
    fn start_summary(&self, work: rederivation::SummaryWork) -> bool {
        let mut running = self
            .summary
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if running.as_ref().is_some_and(|task| !task.is_finished()) {
            return false;
        }
        let (pool, replica, wake) = (self.pool.clone(), self.replica.clone(), self.wake.clone());
        *running = Some(tokio::spawn(async move {
            let done = async {
                let mut client = pool.get().await?;
                rederivation::summary_step(&mut client, &work, &replica).await
            };
            match done.await {
                // Each model's outcome is recorded by its re-derivation.
                Ok(_) => {}
                // The queue row is left as it was: the step is tried again at the next drain,
                // and the company's pending_since holds its organization's searches back.
                Err(error) => tracing::error!(
                    company_id = work.company_id,
                    error = %crate::error::describe(&error),
                    "the summary step of chunked re-derivation failed"
                ),
            }
            wake.notify_one();
        }));
        true
    }

    fn step_due(&self) -> Instant {
        *self
            .step_due
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn set_step_due(&self, due: Instant) {
        *self
            .step_due
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = due;
    }

    /// A whole apply or chunk transaction failed (connection, lock timeout): every model is
    /// affected, nothing was claimed or moved on. Records that for each model.
    async fn failed_everywhere<T>(&self, result: Result<T, DbError>) -> Result<T, RefreshError> {
        match result {
            Ok(done) => Ok(done),
            Err(error) => {
                let message = crate::error::describe(&error);
                for model in read_model::READ_MODELS {
                    self.record_error(model, Mode::Incremental, &message).await;
                }
                Err(error.into())
            }
        }
    }

    /// Rebuilds `model`; a failure is recorded and returned in the outcome.
    pub async fn rebuild(&self, model: ReadModel) -> Outcome {
        let outcome = self.whole_table(model, Mode::Full).await;
        // Changes held back while the rebuild held the apply lock are waiting.
        self.wake.notify_one();
        outcome
    }

    /// Reconciles `model`; a failure is recorded and returned in the outcome.
    pub async fn reconcile(&self, model: ReadModel) -> Outcome {
        self.whole_table(model, Mode::Reconcile).await
    }

    /// A full rebuild or a reconcile: operations that read the whole model, one at a time.
    async fn whole_table(&self, model: ReadModel, mode: Mode) -> Outcome {
        let _one_at_a_time = self.whole_table.lock().await;
        let started_at = SystemTime::now();
        let timeout_ms = self.long_statement_timeout_ms;
        let result = async {
            let mut client = self.checked_out().await?;
            match mode {
                Mode::Full => {
                    let rebuilt = rebuild::rebuild(&mut client, model, &self.replica, timeout_ms);
                    traced(DbOperation::new("REBUILD", model.table), rebuilt).await
                }
                Mode::Reconcile | Mode::Incremental => {
                    let reconciled = reconcile::reconcile(
                        &mut client,
                        model,
                        &self.replica,
                        timeout_ms,
                        self.sizes.large_company_prospects,
                    );
                    traced(DbOperation::new("RECONCILE", model.table), reconciled).await
                }
            }
        }
        .await;
        let outcome = self.settle(model, mode, started_at, result).await;
        crate::metrics::record_refresh(&outcome);
        outcome
    }

    /// Runs `mode` over `models` (incremental always covers every model: the log is shared).
    pub async fn run(
        &self,
        mode: Mode,
        models: &[ReadModel],
    ) -> Result<Vec<Outcome>, RefreshError> {
        let mut outcomes = Vec::with_capacity(models.len());
        match mode {
            Mode::Incremental => outcomes = self.drain(LockWait::Wait).await?,
            Mode::Full => {
                // Rebuilding every model covers the chunked work queued before the first began.
                let covers_all = models.len() == read_model::READ_MODELS.len();
                let queued = if covers_all {
                    rederivation::queued(&*self.client().await?).await?
                } else {
                    Vec::new()
                };
                for model in models {
                    outcomes.push(self.rebuild(*model).await);
                }
                if covers_all && outcomes.iter().all(|outcome| outcome.error.is_none()) {
                    let cleared =
                        rederivation::clear_covered(&mut *self.client().await?, &queued).await?;
                    if cleared > 0 {
                        tracing::info!(
                            companies = cleared,
                            "a full rebuild covered queued chunked re-derivation"
                        );
                    }
                }
            }
            Mode::Reconcile => {
                for model in models {
                    outcomes.push(self.reconcile(*model).await);
                }
            }
        }
        Ok(outcomes)
    }

    /// Whether the change log holds anything: the cheap probe between full drains that picks up
    /// writes which skipped the NOTIFY (writers notify only while `change_signal` is clear).
    pub async fn has_pending_changes(&self) -> Result<bool, RefreshError> {
        let client = self.client().await?;
        // The primary key walk stays cheap however many claimed (dead) rows await vacuum.
        let row = client
            .query_opt("SELECT id FROM change_log ORDER BY id LIMIT 1", &[])
            .await?;
        Ok(row.is_some())
    }

    /// Models a failed apply marked for a full rebuild.
    pub async fn pending_rebuilds(&self) -> Result<Vec<ReadModel>, RefreshError> {
        let client = self.client().await?;
        Ok(read_model::pending_rebuild(&**client)
            .await?
            .iter()
            .filter_map(|table| read_model::by_table(table))
            .collect())
    }

    async fn settle(
        &self,
        model: ReadModel,
        mode: Mode,
        started_at: SystemTime,
        result: Result<Outcome, DbError>,
    ) -> Outcome {
        match result {
            Ok(outcome) => outcome,
            Err(error) => {
                let message = crate::error::describe(&error);
                tracing::error!(read_model = model.table, mode = mode.as_str(), error = %message, "refresh failed");
                self.record_error(model, mode, &message).await;
                Outcome {
                    model,
                    mode,
                    rows: 0,
                    keys: 0,
                    started_at,
                    duration: started_at.elapsed().unwrap_or(Duration::ZERO),
                    watermark: String::new(),
                    error: Some(message),
                }
            }
        }
    }

    async fn record_error(&self, model: ReadModel, mode: Mode, message: &str) {
        let recorded = async {
            let client = self.client().await?;
            read_model::record_error(&**client, model, mode, message, &self.replica).await?;
            Ok::<_, RefreshError>(())
        };
        if let Err(error) = recorded.await {
            tracing::warn!(%error, read_model = model.table, "could not record the refresh error");
        }
    }
}

/// Adds `outcomes` to the per-model `totals` of a drain.
fn add_up(totals: &mut Vec<Outcome>, outcomes: Vec<Outcome>) {
    for outcome in outcomes {
        match totals.iter_mut().find(|total| total.model == outcome.model) {
            Some(total) => {
                total.rows += outcome.rows;
                total.keys += outcome.keys;
                total.duration += outcome.duration;
                total.watermark = outcome.watermark;
                total.error = outcome.error.or(total.error.take());
            }
            None => totals.push(outcome),
        }
    }
}

/// The drain's totals, each with the watermark the drain's last apply published: a chunk's
/// outcome carries its company's older bound instead, and a model that failed keeps its own.
fn published(mut totals: Vec<Outcome>, watermark: &str) -> Vec<Outcome> {
    if !watermark.is_empty() {
        for total in totals.iter_mut().filter(|total| total.error.is_none()) {
            watermark.clone_into(&mut total.watermark);
        }
    }
    totals
}

/// Clears the change signal unless a writer is setting it right now (that writer notifies),
/// then moves the drain generation, so that every writing session looks at the signal again (a
/// session reads it once per generation). Two transactions, in this order: a session that
/// reads the new generation must also read the cleared signal.
pub async fn clear_change_signal(client: &tokio_postgres::Client) -> Result<(), DbError> {
    client
        .execute(
            "UPDATE change_signal SET pending = false WHERE pending AND ctid IN ( \
                 SELECT ctid FROM change_signal WHERE pending FOR UPDATE SKIP LOCKED)",
            &[],
        )
        .await?;
    client
        .execute("SELECT nextval('change_drain_generation')", &[])
        .await?;
    Ok(())
}
