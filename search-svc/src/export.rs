//! `ExportProspects`: every match of a filter from one consistent snapshot. The rows come from
//! a portal (a server-side cursor) of a read-only REPEATABLE READ transaction, fetched in
//! batches of [`BATCH_ROWS`] as the client takes them: memory stays flat however many rows
//! match, a slow client slows the export rather than filling the server's memory, and a client
//! that goes away ends the transaction. Each fetch is its own statement, so
//! `statement_timeout` bounds a fetch, not the whole export.

use futures_util::StreamExt;
use lma_proto::v1::export_prospects_response::Result as ExportResult;
use lma_proto::v1::{ExportEnd, ExportProspectsResponse};
use tokio_postgres::IsolationLevel;

use crate::connections::Connections;
use crate::error::SearchError;
use crate::filter::ProspectConditions;
use crate::freshness::{self, ReadModel};
use crate::stream::Outbox;
use crate::watermark::Wait;
use crate::{query, rows};

/// Rows fetched from the portal at a time.
pub const BATCH_ROWS: i32 = 500;

pub struct Export {
    pub organization_id: i64,
    pub api_key_id: i64,
    pub conditions: ProspectConditions,
    pub wait: Wait,
}

/// Streams the export to `outbox`. When the client goes away this future is dropped, and with
/// it the transaction: that rolls it back and closes the portal.
pub async fn run(
    connections: &Connections,
    export: Export,
    mut outbox: Outbox<ExportProspectsResponse>,
) -> Result<(), SearchError> {
    // Wait before the snapshot is taken, so the snapshot includes the awaited write.
    export.wait.awaited().await?;
    let mut client = connections.get(export.api_key_id).await?;
    let transaction = client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await?;
    // Read inside the snapshot: the watermark the exported rows correspond to.
    let (_, freshness) = freshness::read(
        &*transaction,
        ReadModel::ProspectSearch,
        export.organization_id,
    )
    .await?;
    let text_mode =
        query::text_mode(&*transaction, export.organization_id, &export.conditions).await?;
    let query = query::export_prospects(export.organization_id, &export.conditions, text_mode);
    let params: Vec<_> = query.param_refs().collect();
    let portal = transaction.bind(query.sql.as_str(), &params).await?;
    let mut sent: u64 = 0;
    loop {
        let batch = transaction.query_portal_raw(&portal, BATCH_ROWS).await?;
        futures_util::pin_mut!(batch);
        let mut in_batch = 0;
        while let Some(row) = batch.next().await {
            let prospect = rows::prospect_from_row(&row?)?;
            in_batch += 1;
            let message = ExportProspectsResponse {
                result: Some(ExportResult::Prospect(prospect)),
            };
            outbox.push(message).await;
            sent += 1;
        }
        if in_batch < BATCH_ROWS {
            break;
        }
    }
    transaction.commit().await?;
    let end = ExportProspectsResponse {
        result: Some(ExportResult::End(ExportEnd {
            rows: sent,
            freshness: Some(freshness),
        })),
    };
    outbox.push(end).await;
    Ok(())
}
