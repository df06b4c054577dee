//! A primary and a hot standby streaming from it (PostgreSQL physical replication), for the
//! tests and the benchmark of search-svc on a read replica (docs/OPERATIONS.md, "Pointing
//! search-svc at a read replica").
//!
//! Both are clusters of their own, whatever `DATABASE_URL` says: the tests stop, pause and
//! promote them. The standby is a `pg_basebackup -R` copy of the primary taken as the cluster
//! owner, like the primary itself; databases created on the primary later arrive by
//! replication (`CREATE DATABASE` is WAL-logged). Both go away when the test process exits.

use std::time::Duration;

use anyhow::{Context as _, bail};
use tonic_health::pb::health_check_response::ServingStatus;

use crate::app::{RunningService, Service, Shutdown, start_service, wait_for_health};
use crate::database::TestDatabase;
use crate::postgres::{self, Server};

/// Settings of both servers: a promoted standby becomes a primary, so each runs with what
/// either role needs (the other role's settings are inert). The standby's are the ones
/// docs/OPERATIONS.md asks operators to set.
pub const REPLICATION_SETTINGS: &[(&str, &str)] = &[
    ("wal_level", "replica"),
    ("max_wal_senders", "10"),
    // A standby stopped for a while catches up from the primary's WAL instead of needing a
    // new base backup.
    ("wal_keep_size", "1GB"),
    ("hot_standby", "on"),
    // The standby tells the primary which rows its open snapshots still need, so vacuum on
    // the primary keeps them and replaying its cleanup cancels no long export.
    ("hot_standby_feedback", "on"),
    // Replay waits this long for conflicting queries (the ACCESS EXCLUSIVE lock of a
    // rebuild's table swap) before canceling them with a retryable error.
    ("max_standby_streaming_delay", "30s"),
    // Replay positions and feedback reach the primary every second, so lag shows promptly.
    ("wal_receiver_status_interval", "1s"),
];

/// How long the standby may take to stream, replay or come back.
pub const REPLICATION_TIMEOUT: Duration = Duration::from_secs(60);

/// How often a replication condition is re-checked.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// A primary and its hot standby.
#[derive(Clone, Copy)]
pub struct Replication {
    pub primary: &'static Server,
    pub standby: &'static Server,
}

/// How far the standby is behind the primary, as the primary sees it.
#[derive(Clone, Copy, Debug, Default)]
pub struct ReplayLag {
    /// WAL the primary has written that the standby has not replayed.
    pub bytes: i64,
    /// PostgreSQL's `replay_lag`: the time from a commit on the primary to its replay, as last
    /// reported (zero when the standby is idle and caught up).
    pub seconds: f64,
}

impl Replication {
    /// Starts a primary and a standby of it, and returns once the standby streams.
    pub async fn start() -> anyhow::Result<Replication> {
        Self::start_with(&[]).await
    }

    /// [`Replication::start`] with `standby_settings` overriding [`REPLICATION_SETTINGS`] on
    /// the standby (to provoke what the usual settings prevent).
    pub async fn start_with(standby_settings: &[(&str, &str)]) -> anyhow::Result<Replication> {
        let primary = postgres::dedicated_server_with(REPLICATION_SETTINGS)
            .await
            .context("starting the primary")?;
        let settings: Vec<(&str, &str)> = REPLICATION_SETTINGS
            .iter()
            .chain(standby_settings)
            .copied()
            .collect();
        let standby = postgres::standby_of(primary, &settings)
            .await
            .context("starting the standby")?;
        let replication = Replication { primary, standby };
        replication.wait_until_streaming().await?;
        Ok(replication)
    }

    /// A migrated database on the primary, returned once the standby has replayed it: the
    /// database as the primary sees it, and as the standby does.
    pub async fn create_database(&self) -> anyhow::Result<(TestDatabase, TestDatabase)> {
        let primary = TestDatabase::create_migrated_on(self.primary).await;
        self.wait_until_replayed().await?;
        let standby = primary.replicated_on(self.standby);
        Ok((primary, standby))
    }

    /// Waits until the primary reports a standby streaming and the standby is in recovery.
    pub async fn wait_until_streaming(&self) -> anyhow::Result<()> {
        until("the standby to stream from the primary", || async {
            let primary = self.primary.connect_admin().await?;
            let streaming: i64 = primary
                .query_one(
                    "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'",
                    &[],
                )
                .await?
                .try_get(0)?;
            let standby = self.standby.connect_admin().await?;
            let recovering: bool = standby
                .query_one("SELECT pg_is_in_recovery()", &[])
                .await?
                .try_get(0)?;
            Ok((streaming > 0 && recovering).then_some(()))
        })
        .await
    }

    /// Waits until the standby has replayed everything the primary had written when called.
    pub async fn wait_until_replayed(&self) -> anyhow::Result<()> {
        let target: String = self
            .primary
            .connect_admin()
            .await?
            .query_one("SELECT pg_current_wal_lsn()::text", &[])
            .await?
            .try_get(0)?;
        until(&format!("the standby to replay up to {target}"), || async {
            let standby = self.standby.connect_admin().await?;
            let replayed: Option<bool> = standby
                .query_one(
                    "SELECT pg_last_wal_replay_lsn() >= $1::text::pg_lsn",
                    &[&target],
                )
                .await?
                .try_get(0)?;
            Ok(replayed.unwrap_or(false).then_some(()))
        })
        .await
    }

    /// Pauses WAL replay on the standby (lag on demand): it keeps receiving WAL but applies
    /// none. Returns once replay has actually stopped.
    pub async fn pause_replay(&self) -> anyhow::Result<()> {
        let standby = self.standby.connect_admin().await?;
        standby.simple_query("SELECT pg_wal_replay_pause()").await?;
        until("WAL replay to pause", || async {
            let state: String = standby
                .query_one("SELECT pg_get_wal_replay_pause_state()", &[])
                .await?
                .try_get(0)?;
            Ok((state == "paused").then_some(()))
        })
        .await
    }

    /// Resumes WAL replay on the standby.
    pub async fn resume_replay(&self) -> anyhow::Result<()> {
        self.standby
            .connect_admin()
            .await?
            .simple_query("SELECT pg_wal_replay_resume()")
            .await?;
        Ok(())
    }

    /// Stops the standby (fast shutdown: its sessions are terminated).
    pub async fn stop_standby(&self) -> anyhow::Result<()> {
        self.standby.stop().await.context("stopping the standby")
    }

    /// Starts the standby again and waits until it streams.
    pub async fn start_standby(&self) -> anyhow::Result<()> {
        self.standby.start().await.context("starting the standby")?;
        self.wait_until_streaming().await
    }

    /// Promotes the standby to a primary (failover) and waits until it accepts writes.
    pub async fn promote(&self) -> anyhow::Result<()> {
        let promoted: bool = self
            .standby
            .connect_admin()
            .await?
            .query_one("SELECT pg_promote(true, 60)", &[])
            .await?
            .try_get(0)?;
        if !promoted {
            bail!("pg_promote did not finish within 60 s");
        }
        Ok(())
    }

    /// The standby's lag behind the primary; `None` while no standby streams.
    pub async fn replay_lag(&self) -> anyhow::Result<Option<ReplayLag>> {
        let row = self
            .primary
            .connect_admin()
            .await?
            .query_opt(
                "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint, \
                        coalesce(extract(epoch FROM replay_lag), 0)::float8 \
                   FROM pg_stat_replication WHERE state = 'streaming' LIMIT 1",
                &[],
            )
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        Ok(Some(ReplayLag {
            bytes: row.try_get::<_, Option<i64>>(0)?.unwrap_or_default(),
            seconds: row.try_get(1)?,
        }))
    }

    /// Starts search-svc against the standby's copy of `database` (as the harness starts every
    /// service: with the `lma_search` role) and waits until it reports SERVING.
    pub async fn start_search(
        &self,
        database: &TestDatabase,
        shutdown: &Shutdown,
        extra_args: &[&str],
    ) -> RunningService {
        let url = self.standby.conninfo(database.name());
        let running = start_service(Service::Search, &url, shutdown, extra_args).await;
        wait_for_health(&running, ServingStatus::Serving).await;
        running
    }
}

/// Polls `probe` until it yields `Some`, within [`REPLICATION_TIMEOUT`]; an error counts as a
/// "not yet" (the server may be restarting) and is reported if the time runs out.
async fn until<T, F, Fut>(what: &str, mut probe: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Option<T>>>,
{
    let deadline = tokio::time::Instant::now() + REPLICATION_TIMEOUT;
    loop {
        let last = match probe().await {
            Ok(Some(value)) => return Ok(value),
            Ok(None) => "not yet".to_owned(),
            Err(error) => format!("{error:#}"),
        };
        if tokio::time::Instant::now() >= deadline {
            bail!("timed out after {REPLICATION_TIMEOUT:?} waiting for {what}; last: {last}");
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}
