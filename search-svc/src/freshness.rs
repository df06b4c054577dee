//! Freshness (docs/ARCHITECTURE.md, "Tokens and watermarks"): every answer reports the watermark of
//! the read model that answered, for the caller's organization, and a request may carry `min_token`
//! (waited for in `watermark`).

use std::time::{Duration, SystemTime};

use deadpool_postgres::ClientWrapper;
use lma_proto::v1::Freshness;
use tokio::time::Instant;
use tokio_postgres::{GenericClient, Row};

use crate::error::SearchError;

/// The read models search-svc answers from.
#[derive(Debug, Clone, Copy)]
pub enum ReadModel {
    ProspectSearch,
    CompanySummary,
}

impl ReadModel {
    pub fn name(self) -> &'static str {
        match self {
            ReadModel::ProspectSearch => "prospect_search_view",
            ReadModel::CompanySummary => "company_summary_view",
        }
    }
}

/// The statement that reads a model's freshness for an organization ($1 the model, $2 the
/// organization): its watermark, held back to the oldest write of the organization's large
/// companies still being re-derived in chunks (docs/REFRESH.md, "Large companies"), whose pass
/// rewrites their prospect rows and ends with their summary.
const STATE_SQL: &str = "\
    SELECT least(s.watermark, (SELECT min(r.pending_since) FROM company_rederivation r \
                               WHERE r.organization_id = $2))::text, \
           s.watermark_at \
      FROM read_model_state s WHERE s.read_model = $1";

/// A validated consistency token: the xid8 of a writing transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinToken(u64);

impl MinToken {
    /// The transaction id the token names.
    pub fn xid(self) -> u64 {
        self.0
    }

    /// `None` for an empty token; `field` names it in the error.
    pub fn parse(token: &str, field: &str) -> Result<Option<MinToken>, SearchError> {
        let token = token.trim();
        if token.is_empty() {
            return Ok(None);
        }
        token
            .parse::<u64>()
            .map(|xid| Some(MinToken(xid)))
            .map_err(|_| {
                SearchError::invalid(
                    field,
                    "is not a consistency token returned by ingest-svc (a decimal number)",
                )
            })
    }
}

/// How far `model` is applied for `organization_id`, read by `client` (a transaction's
/// snapshot, say).
pub async fn read(
    client: &impl GenericClient,
    model: ReadModel,
    organization_id: i64,
) -> Result<(u64, Freshness), SearchError> {
    from_row(
        &client
            .query_one(STATE_SQL, &[&model.name(), &organization_id])
            .await?,
    )
}

/// How far `model` is applied for `organization_id`, with the statement prepared once per
/// connection. Called before a search's own statement on the same connection (even when the
/// two are pipelined), the watermark it reports never claims more than the search's snapshot
/// holds.
pub async fn read_cached(
    client: &ClientWrapper,
    model: ReadModel,
    organization_id: i64,
) -> Result<(u64, Freshness), SearchError> {
    let statement = client.prepare_cached(STATE_SQL).await?;
    from_row(
        &client
            .query_one(&statement, &[&model.name(), &organization_id])
            .await?,
    )
}

fn from_row(row: &Row) -> Result<(u64, Freshness), SearchError> {
    let watermark: String = row.try_get(0)?;
    let xid = watermark.parse::<u64>().unwrap_or_default();
    let freshness = Freshness {
        watermark,
        refreshed_at: Some(row.try_get::<_, SystemTime>(1)?.into()),
    };
    Ok((xid, freshness))
}

/// The deadline of a call: the client's `grpc-timeout`, capped by `max_wait` (also the wait
/// when the client sets none).
pub fn deadline(metadata: &tonic::metadata::MetadataMap, max_wait: Duration) -> Instant {
    let wait =
        svc_core::deadline::timeout(metadata).map_or(max_wait, |timeout| timeout.min(max_wait));
    Instant::now() + wait
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_decimal_xids() {
        assert_eq!(
            MinToken::parse("", "min_token").expect("empty is fine"),
            None
        );
        assert_eq!(
            MinToken::parse("1234", "min_token").expect("valid"),
            Some(MinToken(1234))
        );
        for bad in ["abc", "-1", "12 34", "0x10"] {
            assert!(MinToken::parse(bad, "min_token").is_err(), "{bad:?}");
        }
    }
}
