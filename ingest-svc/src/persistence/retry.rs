//! The one retry policy of the store: a transaction that met a concurrent writer is run again
//! after a short pause, a bounded number of times. Which failures are worth another attempt
//! is the caller's to say (single-row writes retry conflicts; batches also retry rows a
//! concurrent writer inserted or companies it deleted meanwhile).

use std::time::Duration;

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

/// Pause before attempt `attempt`: short, growing, and different per attempt so that two
/// conflicting writers do not collide again in lock step.
fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(10 * u64::from(attempt.pow(2)))
}
