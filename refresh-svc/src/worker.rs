//! The leader's background work: drain the change log whenever the listener wakes it and on a
//! fallback timer, rebuild read models a failed apply left behind (with backoff), reconcile
//! every read model on a schedule and merge GIN pending lists. Replicas that do not lead stand by.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::read_model::{LockWait, READ_MODELS};
use crate::refresher::Refresher;

const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_ERROR_BACKOFF: Duration = Duration::from_secs(30);
const MAX_REBUILD_BACKOFF: Duration = Duration::from_secs(300);

pub struct Applier {
    pub refresher: Arc<Refresher>,
    /// A full drain (claim, apply, watermark) at least this often, even with nothing pending:
    /// it advances the watermark that searches waiting on a token compare with.
    pub drain_interval: Duration,
    /// How often to look for changes whose writers skipped the NOTIFY.
    pub change_probe: Duration,
    pub leading: watch::Receiver<bool>,
}

impl Applier {
    /// Runs until `shutdown` flips to true. A drain in progress finishes its current batch.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let mut error_backoff = Duration::ZERO;
        let mut rebuild_backoff = MIN_BACKOFF;
        let mut rebuild_due: Option<Instant> = None;
        loop {
            if !*self.leading.borrow_and_update() {
                tokio::select! {
                    changed = self.leading.changed() => {
                        if changed.is_err() {
                            return;
                        }
                        // Whatever was written while another replica (or none) led is in the
                        // log, and a model may be waiting for its rebuild.
                        rebuild_due = Some(Instant::now());
                        continue;
                    }
                    _ = shutdown.changed() => return,
                }
            }
            match self.refresher.drain(LockWait::NoWait).await {
                Ok(outcomes) => {
                    error_backoff = Duration::ZERO;
                    if outcomes.iter().any(|outcome| outcome.error.is_some()) {
                        rebuild_due.get_or_insert_with(Instant::now);
                    }
                }
                Err(error) => {
                    error_backoff = (error_backoff * 2).clamp(MIN_BACKOFF, MAX_ERROR_BACKOFF);
                    tracing::error!(error = %error.describe(), retry_in_ms = error_backoff.as_millis() as u64, "apply failed");
                    tokio::select! {
                        _ = tokio::time::sleep(error_backoff) => {}
                        _ = shutdown.changed() => return,
                    }
                    continue;
                }
            }
            if rebuild_due.is_some_and(|due| due <= Instant::now()) {
                rebuild_due = self.rebuild_pending(&mut rebuild_backoff).await;
            }
            tokio::select! {
                _ = self.refresher.wake.notified() => {}
                _ = pending_or_due(&self.refresher, self.drain_interval, self.change_probe) => {}
                _ = self.leading.changed() => {}
                _ = shutdown.changed() => return,
            }
        }
    }

    /// Rebuilds every model marked for it; returns when to look again (`None`: all healthy).
    async fn rebuild_pending(&self, backoff: &mut Duration) -> Option<Instant> {
        let pending = match self.refresher.pending_rebuilds().await {
            Ok(pending) => pending,
            Err(error) => {
                tracing::warn!(%error, "could not read which read models need a rebuild");
                return Some(Instant::now() + *backoff);
            }
        };
        let mut failed = false;
        for model in pending {
            tracing::info!(
                read_model = model.table,
                "rebuilding a read model a failed apply left behind"
            );
            failed |= self.refresher.rebuild(model).await.error.is_some();
        }
        if failed {
            *backoff = (*backoff * 2).min(MAX_REBUILD_BACKOFF);
            Some(Instant::now() + *backoff)
        } else {
            *backoff = MIN_BACKOFF;
            None
        }
    }
}

/// Resolves when the change log holds something or the next full drain is due.
async fn pending_or_due(refresher: &Refresher, drain_interval: Duration, change_probe: Duration) {
    let due = Instant::now() + drain_interval;
    loop {
        tokio::time::sleep(change_probe.min(drain_interval)).await;
        if Instant::now() >= due {
            return;
        }
        match refresher.has_pending_changes().await {
            Ok(false) => {}
            Ok(true) => return,
            Err(error) => {
                tracing::warn!(%error, "could not probe the change log");
                return;
            }
        }
    }
}

/// Waits `interval`, and again until this replica leads: the pace of the leader's scheduled
/// work. `false` once `shutdown` flips.
async fn next_turn_while_leading(
    interval: Duration,
    leading: &watch::Receiver<bool>,
    shutdown: &mut watch::Receiver<bool>,
) -> bool {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.changed() => return false,
        }
        if *leading.borrow() {
            return true;
        }
    }
}

/// Reconciles every read model each `interval` while this replica leads (the seeds' hybrid
/// strategy: notifications for freshness, a periodic full comparison as the safety net). It runs
/// beside the applier: the comparison takes no lock, only the repair does, briefly.
pub async fn reconcile_on_schedule(
    refresher: Arc<Refresher>,
    interval: Duration,
    leading: watch::Receiver<bool>,
    mut shutdown: watch::Receiver<bool>,
) {
    while next_turn_while_leading(interval, &leading, &mut shutdown).await {
        for model in READ_MODELS {
            if *shutdown.borrow() {
                return;
            }
            let outcome = refresher.reconcile(model).await;
            if outcome.error.is_none() && outcome.keys > 0 {
                tracing::warn!(
                    read_model = model.table,
                    companies = outcome.keys,
                    rows = outcome.rows,
                    "scheduled reconcile repaired drift"
                );
            }
        }
    }
}

/// The read models' GIN indexes, by name.
const GIN_INDEXES_SQL: &str = "SELECT i.indexrelid::regclass::text FROM pg_index i \
     JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam \
     WHERE a.amname = 'gin' AND i.indrelid = ANY($1::text[]::regclass[])";

/// Merges the pending lists of the read models' GIN indexes every `interval` while this replica
/// leads. A GIN index takes inserts into a pending list, and the insert that finds the list full
/// (`gin_pending_list_limit`) merges all of it inside its own transaction: for the apply that
/// happens to make that write, seconds instead of milliseconds (docs/BENCHMARKS.md, Refresh).
/// Merged here, on a connection of its own, the work is the same but no apply waits for it; an
/// insert that overflows while a merge runs skips its own.
pub async fn merge_gin_pending_lists(
    pool: svc_core::Pool,
    interval: Duration,
    leading: watch::Receiver<bool>,
    mut shutdown: watch::Receiver<bool>,
) {
    let tables: Vec<&str> = READ_MODELS.iter().map(|model| model.table).collect();
    while next_turn_while_leading(interval, &leading, &mut shutdown).await {
        let merged = async {
            let client = pool.get().await?;
            let indexes = client.query(GIN_INDEXES_SQL, &[&tables]).await?;
            for index in indexes {
                let index: String = index.try_get(0)?;
                client
                    .execute(
                        "SELECT gin_clean_pending_list($1::text::regclass)",
                        &[&index],
                    )
                    .await?;
            }
            Ok::<_, svc_core::DbError>(())
        };
        if let Err(error) = merged.await {
            tracing::warn!(%error, "could not merge the GIN pending lists of the read models");
        }
    }
}
