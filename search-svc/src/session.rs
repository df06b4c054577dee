//! Statements are prepared once per pooled connection (deadpool's statement cache), so a short
//! search costs one round trip instead of two (parse, then execute).
//!
//! A cached statement would let PostgreSQL switch to a generic plan after five executions, and
//! a generic plan cannot see the values a search binds (the organization, the filter lists):
//! it would pick one plan for a 50-row tenant and a million-row one, for `Finance` and for
//! every department at once. Each connection therefore plans every execution with its values
//! (`plan_cache_mode = force_custom_plan`): the cache saves the parse and the round trip, not
//! the planning. The setting is made before the connection's first statement is cached; the
//! statement cache and the session setting live and die with the same connection.

use deadpool_postgres::ClientWrapper;
use tokio_postgres::Statement;

use crate::error::SearchError;

const SESSION_SETUP: &str = "SET plan_cache_mode = force_custom_plan";

/// `sql` prepared on `client`, from its cache after the first time.
pub async fn prepare(client: &ClientWrapper, sql: &str) -> Result<Statement, SearchError> {
    if client.statement_cache.size() == 0 {
        client.batch_execute(SESSION_SETUP).await?;
    }
    Ok(client.prepare_cached(sql).await?)
}
