//! What GetStatus and WatchStatus report: per read model, its last refresh, backlog, lag,
//! watermark, size and last error, and which replica leads. Whatever is counted from data rows
//! (backlog, lag, row counts, rows written, pending chunked work) is the caller's organization's;
//! the rest (watermark, last refresh, errors, leader) describes the service, not a tenant's data.

use std::time::{Duration, SystemTime};

use lma_proto::v1 as pb;
use svc_core::DbError;
use tokio_postgres::Client;

use crate::leader::LEADER_LOCK_KEY;
use crate::read_model::{self, Mode};

/// Rows pending and the age of the oldest, in one organization's share of the change log
/// (`Some`) or in all of it (`None`, the metrics). The log is shared by all read models: its
/// backlog and lag are every model's. No index serves the organization: it would cost every
/// captured write, and the count reads the same short log the total did.
pub async fn backlog(client: &Client, organization: Option<i64>) -> Result<Pending, DbError> {
    pending(
        client,
        "SELECT count(*), coalesce(extract(epoch FROM clock_timestamp() - min(created_at))::float8, 0) \
         FROM change_log WHERE $1::bigint IS NULL OR organization_id = $1",
        organization,
    )
    .await
}

/// The organization's companies with chunked re-derivation pending (crate::rederivation), and
/// how long the oldest of their changes has waited.
async fn rederiving(client: &Client, organization: i64) -> Result<Pending, DbError> {
    pending(
        client,
        "SELECT count(*), coalesce(extract(epoch FROM clock_timestamp() - min(pending_at))::float8, 0) \
         FROM company_rederivation WHERE organization_id = $1",
        Some(organization),
    )
    .await
}

/// How much is waiting, and for how long.
#[derive(Debug, Clone, Copy)]
pub struct Pending {
    pub count: i64,
    pub age: Duration,
}

impl Pending {
    /// The age as GetStatus reports it: zero when nothing is pending.
    fn age_proto(self) -> Option<prost_types::Duration> {
        let age = if self.count > 0 {
            self.age
        } else {
            Duration::ZERO
        };
        prost_types::Duration::try_from(age).ok()
    }
}

async fn pending(
    client: &Client,
    sql: &str,
    organization: Option<i64>,
) -> Result<Pending, DbError> {
    let row = client.query_one(sql, &[&organization]).await?;
    let age_seconds: f64 = row.try_get(1)?;
    Ok(Pending {
        count: row.try_get(0)?,
        age: Duration::try_from_secs_f64(age_seconds.max(0.0)).unwrap_or(Duration::ZERO),
    })
}

/// The status as `organization`'s key sees it.
pub async fn read(
    client: &Client,
    replica: &str,
    organization: i64,
) -> Result<pb::GetStatusResponse, DbError> {
    let backlog = backlog(client, Some(organization)).await?;
    let rederiving = rederiving(client, organization).await?;

    // last_rows: what the model's last refresh wrote of this organization's rows, 0 when it
    // wrote none of them (record_success stamps both with its transaction's now()).
    let rows = client
        .query(
            "SELECT s.read_model, s.watermark::text, s.watermark_at, s.last_refresh_at, \
                 s.last_mode, s.last_duration_ms, \
                 CASE WHEN o.last_written_at = s.last_refresh_at THEN o.last_rows ELSE 0 END \
                     AS last_rows, \
                 coalesce(o.row_count, 0) AS row_count, s.needs_rebuild, s.last_error, \
                 s.last_error_at \
             FROM read_model_state s LEFT JOIN read_model_organization_state o \
                 ON o.organization_id = $1 AND o.read_model = s.read_model \
             ORDER BY s.read_model",
            &[&organization],
        )
        .await?;
    let mut read_models = Vec::with_capacity(rows.len());
    for row in rows {
        let table: String = row.try_get("read_model")?;
        let Some(model) = read_model::by_table(&table) else {
            continue;
        };
        let last_mode = row
            .try_get::<_, Option<String>>("last_mode")?
            .as_deref()
            .and_then(Mode::parse)
            .map_or(pb::RefreshMode::Unspecified, Mode::proto);
        let last_duration = row
            .try_get::<_, Option<f64>>("last_duration_ms")?
            .and_then(|ms| Duration::try_from_secs_f64(ms / 1000.0).ok())
            .and_then(|duration| prost_types::Duration::try_from(duration).ok());
        let last_error = match row.try_get::<_, Option<String>>("last_error")? {
            Some(message) => Some(pb::RefreshError {
                message,
                at: row
                    .try_get::<_, Option<SystemTime>>("last_error_at")?
                    .map(Into::into),
            }),
            None => None,
        };
        read_models.push(pb::ReadModelStatus {
            read_model: model.proto as i32,
            table_name: table,
            last_refresh_at: row
                .try_get::<_, Option<SystemTime>>("last_refresh_at")?
                .map(Into::into),
            last_mode: last_mode as i32,
            last_duration,
            last_rows: row.try_get::<_, Option<i64>>("last_rows")?.unwrap_or(0),
            backlog: backlog.count,
            lag: backlog.age_proto(),
            watermark: row.try_get("watermark")?,
            watermark_at: Some(row.try_get::<_, SystemTime>("watermark_at")?.into()),
            row_count: row.try_get("row_count")?,
            last_error,
            rebuild_pending: row.try_get("needs_rebuild")?,
        });
    }
    Ok(pb::GetStatusResponse {
        read_models,
        leader: leader(client).await?,
        replica: replica.to_owned(),
        rederiving_companies: rederiving.count,
        rederiving_lag: rederiving.age_proto(),
    })
}

/// The registered leader, believed only while its backend holds the leader lock.
async fn leader(client: &Client) -> Result<String, DbError> {
    let row = client
        .query_opt(
            "SELECT l.replica FROM refresh_leader l \
             WHERE EXISTS (SELECT 1 FROM pg_locks k \
                 WHERE k.locktype = 'advisory' AND k.granted AND k.pid = l.backend_pid \
                   AND k.database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
                   AND k.classid::bigint = ($1::bigint >> 32) \
                   AND k.objid::bigint = ($1::bigint & 4294967295) AND k.objsubid = 1)",
            &[&LEADER_LOCK_KEY],
        )
        .await?;
    Ok(match row {
        Some(row) => row.try_get(0)?,
        None => String::new(),
    })
}
