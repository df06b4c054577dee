//! Leadership among refresh-svc replicas (several run under Kubernetes): the replica holding a
//! session advisory lock on its own connection leads and applies changes; the others retry the
//! lock every `retry` and take over within that time once the leader's session ends (process
//! exit, crash, or its connection dropped). The apply lock (read_model::lock_apply) still
//! serializes every write of the read models, so even a leader that lost its session mid-batch
//! can never apply at the same time as its successor.

use std::time::Duration;

use svc_core::config::DatabaseArgs;
use tokio::sync::watch;

use crate::error::RefreshError;

/// Session advisory lock key of the leader: "lma_lead" in ASCII.
pub const LEADER_LOCK_KEY: i64 = 0x6c6d_615f_6c65_6164;

const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Competes for leadership until `shutdown` flips, publishing whether this replica leads.
pub async fn run(
    database: DatabaseArgs,
    replica: String,
    retry: Duration,
    leading: watch::Sender<bool>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut backoff = retry;
    while !*shutdown.borrow() {
        match hold(&database, &replica, retry, &leading, &mut shutdown).await {
            Ok(()) => break,
            Err(error) => {
                if leading.send_replace(false) {
                    tracing::warn!(%error, "lost leadership");
                } else {
                    tracing::warn!(%error, retry_in_ms = backoff.as_millis() as u64, "leadership connection failed");
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = shutdown.changed() => break,
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
    // The session (and with it the lock) ends when the connection is dropped.
    leading.send_replace(false);
}

/// One connection's life: tries the lock every `retry` until it holds it, then checks every
/// `retry` that the session is still alive. `Ok` on shutdown, `Err` when the connection fails.
async fn hold(
    database: &DatabaseArgs,
    replica: &str,
    retry: Duration,
    leading: &watch::Sender<bool>,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<(), RefreshError> {
    let (client, connection) = svc_core::db::connect_single(database, "refresh-svc leader").await?;
    let mut driver = tokio::spawn(connection);
    let outcome = async {
        loop {
            if *leading.borrow() {
                // A dead session is noticed here (or by the driver ending) within `retry`.
                client.simple_query("SELECT 1").await?;
            } else {
                let acquired: bool = client
                    .query_one("SELECT pg_try_advisory_lock($1)", &[&LEADER_LOCK_KEY])
                    .await?
                    .try_get(0)?;
                if acquired {
                    client
                        .execute(
                            "INSERT INTO refresh_leader (replica, backend_pid) \
                             VALUES ($1, pg_backend_pid()) \
                             ON CONFLICT (singleton) DO UPDATE \
                             SET replica = excluded.replica, backend_pid = excluded.backend_pid, \
                                 since = now()",
                            &[&replica],
                        )
                        .await?;
                    tracing::info!(replica, "became the leader");
                    leading.send_replace(true);
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(retry) => {}
                finished = &mut driver => return match finished {
                    Ok(Ok(())) => Err(RefreshError::ConnectionClosed("leadership")),
                    Ok(Err(error)) => Err(error.into()),
                    Err(join_error) => Err(join_error.into()),
                },
                _ = shutdown.changed() => return Ok(()),
            }
        }
    }
    .await;
    driver.abort();
    outcome
}
