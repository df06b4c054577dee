//! The refresh operations, shared by the leader's background loop and `RefreshNow`: drain the
//! change log, rebuild a read model, reconcile one. Failures of one read model are recorded (in
//! `materialized_view_error` and its status) and reported in its outcome; they never stop the
//! refresh of the others.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use svc_core::db::{DbOperation, traced};
use svc_core::{DbError, Pool};
use tokio::sync::{Mutex, Notify};

use crate::apply;
use crate::error::RefreshError;
use crate::read_model::{self, LockWait, Mode, Outcome, ReadModel};
use crate::{rebuild, reconcile};

/// Longest one drain keeps claiming batches before it hands control back to the loop, so a
/// steady stream of writes cannot keep the leader from noticing shutdown or lost leadership.
const MAX_DRAIN: Duration = Duration::from_secs(1);

pub struct Refresher {
    pub pool: Pool,
    pub replica: String,
    pub batch_size: i64,
    /// statement_timeout of rebuild and reconcile statements, which read whole tables.
    pub long_statement_timeout_ms: u64,
    /// Wakes the applier.
    pub wake: Arc<Notify>,
    /// One rebuild or reconcile at a time per process; across processes the apply lock does it.
    whole_table: Mutex<()>,
}

impl Refresher {
    pub fn new(
        pool: Pool,
        replica: String,
        batch_size: i64,
        long_statement_timeout_ms: u64,
    ) -> Self {
        Self {
            pool,
            replica,
            batch_size,
            long_statement_timeout_ms,
            wake: Arc::new(Notify::new()),
            whole_table: Mutex::new(()),
        }
    }

    async fn checked_out(&self) -> Result<svc_core::db::PooledClient, DbError> {
        Ok(self.pool.get().await?)
    }

    async fn client(&self) -> Result<svc_core::db::PooledClient, RefreshError> {
        Ok(self.checked_out().await?)
    }

    /// Applies batches until a claim finds the change log empty, or (with `NoWait`) until
    /// another writer holds the apply lock. Returns one summed outcome per read model touched.
    pub async fn drain(&self, wait: LockWait) -> Result<Vec<Outcome>, RefreshError> {
        let mut client = self.client().await?;
        // Writers notify only while the signal is clear (change_signal, V3): clear it before claiming, so that
        // a change committed from here on is either claimed below or wakes us again.
        clear_change_signal(&client).await?;
        let started = Instant::now();
        let mut totals: Vec<Outcome> = Vec::new();
        loop {
            let batch = apply::apply_batch(&mut client, self.batch_size, &self.replica, wait).await;
            let batch = match batch {
                Ok(batch) => batch,
                Err(error) => {
                    // The whole transaction failed (connection, lock timeout): every model is
                    // affected, nothing was claimed.
                    let message = crate::error::describe(&error);
                    for model in read_model::READ_MODELS {
                        self.record_error(model, Mode::Incremental, &message).await;
                    }
                    return Err(error.into());
                }
            };
            for outcome in batch.models {
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
            if batch.busy || batch.claimed == 0 {
                return Ok(totals);
            }
            if started.elapsed() >= MAX_DRAIN {
                // More may be waiting: come straight back after the loop's checks.
                self.wake.notify_one();
                return Ok(totals);
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
                    let reconciled =
                        reconcile::reconcile(&mut client, model, &self.replica, timeout_ms);
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
                for model in models {
                    outcomes.push(self.rebuild(*model).await);
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
    /// writes which skipped the NOTIFY (see change_signal in V3).
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
        let rows = client
            .query(
                "SELECT read_model FROM read_model_state WHERE needs_rebuild ORDER BY read_model",
                &[],
            )
            .await?;
        let mut models = Vec::with_capacity(rows.len());
        for row in rows {
            let table: String = row.try_get(0)?;
            if let Some(model) = read_model::by_table(&table) {
                models.push(model);
            }
        }
        Ok(models)
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

/// Clears the change signal unless a writer is setting it right now (that writer notifies),
/// then moves the drain generation, so that every writing session looks at the signal again
/// (V23). Two transactions, in this order: a session that reads the new generation must also
/// read the cleared signal.
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
