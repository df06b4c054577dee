//! Freshness and read-your-writes (DESIGN.md section 3). Every answer reports the watermark of
//! the read model that answered; a request with `min_token` first waits, within its deadline,
//! until that watermark has passed the token.

use std::time::{Duration, SystemTime};

use deadpool_postgres::ClientWrapper;
use lma_proto::v1::Freshness;
use tokio::time::Instant;
use tokio_postgres::{GenericClient, Row};

use crate::error::SearchError;

/// First and longest pause between two looks at the watermark: short at first (an applied
/// batch takes tens of milliseconds), backing off so a long wait costs few queries.
const FIRST_POLL: Duration = Duration::from_millis(5);
const LONGEST_POLL: Duration = Duration::from_millis(100);

/// Kept back from a call's deadline for the last look at the watermark and the answer's way
/// back: the caller's own timer fires at the deadline (a little before ours, which started when
/// the call arrived), and a caller should learn why it waited in vain (`DEADLINE_EXCEEDED` with
/// the watermark) rather than get its timer's bare `CANCELLED`.
const ANSWER_ALLOWANCE: Duration = Duration::from_millis(50);

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

/// A validated consistency token: the xid8 of a writing transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinToken(u64);

impl MinToken {
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

const STATE_SQL: &str =
    "SELECT watermark::text, watermark_at FROM read_model_state WHERE read_model = $1";

/// How far `model` is applied, read by `client` (a transaction's snapshot, say).
pub async fn read(
    client: &impl GenericClient,
    model: ReadModel,
) -> Result<(u64, Freshness), SearchError> {
    from_row(&client.query_one(STATE_SQL, &[&model.name()]).await?)
}

/// How far `model` is applied, with the statement prepared once per connection. Called before
/// a search's own statement on the same connection (even when the two are pipelined), the
/// watermark it reports never claims more than the search's snapshot holds.
pub async fn read_cached(
    client: &ClientWrapper,
    model: ReadModel,
) -> Result<(u64, Freshness), SearchError> {
    let statement = client.prepare_cached(STATE_SQL).await?;
    from_row(&client.query_one(&statement, &[&model.name()]).await?)
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

/// Waits until `model` includes every write up to `token` (the watermark is above it), then
/// returns its freshness. Gives up with `DEADLINE_EXCEEDED` just before `deadline` (see
/// `ANSWER_ALLOWANCE`), after at least one look.
pub async fn wait_for(
    client: &ClientWrapper,
    model: ReadModel,
    token: Option<MinToken>,
    deadline: Instant,
) -> Result<Freshness, SearchError> {
    let give_up_at = deadline.checked_sub(ANSWER_ALLOWANCE).unwrap_or(deadline);
    let mut pause = FIRST_POLL;
    loop {
        let (watermark, freshness) = read_cached(client, model).await?;
        match token {
            Some(MinToken(xid)) if watermark <= xid => {}
            _ => return Ok(freshness),
        }
        let now = Instant::now();
        if now + pause > give_up_at {
            return Err(SearchError::NotFreshInTime {
                token: token.map(|MinToken(xid)| xid).unwrap_or_default(),
                watermark,
            });
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(LONGEST_POLL);
    }
}

/// The deadline of a call: the client's `grpc-timeout`, capped by `max_wait` (also the wait
/// when the client sets none).
pub fn deadline(metadata: &tonic::metadata::MetadataMap, max_wait: Duration) -> Instant {
    let wait = metadata
        .get("grpc-timeout")
        .and_then(|value| value.to_str().ok())
        .and_then(parse_grpc_timeout)
        .map_or(max_wait, |timeout| timeout.min(max_wait));
    Instant::now() + wait
}

/// Parses the gRPC `grpc-timeout` header: up to 8 digits and a unit (H, M, S, m, u, n).
fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    let split = value.len().checked_sub(1)?;
    let (digits, unit) = value.split_at(split);
    if digits.is_empty() || digits.len() > 8 {
        return None;
    }
    let amount: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(amount * 3600),
        "M" => Duration::from_secs(amount * 60),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeouts_parse_in_every_unit() {
        assert_eq!(parse_grpc_timeout("2S"), Some(Duration::from_secs(2)));
        assert_eq!(parse_grpc_timeout("250m"), Some(Duration::from_millis(250)));
        assert_eq!(parse_grpc_timeout("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(
            parse_grpc_timeout("99999999n"),
            Some(Duration::from_nanos(99_999_999))
        );
        for bad in ["", "S", "123456789S", "5x", "-1S", "1.5S"] {
            assert_eq!(parse_grpc_timeout(bad), None, "{bad:?}");
        }
    }

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
