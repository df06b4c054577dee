//! Read-your-writes waits without a database connection each (docs/ARCHITECTURE.md, "Tokens and
//! watermarks"). One watcher per process polls the read models' watermarks on a connection of
//! its own, only while somebody waits, and wakes every waiter on each new reading; a waiting
//! call holds no pooled connection, so however many callers wait, the pool stays for searches.
//! A single poller rather than LISTEN: it works the same on a streaming replica, where LISTEN
//! does not.
//!
//! Waits are bounded per API key and per process: past either bound a call is refused with
//! `RESOURCE_EXHAUSTED` instead of queueing.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use lma_proto::v1::Freshness;
use svc_core::Caller;
use svc_core::config::DatabaseArgs;
use svc_core::fairness::{KeyPermit, PerKeyLimit};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::Instant;

use crate::error::SearchError;
use crate::freshness::{MinToken, ReadModel};

/// Kept back from a call's deadline for the answer's way back: the caller's own timer fires at
/// the deadline (a little before ours, which started when the call arrived), and a caller
/// should learn why it waited in vain (`DEADLINE_EXCEEDED` with the watermark) rather than get
/// its timer's bare `CANCELLED`. A tenth of the wait, within these bounds: many waits that end
/// together on a busy machine need more than a lone one.
const ANSWER_ALLOWANCE: (Duration, Duration) =
    (Duration::from_millis(50), Duration::from_millis(250));

/// When a wait until `deadline` gives up.
fn give_up_at(deadline: Instant) -> Instant {
    let (least, most) = ANSWER_ALLOWANCE;
    let allowance = (deadline.saturating_duration_since(Instant::now()) / 10).clamp(least, most);
    deadline.checked_sub(allowance).unwrap_or(deadline)
}

/// Longest pause between two attempts to (re)connect the watcher.
const LONGEST_RECONNECT_PAUSE: Duration = Duration::from_secs(2);

/// Every read model's watermark, and the organizations whose large companies are still being
/// re-derived in chunks (refresh-svc's `company_rederivation`: below `pending_since`, every
/// write to that company is applied). One statement, so the two agree.
const WATERMARKS_SQL: &str = "\
    SELECT read_model, watermark::text, watermark_at, NULL::bigint \
      FROM read_model_state WHERE read_model = ANY($1) \
    UNION ALL \
    SELECT NULL, min(pending_since)::text, NULL, organization_id \
      FROM company_rederivation GROUP BY organization_id";

/// How many waits one API key and the whole process may have at once, and how often the
/// watcher looks while anyone waits.
#[derive(Debug, Clone, Copy)]
pub struct WaitSettings {
    pub per_key: usize,
    pub total: usize,
    pub poll_interval: Duration,
}

/// What the watcher last read.
#[derive(Debug, Clone, Default)]
struct Reading {
    /// Per read model (by table name): its watermark, and the freshness it reports.
    models: HashMap<String, (u64, Freshness)>,
    /// Per organization with chunked work pending: the oldest `pending_since`.
    pending: HashMap<i64, u64>,
}

impl Reading {
    /// What `model` holds for `organization_id`: the model's watermark, held back to the
    /// oldest write of the organization's chunked work still pending. Both models: a large
    /// company's pass re-derives its prospect rows and ends with its summary.
    fn effective(&self, model: ReadModel, organization_id: i64) -> Option<(u64, Freshness)> {
        let (watermark, freshness) = self.models.get(model.name())?;
        let held_back = self.pending.get(&organization_id).copied();
        Some(match held_back {
            Some(pending) if pending < *watermark => (
                pending,
                Freshness {
                    watermark: pending.to_string(),
                    refreshed_at: freshness.refreshed_at,
                },
            ),
            _ => (*watermark, freshness.clone()),
        })
    }
}

/// The process's watcher and the bounds on waits.
pub struct WatermarkWatch {
    readings: watch::Receiver<Reading>,
    waiting: Arc<AtomicUsize>,
    wake: Arc<Notify>,
    per_key: PerKeyLimit,
    total: Arc<Semaphore>,
    total_limit: usize,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for WatermarkWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A call's place among the waiters; the watcher polls while any exists.
struct Waiting {
    _key: KeyPermit,
    _total: OwnedSemaphorePermit,
    waiting: Arc<AtomicUsize>,
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.waiting.fetch_sub(1, Ordering::SeqCst);
    }
}

impl WatermarkWatch {
    /// Starts the watcher; it connects on the first wait. Needs a Tokio runtime.
    pub fn start(
        database: DatabaseArgs,
        application_name: &'static str,
        settings: WaitSettings,
    ) -> Self {
        let (publish, readings) = watch::channel(Reading::default());
        let waiting = Arc::new(AtomicUsize::new(0));
        let wake = Arc::new(Notify::new());
        let task = tokio::spawn(watch_watermarks(
            database,
            application_name,
            settings.poll_interval,
            publish,
            Arc::clone(&waiting),
            Arc::clone(&wake),
        ));
        Self {
            readings,
            waiting,
            wake,
            per_key: PerKeyLimit::new(settings.per_key),
            total: Arc::new(Semaphore::new(settings.total.max(1))),
            total_limit: settings.total.max(1),
            task,
        }
    }

    /// Takes a place among the waiters, or refuses when the key or the process is at its bound.
    fn join(&self, api_key_id: i64) -> Result<Waiting, SearchError> {
        let key = self
            .per_key
            .try_acquire(api_key_id)
            .ok_or(SearchError::TooManyWaits {
                limit: self.per_key.limit(),
                whose: "this API key",
            })?;
        let total =
            Arc::clone(&self.total)
                .try_acquire_owned()
                .map_err(|_| SearchError::TooManyWaits {
                    limit: self.total_limit,
                    whose: "the service",
                })?;
        self.waiting.fetch_add(1, Ordering::SeqCst);
        self.wake.notify_one();
        Ok(Waiting {
            _key: key,
            _total: total,
            waiting: Arc::clone(&self.waiting),
        })
    }

    /// Waits until `model` includes, for `organization_id`, every write up to `token` (its
    /// watermark is above it), then returns that freshness. Gives up with `DEADLINE_EXCEEDED`
    /// just before `deadline` (see [`ANSWER_ALLOWANCE`]).
    pub async fn wait_for(
        &self,
        model: ReadModel,
        organization_id: i64,
        api_key_id: i64,
        token: MinToken,
        deadline: Instant,
    ) -> Result<Freshness, SearchError> {
        let give_up_at = give_up_at(deadline);
        let mut readings = self.readings.clone();
        // A past reading that already passes the token is enough: watermarks only advance.
        if let Some(freshness) =
            passed(&readings.borrow_and_update(), model, organization_id, token)
        {
            return Ok(freshness);
        }
        let _waiting = self.join(api_key_id)?;
        loop {
            let changed = tokio::time::timeout_at(give_up_at, readings.changed()).await;
            let reading = readings.borrow_and_update().clone();
            if let Some(freshness) = passed(&reading, model, organization_id, token) {
                return Ok(freshness);
            }
            match changed {
                Ok(Ok(())) => {}
                // The deadline came, or the watcher is gone (the service is stopping).
                Ok(Err(_)) | Err(_) => {
                    let watermark = reading
                        .effective(model, organization_id)
                        .map_or(0, |(watermark, _)| watermark);
                    return Err(SearchError::NotFreshInTime {
                        token: token.xid(),
                        watermark,
                    });
                }
            }
        }
    }
}

/// What a call waits for before it reads: `min_token` in `model`, for the caller.
#[derive(Clone)]
pub struct Wait {
    pub watermarks: Arc<WatermarkWatch>,
    pub model: ReadModel,
    pub caller: Caller,
    pub min_token: Option<MinToken>,
    pub deadline: Instant,
}

impl Wait {
    /// The freshness `min_token` made the call wait for (holding no connection), or `None`
    /// when there was nothing to wait for: then the answer reads it in the same round trip as
    /// its query (see `api::with_freshness`).
    pub async fn awaited(&self) -> Result<Option<Freshness>, SearchError> {
        let Some(token) = self.min_token else {
            return Ok(None);
        };
        let freshness = self
            .watermarks
            .wait_for(
                self.model,
                self.caller.organization_id,
                self.caller.api_key_id,
                token,
                self.deadline,
            )
            .await?;
        Ok(Some(freshness))
    }
}

fn passed(
    reading: &Reading,
    model: ReadModel,
    organization_id: i64,
    token: MinToken,
) -> Option<Freshness> {
    reading
        .effective(model, organization_id)
        .filter(|(watermark, _)| *watermark > token.xid())
        .map(|(_, freshness)| freshness)
}

/// The watcher: while anyone waits, reads the watermarks every `poll_interval` on its own
/// connection and publishes each reading.
async fn watch_watermarks(
    database: DatabaseArgs,
    application_name: &'static str,
    poll_interval: Duration,
    publish: watch::Sender<Reading>,
    waiting: Arc<AtomicUsize>,
    wake: Arc<Notify>,
) {
    let models = [ReadModel::ProspectSearch, ReadModel::CompanySummary].map(ReadModel::name);
    // The connection and its prepared statement.
    let mut client: Option<(tokio_postgres::Client, tokio_postgres::Statement)> = None;
    let mut reconnect_pause = poll_interval;
    loop {
        // Registered before the count is read, so a waiter that arrives in between is seen.
        let woken = wake.notified();
        if waiting.load(Ordering::SeqCst) == 0 {
            woken.await;
            continue;
        }
        drop(woken);
        if client.as_ref().is_none_or(|(client, _)| client.is_closed()) {
            match connect(&database, application_name).await {
                Ok(connected) => {
                    client = Some(connected);
                    reconnect_pause = poll_interval;
                }
                Err(error) => {
                    tracing::warn!(%error, "the watermark watcher cannot connect; retrying");
                    tokio::time::sleep(reconnect_pause).await;
                    reconnect_pause = (reconnect_pause * 2).min(LONGEST_RECONNECT_PAUSE);
                    continue;
                }
            }
        }
        let Some((connected, statement)) = client.as_ref() else {
            continue;
        };
        match read_watermarks(connected, statement, &models).await {
            Ok(reading) => {
                publish.send_replace(reading);
            }
            Err(error) => {
                tracing::warn!(%error, "the watermark watcher's reading failed");
                client = None;
            }
        }
        tokio::time::sleep(poll_interval).await;
    }
}

/// The watcher's own connection, driven on a task of its own, and its statement.
async fn connect(
    database: &DatabaseArgs,
    application_name: &str,
) -> Result<(tokio_postgres::Client, tokio_postgres::Statement), SearchError> {
    let (client, connection) = svc_core::db::connect_single(database, application_name).await?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(%error, "the watermark watcher's connection ended");
        }
    });
    let statement = client.prepare(WATERMARKS_SQL).await?;
    Ok((client, statement))
}

async fn read_watermarks(
    client: &tokio_postgres::Client,
    statement: &tokio_postgres::Statement,
    models: &[&str],
) -> Result<Reading, SearchError> {
    let mut reading = Reading::default();
    for row in client.query(statement, &[&models]).await? {
        let watermark: String = row.try_get(1)?;
        let xid = watermark.parse::<u64>().unwrap_or_default();
        match (
            row.try_get::<_, Option<String>>(0)?,
            row.try_get::<_, Option<i64>>(3)?,
        ) {
            (Some(model), _) => {
                let freshness = Freshness {
                    watermark,
                    refreshed_at: Some(row.try_get::<_, SystemTime>(2)?.into()),
                };
                reading.models.insert(model, (xid, freshness));
            }
            (None, Some(organization_id)) => {
                reading.pending.insert(organization_id, xid);
            }
            (None, None) => {}
        }
    }
    Ok(reading)
}
