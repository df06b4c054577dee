//! Per-key shares of a bounded resource: nothing one API key
//! does may exhaust what other tenants need. A [`PerKeyLimit`] caps how many units of something
//! (calls in flight, pooled connections, `min_token` waits) one key holds at once; the process
//! keeps its own overall bound beside it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// At most `limit` units per API key at once.
#[derive(Debug)]
pub struct PerKeyLimit {
    limit: usize,
    /// One semaphore per key holding units now; a key's entry goes when its last unit does, so
    /// the map is bounded by the keys in use, not by every key ever seen.
    by_key: Arc<Mutex<HashMap<i64, Arc<Semaphore>>>>,
}

/// One unit of a key's share, given back on drop.
#[derive(Debug)]
pub struct KeyPermit {
    permit: Option<OwnedSemaphorePermit>,
    api_key_id: i64,
    by_key: Arc<Mutex<HashMap<i64, Arc<Semaphore>>>>,
}

impl PerKeyLimit {
    /// `limit` is at least 1.
    pub fn new(limit: usize) -> Self {
        Self {
            limit: limit.clamp(1, Semaphore::MAX_PERMITS),
            by_key: Arc::default(),
        }
    }

    /// The most units one key may hold.
    pub fn limit(&self) -> usize {
        self.limit
    }

    fn semaphore(&self, api_key_id: i64) -> Arc<Semaphore> {
        let mut by_key = self.by_key.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(
            by_key
                .entry(api_key_id)
                .or_insert_with(|| Arc::new(Semaphore::new(self.limit))),
        )
    }

    fn permit(&self, api_key_id: i64, permit: OwnedSemaphorePermit) -> KeyPermit {
        KeyPermit {
            permit: Some(permit),
            api_key_id,
            by_key: Arc::clone(&self.by_key),
        }
    }

    /// A unit of `api_key_id`'s share, or `None` when the key holds all of it.
    pub fn try_acquire(&self, api_key_id: i64) -> Option<KeyPermit> {
        // The permit holds the semaphore; a refusal drops the last other handle to it.
        let acquired = self.semaphore(api_key_id).try_acquire_owned().ok();
        match acquired {
            Some(permit) => Some(self.permit(api_key_id, permit)),
            None => {
                forget_if_idle(&self.by_key, api_key_id);
                None
            }
        }
    }

    /// A unit of `api_key_id`'s share, waiting at most `wait` for one of the key's own units to
    /// come back; `None` if none did.
    pub async fn acquire_within(&self, api_key_id: i64, wait: Duration) -> Option<KeyPermit> {
        let semaphore = self.semaphore(api_key_id);
        let acquired = tokio::time::timeout(wait, semaphore.acquire_owned())
            .await
            .ok()
            .and_then(Result::ok);
        match acquired {
            Some(permit) => Some(self.permit(api_key_id, permit)),
            None => {
                forget_if_idle(&self.by_key, api_key_id);
                None
            }
        }
    }

    /// Units `api_key_id` holds now.
    pub fn held(&self, api_key_id: i64) -> usize {
        let by_key = self.by_key.lock().unwrap_or_else(PoisonError::into_inner);
        by_key
            .get(&api_key_id)
            .map_or(0, |semaphore| self.limit - semaphore.available_permits())
    }

    /// Keys with an entry (holding units, or waiting for one).
    pub fn keys_tracked(&self) -> usize {
        self.by_key
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

impl Drop for KeyPermit {
    fn drop(&mut self) {
        drop(self.permit.take());
        forget_if_idle(&self.by_key, self.api_key_id);
    }
}

/// Drops a key's entry when nobody holds or waits for its semaphore (only the map refers to it).
fn forget_if_idle(by_key: &Mutex<HashMap<i64, Arc<Semaphore>>>, api_key_id: i64) {
    let mut by_key = by_key.lock().unwrap_or_else(PoisonError::into_inner);
    if by_key
        .get(&api_key_id)
        .is_some_and(|semaphore| Arc::strong_count(semaphore) == 1)
    {
        by_key.remove(&api_key_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_key_has_its_own_share() {
        let limit = PerKeyLimit::new(2);
        let a1 = limit.try_acquire(1).expect("first unit");
        let a2 = limit.try_acquire(1).expect("second unit");
        assert!(limit.try_acquire(1).is_none(), "key 1 holds its share");
        let b1 = limit.try_acquire(2).expect("key 2 is not affected");
        assert_eq!((limit.held(1), limit.held(2)), (2, 1));
        drop(a1);
        assert!(limit.try_acquire(1).is_some(), "a unit came back");
        drop((a2, b1));
        assert_eq!(limit.keys_tracked(), 0, "idle keys are forgotten");
    }

    #[tokio::test]
    async fn a_waiter_gets_its_own_keys_returned_unit() {
        let limit = Arc::new(PerKeyLimit::new(1));
        let held = limit.try_acquire(7).expect("the only unit");
        assert!(
            limit
                .acquire_within(7, Duration::from_millis(20))
                .await
                .is_none(),
            "nothing came back in time"
        );
        let waiter = {
            let limit = Arc::clone(&limit);
            tokio::spawn(async move {
                limit
                    .acquire_within(7, Duration::from_secs(10))
                    .await
                    .is_some()
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(held);
        assert!(
            waiter.await.expect("task"),
            "the returned unit went to the waiter"
        );
        assert_eq!(limit.keys_tracked(), 0);
    }
}
