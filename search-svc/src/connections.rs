//! The search pool, shared fairly between API keys (fairness: docs/ARCHITECTURE.md, "Rules every
//! service follows"): one key holds at most its share of the pool's connections at once, so
//! however many slow searches or long exports one tenant runs, the rest of the pool stays for
//! the others. A call over its key's share waits (as long as it would for the pool) for one of
//! the key's own connections to come back, then is refused with `RESOURCE_EXHAUSTED`.

use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::ClientWrapper;
use svc_core::db::PooledClient;
use svc_core::fairness::{KeyPermit, PerKeyLimit};
use svc_core::{DbError, Pool};

use crate::error::SearchError;

/// A key's share of a pool of `pool_size` when none is configured: three quarters, so a
/// quarter always stays for the other keys.
pub fn default_share(pool_size: usize) -> usize {
    (pool_size * 3 / 4).max(1)
}

#[derive(Clone)]
pub struct Connections {
    pool: Pool,
    share: Arc<PerKeyLimit>,
    wait: Duration,
}

/// A pooled connection counted against its key's share until dropped.
pub struct Connection {
    client: PooledClient,
    _share: KeyPermit,
}

impl Deref for Connection {
    type Target = ClientWrapper;

    fn deref(&self) -> &ClientWrapper {
        &self.client
    }
}

impl std::ops::DerefMut for Connection {
    fn deref_mut(&mut self) -> &mut ClientWrapper {
        &mut self.client
    }
}

impl Connections {
    /// `share` connections per key; `wait` is how long a call waits for its key's share (the
    /// pool's own wait timeout).
    pub fn new(pool: Pool, share: usize, wait: Duration) -> Self {
        Self {
            pool,
            share: Arc::new(PerKeyLimit::new(share)),
            wait,
        }
    }

    /// A connection for a call of `api_key_id`.
    pub async fn get(&self, api_key_id: i64) -> Result<Connection, SearchError> {
        let share = self
            .share
            .acquire_within(api_key_id, self.wait)
            .await
            .ok_or(SearchError::PoolShareInUse {
                share: self.share.limit(),
            })?;
        let client = self.pool.get().await.map_err(DbError::from)?;
        Ok(Connection {
            client,
            _share: share,
        })
    }
}
