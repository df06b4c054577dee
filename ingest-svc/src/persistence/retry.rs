//! The one retry policy of the store: a transaction that met a concurrent writer is run again
//! after a short pause, a bounded number of times. Which failures are worth another attempt
//! is the caller's to say (single-row writes retry conflicts; batches also retry rows a
//! concurrent writer inserted or companies it deleted meanwhile).

use std::future::Future;
use std::time::Duration;

use svc_core::DbError;

/// Attempts of one transaction, the first included.
const MAX_ATTEMPTS: u32 = 5;

/// Counts the attempts of one transaction and paces them.
pub struct Retry {
    what: &'static str,
    attempt: u32,
}

impl Retry {
    pub fn new(what: &'static str) -> Self {
        Self { what, attempt: 1 }
    }

    /// After an attempt that conflicted (`why`): false when the attempts are used up;
    /// otherwise waits before the next one and returns true.
    pub async fn again(&mut self, why: &(dyn std::fmt::Display + Sync)) -> bool {
        if self.attempt >= MAX_ATTEMPTS {
            return false;
        }
        tracing::info!(attempt = self.attempt, %why, "{} conflicted; retrying", self.what);
        self.attempt += 1;
        tokio::time::sleep(backoff(self.attempt)).await;
        true
    }

    pub fn attempts(&self) -> u32 {
        self.attempt
    }
}

/// Runs a single-row write until it succeeds, fails for good, or conflicts (a deadlock, a
/// serialization failure, a connection lost before anything was sent) on every attempt.
pub async fn on_conflict<T, F, Fut>(what: &'static str, mut attempt: F) -> Result<T, DbError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, DbError>>,
{
    let mut retry = Retry::new(what);
    loop {
        match attempt().await {
            Err(error) if error.is_retryable() && retry.again(&error).await => {}
            result => return result,
        }
    }
}

/// Pause before attempt `attempt`: short, growing, and different per attempt so that two
/// conflicting writers do not collide again in lock step.
fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(10 * u64::from(attempt.pow(2)))
}
