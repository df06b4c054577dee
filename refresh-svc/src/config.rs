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

    /// Change-log rows claimed per apply transaction; a larger backlog is worked in several.
    #[arg(long, env = "LMA_APPLY_BATCH_SIZE", default_value_t = 5000,
          value_parser = clap::value_parser!(i64).range(1..=1_000_000))]
    pub apply_batch_size: i64,
}

impl Config {
    pub fn drain_interval(&self) -> Duration {
        Duration::from_millis(self.drain_interval_ms.max(10))
    }
}
