//! Key lookup with a short-lived cache, so a busy client does not cost a database round trip
//! per call. Revocations therefore take effect within one TTL.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use super::{Caller, Scope, hash_key};
use crate::db::{DbError, Pool};

/// Upper bound on cached lookups: a client spraying random keys cannot grow memory past this.
const MAX_CACHE_ENTRIES: usize = 10_000;

/// A `SECURITY DEFINER` function, so even the search role (which may read nothing but the
/// read models) can authenticate callers.
const LOOKUP_SQL: &str =
    "SELECT organization_id, api_key_id, scopes FROM authenticate_api_key($1::bytea)";

/// Resolves API keys to callers, caching positive and negative answers for a TTL.
pub struct Authenticator {
    pool: Pool,
    cache: Option<Mutex<Cache>>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("cache_enabled", &self.cache.is_some())
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    /// A zero `cache_ttl` disables caching: every call is looked up.
    pub fn new(pool: Pool, cache_ttl: Duration) -> Self {
        let cache =
            (!cache_ttl.is_zero()).then(|| Mutex::new(Cache::new(cache_ttl, MAX_CACHE_ENTRIES)));
        Self { pool, cache }
    }

    /// The caller `key` belongs to, or `None` if the key is unknown or revoked.
    pub async fn authenticate(&self, key: &str) -> Result<Option<Caller>, DbError> {
        let hash = hash_key(key);
        if let Some(cached) = self
            .with_cache(|cache| cache.get(&hash, Instant::now()))
            .flatten()
        {
            return Ok(cached);
        }
        let caller = self.lookup(&hash).await?;
        self.with_cache(|cache| cache.insert(hash, caller.clone(), Instant::now()));
        Ok(caller)
    }

    /// Forgets every cached answer, e.g. after revoking keys in-process.
    pub fn clear_cache(&self) {
        self.with_cache(Cache::clear);
    }

    fn with_cache<R>(&self, f: impl FnOnce(&mut Cache) -> R) -> Option<R> {
        let cache = self.cache.as_ref()?;
        // A panic while holding the lock cannot leave the map inconsistent in a way that
        // matters (worst case a stale entry), so keep using it.
        let mut guard = cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Some(f(&mut guard))
    }

    async fn lookup(&self, hash: &[u8; 32]) -> Result<Option<Caller>, DbError> {
        let client = self.pool.get().await?;
        let statement = client.prepare_cached(LOOKUP_SQL).await?;
        let Some(row) = client.query_opt(&statement, &[&&hash[..]]).await? else {
            return Ok(None);
        };
        let scope_names: Vec<String> = row.try_get("scopes")?;
        Ok(Some(Caller {
            organization_id: row.try_get("organization_id")?,
            api_key_id: row.try_get("api_key_id")?,
            // Unknown names (a scope added by a newer release) grant nothing here.
            scopes: scope_names
                .iter()
                .filter_map(|name| Scope::from_str(name).ok())
                .collect(),
        }))
    }
}

struct CacheEntry {
    caller: Option<Caller>,
    inserted: Instant,
}

/// Bounded TTL map from key hash to lookup result.
struct Cache {
    ttl: Duration,
    capacity: usize,
    entries: HashMap<[u8; 32], CacheEntry>,
}

impl Cache {
    fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            ttl,
            capacity,
            entries: HashMap::new(),
        }
    }

    /// `Some(answer)` for a fresh entry; `None` when the key must be looked up.
    fn get(&mut self, hash: &[u8; 32], now: Instant) -> Option<Option<Caller>> {
        let entry = self.entries.get(hash)?;
        if now.duration_since(entry.inserted) < self.ttl {
            Some(entry.caller.clone())
        } else {
            self.entries.remove(hash);
            None
        }
    }

    fn insert(&mut self, hash: [u8; 32], caller: Option<Caller>, now: Instant) {
        if self.entries.len() >= self.capacity && !self.entries.contains_key(&hash) {
            let ttl = self.ttl;
            self.entries
                .retain(|_, entry| now.duration_since(entry.inserted) < ttl);
            // Still full of fresh entries: drop the oldest. A linear scan, but only when the
            // cache is at capacity, which normal traffic (a few keys) never reaches.
            if self.entries.len() >= self.capacity
                && let Some(oldest) = self
                    .entries
                    .iter()
                    .min_by_key(|(_, entry)| entry.inserted)
                    .map(|(hash, _)| *hash)
            {
                self.entries.remove(&oldest);
            }
        }
        self.entries.insert(
            hash,
            CacheEntry {
                caller,
                inserted: now,
            },
        );
    }

    fn clear(&mut self) {
        self.entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(id: i64) -> Caller {
        Caller {
            organization_id: id,
            api_key_id: id,
            scopes: vec![Scope::SearchRead],
        }
    }

    #[test]
    fn entries_expire_after_the_ttl() {
        let start = Instant::now();
        let mut cache = Cache::new(Duration::from_secs(10), 100);
        let key = hash_key("a");
        assert_eq!(cache.get(&key, start), None);
        cache.insert(key, Some(caller(1)), start);
        assert_eq!(
            cache.get(&key, start + Duration::from_secs(9)),
            Some(Some(caller(1)))
        );
        assert_eq!(cache.get(&key, start + Duration::from_secs(10)), None);
        assert!(
            cache.entries.is_empty(),
            "expired entries are removed on access"
        );
    }

    #[test]
    fn negative_answers_are_cached() {
        let start = Instant::now();
        let mut cache = Cache::new(Duration::from_secs(10), 100);
        let key = hash_key("unknown");
        cache.insert(key, None, start);
        assert_eq!(cache.get(&key, start), Some(None));
    }

    #[test]
    fn size_is_bounded_evicting_expired_then_oldest() {
        let start = Instant::now();
        let mut cache = Cache::new(Duration::from_secs(10), 3);
        cache.insert(hash_key("old"), None, start);
        cache.insert(
            hash_key("a"),
            Some(caller(1)),
            start + Duration::from_secs(5),
        );
        cache.insert(
            hash_key("b"),
            Some(caller(2)),
            start + Duration::from_secs(6),
        );
        // "old" has expired by now and goes first.
        let now = start + Duration::from_secs(11);
        cache.insert(hash_key("c"), Some(caller(3)), now);
        assert_eq!(cache.entries.len(), 3);
        assert_eq!(cache.get(&hash_key("old"), now), None);
        // Everything fresh: the oldest ("a") is evicted.
        cache.insert(hash_key("d"), Some(caller(4)), now);
        assert_eq!(cache.entries.len(), 3);
        assert_eq!(cache.get(&hash_key("a"), now), None);
        assert_eq!(cache.get(&hash_key("b"), now), Some(Some(caller(2))));
        assert_eq!(cache.get(&hash_key("d"), now), Some(Some(caller(4))));
    }

    #[test]
    fn replacing_an_entry_does_not_evict() {
        let start = Instant::now();
        let mut cache = Cache::new(Duration::from_secs(10), 1);
        cache.insert(hash_key("a"), None, start);
        cache.insert(hash_key("a"), Some(caller(1)), start);
        assert_eq!(cache.get(&hash_key("a"), start), Some(Some(caller(1))));
    }
}
