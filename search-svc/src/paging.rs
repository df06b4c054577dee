//! Streams one page of a search: rows are read from PostgreSQL as they arrive and handed to
//! the response (see `stream`). The page ends with a `PageEnd` carrying the next page token and
//! the read model's freshness.

use deadpool_postgres::ClientWrapper;
use futures_util::StreamExt;
use lma_proto::v1::{Freshness, PageEnd};
use svc_core::db::{DbOperation, traced};
use tokio_postgres::{Row, Statement};

use crate::error::SearchError;
use crate::freshness::{ReadModel, read_cached};
use crate::page_token::{OrganizationTokens, TextMode};
use crate::query::Order;
use crate::rows;
use crate::sql::SqlQuery;
use crate::stream::Outbox;

/// How to turn rows of one read model into the messages of one RPC.
pub struct PageShape<M> {
    /// The read model the page comes from, whose freshness the page reports.
    pub read_model: ReadModel,
    /// The caller's organization, whose freshness the page reports.
    pub organization_id: i64,
    pub id_column: &'static str,
    pub order: Order,
    pub page_size: u32,
    pub fingerprint: [u8; 8],
    /// Seals the next page's token for the caller's organization.
    pub tokens: OrganizationTokens,
    pub message: fn(&Row) -> Result<M, SearchError>,
    pub end: fn(PageEnd) -> M,
}

/// Search statements kept prepared per connection. Searches repeat a bounded set of shapes (one
/// per combination of filters and order), so a prepared statement saves a round trip and the
/// parse of every repeat; the bound only guards against a client cycling through combinations.
/// Every execution still gets a plan for its own values (svc-core sets
/// `plan_cache_mode=force_custom_plan`): selectivity depends on them.
const MAX_PREPARED_STATEMENTS: usize = 256;

async fn prepared(client: &ClientWrapper, sql: &str) -> Result<Statement, SearchError> {
    if client.statement_cache.size() >= MAX_PREPARED_STATEMENTS {
        client.statement_cache.clear();
    }
    Ok(client.prepare_cached(sql).await?)
}

/// Streams the rows of `query` (one page plus one look-ahead row), then the `PageEnd`, and
/// returns how many rows the page has. With `allow_empty == false`, a query that matches
/// nothing sends nothing at all, so the caller can try another (the trigram fallback).
///
/// `freshness` is what the page reports; when it is not known yet (no `min_token` was awaited)
/// it is read in the same round trip as the page: both statements are pipelined on the
/// connection, the freshness read first, and it is kept for a following query.
pub async fn stream_page<M>(
    client: &ClientWrapper,
    query: SqlQuery,
    shape: &PageShape<M>,
    text_mode: TextMode,
    freshness: &mut Option<Freshness>,
    allow_empty: bool,
    outbox: &mut Outbox<M>,
) -> Result<u32, SearchError> {
    let operation = DbOperation::new("SELECT", shape.read_model.name());
    traced(operation, async move {
        let page = async {
            let statement = prepared(client, &query.sql).await?;
            Ok::<_, SearchError>(client.query_raw(&statement, query.param_refs()).await?)
        };
        let rows = if freshness.is_some() {
            page.await?
        } else {
            let read = read_cached(client, shape.read_model, shape.organization_id);
            let ((_, read), rows) = futures_util::future::try_join(read, page).await?;
            *freshness = Some(read);
            rows
        };
        futures_util::pin_mut!(rows);
        let mut returned = 0;
        let mut last = None;
        let mut more = false;
        while let Some(row) = rows.next().await {
            let row = row?;
            if returned == shape.page_size {
                more = true;
                break;
            }
            returned += 1;
            outbox.push((shape.message)(&row)?).await;
            last = Some(row);
        }
        if returned == 0 && !allow_empty {
            return Ok(0);
        }
        let next_page_token = match (more, last) {
            (true, Some(row)) => {
                let cursor = rows::cursor_after(&row, shape.order, shape.id_column, text_mode)?;
                shape.tokens.encode(&cursor, shape.fingerprint)
            }
            _ => String::new(),
        };
        send_end(shape, next_page_token, returned, freshness, outbox).await;
        Ok(returned)
    })
    .await
}

/// Ends a page of `returned` rows: sends its `PageEnd` with everything still queued.
pub async fn send_end<M>(
    shape: &PageShape<M>,
    next_page_token: String,
    returned: u32,
    freshness: &Option<Freshness>,
    outbox: &mut Outbox<M>,
) {
    let end = PageEnd {
        next_page_token,
        returned,
        freshness: freshness.clone(),
    };
    outbox.push((shape.end)(end)).await;
}
