//! search-svc configuration: flags that also read `LMA_*` environment variables.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use svc_core::CommonArgs;

use crate::page_token::{InvalidKey, PageTokenKeys};
use crate::watermark::WaitSettings;

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

    /// Searches with min_token one API key may have waiting at once; more are refused with
    /// RESOURCE_EXHAUSTED. A waiting search holds no database connection, only a call slot.
    #[arg(
        long = "min-token-waits-per-key",
        env = "LMA_MIN_TOKEN_WAITS_PER_KEY",
        default_value_t = 64,
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    pub min_token_waits_per_key: u32,

    /// Searches with min_token the whole process may have waiting at once.
    #[arg(
        long = "min-token-waits",
        env = "LMA_MIN_TOKEN_WAITS",
        default_value_t = 1024,
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    pub min_token_waits: u32,

    /// How often, in milliseconds, the process's one watermark watcher reads the watermarks
    /// while any search waits for min_token (it reads nothing while none does).
    #[arg(
        long = "min-token-poll-ms",
        env = "LMA_MIN_TOKEN_POLL_MS",
        default_value_t = 5,
        value_parser = clap::value_parser!(u64).range(1..=1000)
    )]
    pub min_token_poll_ms: u64,

    /// Database connections one API key may hold at once; its further calls wait for one of
    /// its own, then get RESOURCE_EXHAUSTED. Default: three quarters of --database-pool-size.
    #[arg(
        long = "database-pool-share-per-key",
        env = "LMA_DATABASE_POOL_SHARE_PER_KEY",
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    pub pool_share_per_key: Option<u32>,

    /// Key that seals page tokens: 64 hexadecimal digits (`openssl rand -hex 32`), the same on
    /// every replica (a Kubernetes Secret). Unset: a random key of this process, so tokens do
    /// not survive a restart nor work across replicas.
    #[arg(
        long = "page-token-key",
        env = "LMA_PAGE_TOKEN_KEY",
        hide_env_values = true
    )]
    pub page_token_key: Option<Secret>,

    /// Previous page-token keys, comma-separated, still accepted for tokens sealed before a
    /// rotation (new tokens are sealed with --page-token-key only).
    #[arg(
        long = "page-token-previous-keys",
        env = "LMA_PAGE_TOKEN_PREVIOUS_KEYS",
        hide_env_values = true,
        value_delimiter = ','
    )]
    pub page_token_previous_keys: Vec<Secret>,
}

/// A configured secret: its value never shows in `Debug` output (configuration logs).
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<secret>")
    }
}

impl FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Ok(Secret(value.to_owned()))
    }
}

impl Config {
    pub fn min_token_max_wait(&self) -> Duration {
        Duration::from_millis(self.min_token_max_wait_ms)
    }

    pub fn wait_settings(&self) -> WaitSettings {
        WaitSettings {
            per_key: self.min_token_waits_per_key as usize,
            total: self.min_token_waits as usize,
            poll_interval: Duration::from_millis(self.min_token_poll_ms),
        }
    }

    /// The connections one key may hold.
    pub fn pool_share_per_key(&self) -> usize {
        self.pool_share_per_key.map_or_else(
            || crate::connections::default_share(self.common.database.pool_size),
            |share| share as usize,
        )
    }

    /// The page-token keys; `None` when no key is configured.
    pub fn page_token_keys(&self) -> Result<Option<PageTokenKeys>, InvalidKey> {
        let Some(current) = &self.page_token_key else {
            return Ok(None);
        };
        let previous: Vec<String> = self
            .page_token_previous_keys
            .iter()
            .map(|key| key.expose().to_owned())
            .collect();
        PageTokenKeys::from_hex(current.expose(), &previous).map(Some)
    }
}
