//! What GetStatus and WatchStatus report: per read model, its last refresh, backlog, lag,
//! watermark, size and last error, and which replica leads.

use std::time::{Duration, SystemTime};

use lma_proto::v1 as pb;
use svc_core::DbError;
use tokio_postgres::Client;

use crate::leader::LEADER_LOCK_KEY;
use crate::read_model::{self, Mode};

/// The change log's backlog (rows pending) and lag (age of the oldest), also recorded as
/// metrics. The log is shared by all read models: its backlog and lag are every model's.
pub async fn backlog(client: &Client) -> Result<(i64, Duration), DbError> {
    let backlog = client
        .query_one(
            "SELECT count(*), coalesce(extract(epoch FROM clock_timestamp() - min(created_at))::float8, 0) \
             FROM change_log",
            &[],
        )
        .await?;
    let pending: i64 = backlog.try_get(0)?;
    let lag_seconds: f64 = backlog.try_get::<_, f64>(1)?;
    let lag = Duration::try_from_secs_f64(lag_seconds.max(0.0)).unwrap_or(Duration::ZERO);
    crate::metrics::record_backlog(pending, lag);
    Ok((pending, lag))
}

pub async fn read(client: &Client, replica: &str) -> Result<pb::GetStatusResponse, DbError> {
    let (pending, lag) = backlog(client).await?;
    let lag = prost_types::Duration::try_from(lag).ok();

    let rows = client
        .query(
            "SELECT read_model, watermark::text, watermark_at, last_refresh_at, last_mode, \
                 last_duration_ms, last_rows, row_count, needs_rebuild, last_error, last_error_at \
             FROM read_model_state ORDER BY read_model",
            &[],
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
            backlog: pending,
            lag: if pending > 0 {
                lag
            } else {
                Some(Default::default())
            },
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
