//! The applier: drains the change log whenever the listener wakes it, and on a fallback timer.

use std::sync::Arc;
use std::time::Duration;

use svc_core::Pool;
use tokio::sync::{Notify, watch};

use crate::apply;
use crate::error::RefreshError;

const MAX_ERROR_BACKOFF: Duration = Duration::from_secs(30);

pub struct Applier {
    pub pool: Pool,
    pub wake: Arc<Notify>,
    pub drain_interval: Duration,
    pub batch_size: i64,
    pub replica: String,
}

impl Applier {
    /// Runs until `shutdown` flips to true. A drain in progress finishes its current batch.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut error_backoff = Duration::ZERO;
        loop {
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(self.drain_interval) => {}
                _ = shutdown.changed() => return,
            }
            match self.drain().await {
                Ok(()) => error_backoff = Duration::ZERO,
                Err(error) => {
                    error_backoff =
                        (error_backoff * 2).clamp(Duration::from_millis(100), MAX_ERROR_BACKOFF);
                    tracing::error!(%error, retry_in_ms = error_backoff.as_millis() as u64, "apply failed");
                    self.record_error(&error).await;
                    tokio::select! {
                        _ = tokio::time::sleep(error_backoff) => {}
                        _ = shutdown.changed() => return,
                    }
                }
            }
        }
    }

    /// Applies batches until the change log holds less than one batch.
    async fn drain(&self) -> Result<(), RefreshError> {
        let mut client = self.pool.get().await.map_err(svc_core::DbError::from)?;
        loop {
            let outcome = apply::apply_batch(&mut client, self.batch_size, &self.replica).await?;
            if outcome.claimed < self.batch_size {
                return Ok(());
            }
        }
    }

    async fn record_error(&self, error: &RefreshError) {
        let recorded = async {
            let client = self.pool.get().await.map_err(svc_core::DbError::from)?;
            apply::record_error(&client, "incremental", &error.to_string(), &self.replica).await
        };
        if let Err(record_error) = recorded.await {
            tracing::warn!(%record_error, "could not record the apply error");
        }
    }
}
