//! search-svc configuration: flags that also read `LMA_*` environment variables.

use std::time::Duration;

use svc_core::CommonArgs;

#[derive(clap::Parser, Clone, Debug)]
#[command(
    name = "search-svc",
    version,
    about = "Answers searches from the read models"
)]
pub struct Config {
    #[command(flatten)]
    pub common: CommonArgs,

    /// Longest a search with min_token waits for the read model to catch up, in milliseconds;
    /// also the wait when the client sets no deadline (a shorter client deadline wins).
    #[arg(
        long = "min-token-max-wait-ms",
        env = "LMA_MIN_TOKEN_MAX_WAIT_MS",
        default_value_t = 30_000
    )]
    pub min_token_max_wait_ms: u64,
}

impl Config {
    pub fn min_token_max_wait(&self) -> Duration {
        Duration::from_millis(self.min_token_max_wait_ms)
    }
}
