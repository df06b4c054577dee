//! The change-log listener (docs/ARCHITECTURE.md, "How a write becomes searchable"). It owns a
//! dedicated connection and drives it with `poll_message` itself, because tokio-postgres hands
//! notifications only to whoever polls the connection. Every (re)connect wakes the applier,
//! since notifications sent while it was disconnected are lost; the change log, not the
//! notification, is the truth.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use svc_core::config::DatabaseArgs;
use tokio::sync::{Notify, watch};
use tokio_postgres::AsyncMessage;

use crate::error::RefreshError;

pub const CHANNEL: &str = "lma_change_log";

const INITIAL_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Listens until `shutdown` flips to true, waking `wake` on every notification and after every
/// (re)connect.
pub async fn run(database: DatabaseArgs, wake: Arc<Notify>, mut shutdown: watch::Receiver<bool>) {
    let mut backoff = INITIAL_BACKOFF;
    while !*shutdown.borrow() {
        match listen_once(&database, &wake, &mut shutdown).await {
            Ok(()) => return,
            Err(error) => {
                tracing::warn!(%error, retry_in_ms = backoff.as_millis() as u64, "change-log listener disconnected");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = shutdown.changed() => return,
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// One connection's life: `Ok` on shutdown, `Err` when the connection fails.
async fn listen_once(
    database: &DatabaseArgs,
    wake: &Arc<Notify>,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<(), RefreshError> {
    let (client, mut connection) =
        svc_core::db::connect_single(database, "refresh-svc listener").await?;
    let notified = wake.clone();
    let mut driver = tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message? {
                // A burst of notifications collapses into one stored wake-up.
                AsyncMessage::Notification(_) => notified.notify_one(),
                AsyncMessage::Notice(notice) => tracing::debug!(%notice, "listener notice"),
                _ => {}
            }
        }
        Ok::<_, tokio_postgres::Error>(())
    });
    let outcome = async {
        client.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
        tracing::info!(channel = CHANNEL, "listening for change-log notifications");
        // Whatever was written while nobody listened is in the log: drain it now.
        wake.notify_one();
        tokio::select! {
            finished = &mut driver => match finished {
                Ok(Ok(())) => Err(RefreshError::ConnectionClosed("listener")),
                Ok(Err(error)) => Err(error.into()),
                Err(join_error) => Err(join_error.into()),
            },
            _ = shutdown.changed() => Ok(()),
        }
    }
    .await;
    driver.abort();
    outcome
}
