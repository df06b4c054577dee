//! refresh-svc configuration: flags that also read `LMA_*` environment variables.

use std::time::Duration;

use svc_core::CommonArgs;

#[derive(clap::Parser, Clone, Debug)]
#[command(
    name = "refresh-svc",
    version,
    about = "Keeps the read models fresh from the change log"
)]
pub struct Config {
    #[command(flatten)]
    pub common: CommonArgs,

    /// Fallback drain of the change log when no notification arrived, in milliseconds.
    /// Notifications are lost while the listener reconnects; this bounds how long that matters.
    #[arg(long, env = "LMA_DRAIN_INTERVAL_MS", default_value_t = 1000)]
    pub drain_interval_ms: u64,

    /// How often the leader looks for pending changes between notifications, in milliseconds.
    /// Writers notify only the first change after each drain; a change that skipped its
    /// notification while a drain was finishing waits at most this long.
    #[arg(long, env = "LMA_CHANGE_PROBE_MS", default_value_t = 100,
          value_parser = clap::value_parser!(u64).range(5..=60_000))]
    pub change_probe_ms: u64,

    /// Change-log rows claimed per apply transaction; a larger backlog is worked in several.
    #[arg(long, env = "LMA_APPLY_BATCH_SIZE", default_value_t = 5000,
          value_parser = clap::value_parser!(i64).range(1..=1_000_000))]
    pub apply_batch_size: i64,

    /// A company with more prospects than this is re-derived in chunks between the applies
    /// instead of inside the apply that claimed its change (docs/REFRESH.md, "Large companies").
    #[arg(long, env = "LMA_LARGE_COMPANY_PROSPECTS", default_value_t = 2000,
          value_parser = clap::value_parser!(i64).range(1..=10_000_000))]
    pub large_company_prospects: i64,

    /// Most prospect rows one chunk of a large company re-derives; chunks are cut smaller when
    /// rows are slow, to take about 50 ms each.
    #[arg(long, env = "LMA_REDERIVE_CHUNK_ROWS", default_value_t = 2000,
          value_parser = clap::value_parser!(i64).range(1..=1_000_000))]
    pub rederive_chunk_rows: i64,

    /// Seconds between scheduled reconciles of every read model against its definition
    /// (0 turns the schedule off; RefreshNow can still reconcile).
    #[arg(long, env = "LMA_RECONCILE_INTERVAL_SECS", default_value_t = 900)]
    pub reconcile_interval_secs: u64,

    /// How often the leader merges the pending lists of the read models' GIN indexes into the
    /// indexes, in milliseconds (0 turns it off). Left to the writes, the one that finds a list
    /// full merges all of it inside its own apply, which then takes seconds.
    #[arg(long, env = "LMA_GIN_MERGE_INTERVAL_MS", default_value_t = 1000)]
    pub gin_merge_interval_ms: u64,

    /// How often a standby replica tries to become the leader, and the leader checks its
    /// session, in milliseconds: the takeover time after a leader dies.
    #[arg(long, env = "LMA_LEADER_RETRY_MS", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(10..=60_000))]
    pub leader_retry_ms: u64,

    /// statement_timeout of full rebuilds and reconciles, which read whole tables, in seconds.
    #[arg(long, env = "LMA_REBUILD_TIMEOUT_SECS", default_value_t = 1800,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub rebuild_timeout_secs: u64,

    /// Name of this replica in status, logs and the refresh log; defaults to
    /// `$HOSTNAME/<process id>` (the pod name under Kubernetes).
    #[arg(long, env = "LMA_REPLICA_NAME")]
    pub replica_name: Option<String>,
}

impl Config {
    pub fn drain_interval(&self) -> Duration {
        Duration::from_millis(self.drain_interval_ms.max(10))
    }

    pub fn change_probe(&self) -> Duration {
        Duration::from_millis(self.change_probe_ms)
    }

    /// `None` when scheduled reconciles are off.
    pub fn reconcile_interval(&self) -> Option<Duration> {
        (self.reconcile_interval_secs > 0)
            .then(|| Duration::from_secs(self.reconcile_interval_secs))
    }

    /// `None` when merging GIN pending lists is left to the writes.
    pub fn gin_merge_interval(&self) -> Option<Duration> {
        (self.gin_merge_interval_ms > 0).then(|| Duration::from_millis(self.gin_merge_interval_ms))
    }

    pub fn leader_retry(&self) -> Duration {
        Duration::from_millis(self.leader_retry_ms)
    }

    pub fn replica(&self) -> String {
        self.replica_name.clone().unwrap_or_else(|| {
            let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "refresh-svc".to_owned());
            format!("{host}/{}", std::process::id())
        })
    }
}
