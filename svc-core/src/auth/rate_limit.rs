//! Request rate limiting per API key: a token bucket per key, so one
//! tenant's runaway client gets `RESOURCE_EXHAUSTED` with a retry delay instead of starving
//! the others. Only authenticated keys get a bucket, so the table is bounded by the number of
//! keys in use.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// How often idle buckets (full again, so equal to a fresh one) are dropped.
const PRUNE_INTERVAL: Duration = Duration::from_secs(60);

/// Token buckets keyed by API key id.
#[derive(Debug)]
pub struct RateLimiter {
    /// Tokens added per second.
    rate: f64,
    /// Bucket size: the most calls allowed at once after idling.
    burst: f64,
    state: Mutex<Buckets>,
}

#[derive(Debug)]
struct Buckets {
    by_key: HashMap<i64, Bucket>,
    last_prune: Instant,
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl RateLimiter {
    /// `None` when `requests_per_second` is 0 (rate limiting off). A `burst` of 0 means one
    /// second's worth of requests.
    pub fn new(requests_per_second: u32, burst: u32) -> Option<Self> {
        if requests_per_second == 0 {
            return None;
        }
        let burst = if burst == 0 {
            requests_per_second
        } else {
            burst
        };
        Some(Self {
            rate: f64::from(requests_per_second),
            burst: f64::from(burst),
            state: Mutex::new(Buckets {
                by_key: HashMap::new(),
                last_prune: Instant::now(),
            }),
        })
    }

    /// Takes one token from the key's bucket, or says how long until one is available.
    pub fn acquire(&self, api_key_id: i64) -> Result<(), Duration> {
        self.acquire_at(api_key_id, Instant::now())
    }

    fn acquire_at(&self, api_key_id: i64, now: Instant) -> Result<(), Duration> {
        // The lock is held for a few arithmetic operations only; a poisoned lock still holds
        // consistent buckets (no code path panics while holding it).
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if now.saturating_duration_since(state.last_prune) >= PRUNE_INTERVAL {
            let (rate, burst) = (self.rate, self.burst);
            state
                .by_key
                .retain(|_, bucket| bucket.refilled(now, rate, burst).tokens < burst);
            state.last_prune = now;
        }
        let bucket = state.by_key.entry(api_key_id).or_insert(Bucket {
            tokens: self.burst,
            updated: now,
        });
        *bucket = bucket.refilled(now, self.rate, self.burst);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / self.rate))
        }
    }

    /// The status a refused call gets: `RESOURCE_EXHAUSTED` with `google.rpc.RetryInfo`.
    pub fn exhausted(&self, retry_after: Duration) -> Status {
        let message = format!(
            "rate limit of {} requests per second for this API key exceeded; retry in {} ms",
            self.rate,
            retry_after.as_millis().max(1)
        );
        Status::with_error_details(
            Code::ResourceExhausted,
            message,
            ErrorDetails::with_retry_info(Some(retry_after)),
        )
    }
}

impl Bucket {
    fn refilled(self, now: Instant, rate: f64, burst: f64) -> Bucket {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        Bucket {
            tokens: (self.tokens + elapsed * rate).min(burst),
            updated: now,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_rate_turns_the_limit_off() {
        assert!(RateLimiter::new(0, 10).is_none());
    }

    #[test]
    fn allows_a_burst_then_refills_at_the_rate() {
        let limiter = RateLimiter::new(10, 3).expect("enabled");
        let start = Instant::now();
        for _ in 0..3 {
            assert_eq!(limiter.acquire_at(1, start), Ok(()));
        }
        let wait = limiter.acquire_at(1, start).expect_err("bucket empty");
        assert!(
            wait > Duration::from_millis(90) && wait <= Duration::from_millis(100),
            "{wait:?}"
        );
        // Another key has its own bucket.
        assert_eq!(limiter.acquire_at(2, start), Ok(()));
        // One token comes back every 100 ms, and no more than the burst accumulates.
        assert_eq!(
            limiter.acquire_at(1, start + Duration::from_millis(100)),
            Ok(())
        );
        assert!(
            limiter
                .acquire_at(1, start + Duration::from_millis(100))
                .is_err()
        );
        let later = start + Duration::from_secs(60);
        for _ in 0..3 {
            assert_eq!(limiter.acquire_at(1, later), Ok(()));
        }
        assert!(limiter.acquire_at(1, later).is_err());
    }

    #[test]
    fn burst_defaults_to_one_second_of_requests() {
        let limiter = RateLimiter::new(5, 0).expect("enabled");
        let now = Instant::now();
        assert_eq!(
            (0..10)
                .filter(|_| limiter.acquire_at(7, now).is_ok())
                .count(),
            5
        );
    }

    #[test]
    fn idle_buckets_are_pruned() {
        let limiter = RateLimiter::new(100, 10).expect("enabled");
        let start = Instant::now();
        assert_eq!(limiter.acquire_at(1, start), Ok(()));
        assert_eq!(limiter.acquire_at(2, start), Ok(()));
        // Long after, key 1 calls again: key 2's bucket is full, so it is forgotten.
        assert_eq!(limiter.acquire_at(1, start + PRUNE_INTERVAL), Ok(()));
        let state = limiter.state.lock().expect("not poisoned");
        assert_eq!(state.by_key.keys().copied().collect::<Vec<_>>(), [1]);
    }

    #[test]
    fn exhausted_carries_retry_info() {
        let limiter = RateLimiter::new(2, 0).expect("enabled");
        let status = limiter.exhausted(Duration::from_millis(250));
        assert_eq!(status.code(), Code::ResourceExhausted);
        assert!(
            status.message().contains("retry in 250 ms"),
            "{}",
            status.message()
        );
        let retry = status.get_details_retry_info().expect("RetryInfo attached");
        assert_eq!(retry.retry_delay, Some(Duration::from_millis(250)));
    }
}
