//! Bounded polling: tests wait for a condition with a deadline, never for a fixed sleep.

use std::future::Future;
use std::time::Duration;

/// How often a condition is re-checked.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Calls `probe` until it returns `Ok`, and returns that value; panics after `timeout` with
/// `what` and the last reason the probe gave.
pub async fn until<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let last = match probe().await {
            Ok(value) => return value,
            Err(reason) => reason,
        };
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}; last observation: {last}");
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}
