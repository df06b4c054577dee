//! Bulk writes: validated rows are cut into batches, each batch is loaded with binary `COPY`
//! into temporary staging tables and merged with two set-based statements (companies first,
//! then prospects), all in one transaction. The merge rule is store.rs's.
//!
//! Within one batch, rows naming the same company domain are folded into one company row
//! before the merge: the later row's given values win, absent values never erase (employee
//! range and external source/id taken as pairs), exactly as if the rows had been merged one
//! after the other. A prospect key seen twice ends the batch before its second occurrence, so
//! every record is merged in input order.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, LazyLock};

use futures_util::pin_mut;
use lma_proto::v1::{IngestSummary, RowError};
use svc_core::DbError;
use svc_core::db::{DbOperation, PooledClient};
use tokio::sync::{mpsc, watch};
use tokio_postgres::Transaction;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{ToSql, Type};

use crate::error::IngestError;
use crate::store::{self, COMPANY_MERGE, MAX_ATTEMPTS, PROSPECT_MERGE, Store};
use crate::validate::{CompanyRow, ProspectRow};

/// How many errors a summary lists; the rest are counted.
pub const MAX_REPORTED_ERRORS: usize = 1_000;

/// A valid record and where it came from (1-based record number or CSV line).
#[derive(Debug)]
pub struct StagedRow {
    pub row: u64,
    pub record: ProspectRow,
}

/// Records of one transaction, and the rejected records that came between them.
#[derive(Debug, Default)]
pub struct Batch {
    pub rows: Vec<StagedRow>,
    pub rejected: Vec<RowError>,
    /// Records rejected (a record may have several errors).
    pub rejected_records: u64,
    keys: HashSet<(String, String)>,
}

impl Batch {
    fn is_empty(&self) -> bool {
        self.rows.is_empty() && self.rejected_records == 0
    }
}

/// Cuts a stream of records into batches of at most `batch_rows` valid rows.
pub struct Batcher {
    batch_rows: usize,
    current: Batch,
}

impl Batcher {
    pub fn new(batch_rows: usize) -> Self {
        Self {
            batch_rows: batch_rows.max(1),
            current: Batch::default(),
        }
    }

    /// Adds a valid row; returns a batch that is ready to be written.
    pub fn push(&mut self, row: StagedRow) -> Option<Batch> {
        let key = (
            row.record.external_source.clone(),
            row.record.external_id.clone(),
        );
        // A second occurrence of a prospect goes into the next batch: one statement cannot
        // merge a row twice, and the later record must win.
        let ready = if self.current.keys.contains(&key) {
            Some(std::mem::take(&mut self.current))
        } else {
            None
        };
        self.current.keys.insert(key);
        self.current.rows.push(row);
        ready.or_else(|| self.take_if_full())
    }

    /// Adds the errors of a rejected record.
    pub fn reject(&mut self, errors: Vec<RowError>) -> Option<Batch> {
        self.current.rejected_records += 1;
        self.current.rejected.extend(errors);
        self.take_if_full()
    }

    /// The last, partial batch.
    pub fn finish(self) -> Option<Batch> {
        (!self.current.is_empty()).then_some(self.current)
    }

    fn take_if_full(&mut self) -> Option<Batch> {
        let full = self.current.rows.len() >= self.batch_rows
            || self.current.rejected.len() >= self.batch_rows;
        full.then(|| std::mem::take(&mut self.current))
    }
}

/// Running counts of a bulk write.
#[derive(Debug, Default, Clone)]
pub struct Totals {
    pub received: u64,
    pub validated: u64,
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub rejected: u64,
    pub companies_created: u64,
    pub companies_updated: u64,
    pub errors: Vec<RowError>,
    pub errors_truncated: bool,
    pub consistency_token: String,
}

impl Totals {
    fn add_errors(&mut self, errors: &[RowError]) {
        for error in errors {
            if self.errors.len() < MAX_REPORTED_ERRORS {
                self.errors.push(error.clone());
            } else {
                self.errors_truncated = true;
            }
        }
    }

    /// Rows stored so far (inserted, updated or unchanged), or validated in a dry run.
    pub fn accepted(&self) -> u64 {
        self.stored() + self.validated
    }

    /// Rows stored so far: inserted, updated or unchanged.
    fn stored(&self) -> u64 {
        self.inserted + self.updated + self.unchanged
    }

    pub fn summary(mut self) -> IngestSummary {
        self.errors.sort_by_key(|error| error.row);
        IngestSummary {
            received: self.received,
            inserted: self.inserted,
            updated: self.updated,
            unchanged: self.unchanged,
            rejected: self.rejected,
            companies_created: self.companies_created,
            companies_updated: self.companies_updated,
            errors: self.errors,
            errors_truncated: self.errors_truncated,
            consistency_token: self.consistency_token,
            validated: self.validated,
        }
    }
}

/// What one batch did.
#[derive(Debug, Default)]
struct BatchOutcome {
    inserted: u64,
    updated: u64,
    unchanged: u64,
    companies_created: u64,
    companies_updated: u64,
    rejected: Vec<RowError>,
    rejected_records: u64,
    /// Token of the batch's commit; `None` when nothing was committed.
    consistency_token: Option<String>,
    /// The write stopped on an abort: parts not committed by then were rolled back.
    aborted: bool,
}

/// How one attempt at writing a batch ended.
enum Attempt {
    Written(BatchOutcome),
    /// A company the batch's prospects join to was deleted after the company merge skipped it
    /// as unchanged; the transaction was not committed.
    CompanyVanished,
    /// The write was aborted before its commit; the transaction was not committed.
    Aborted,
}

impl BatchOutcome {
    /// Adds the outcome of another part of the same batch.
    fn absorb(&mut self, part: BatchOutcome) {
        self.inserted += part.inserted;
        self.updated += part.updated;
        self.unchanged += part.unchanged;
        self.companies_created += part.companies_created;
        self.companies_updated += part.companies_updated;
        self.rejected.extend(part.rejected);
        self.rejected_records += part.rejected_records;
        self.aborted |= part.aborted;
        self.consistency_token = match (self.consistency_token.take(), part.consistency_token) {
            (Some(mine), Some(theirs)) => Some(store::later_token(mine, theirs)),
            (mine, theirs) => mine.or(theirs),
        };
    }
}

/// Batches smaller than this are written in one transaction: splitting them would cost more
/// round trips than it saves.
const MIN_ROWS_TO_SPLIT: usize = 1_000;

/// Splits a batch into at most `parts` parts by company domain, keeping the input order
/// within each part. Every company's rows land in one part, so the parts' transactions never
/// touch the same company or prospect (keys are unique within a batch) and can run at once
/// without waiting on each other's locks or reordering any company's values.
fn split_by_company(rows: Vec<StagedRow>, parts: usize) -> Vec<Vec<StagedRow>> {
    if parts <= 1 || rows.len() < MIN_ROWS_TO_SPLIT {
        return vec![rows];
    }
    let mut split: Vec<Vec<StagedRow>> = (0..parts)
        .map(|_| Vec::with_capacity(rows.len() / parts + 1))
        .collect();
    for row in rows {
        // A fixed-key hasher: the same domain always goes to the same part.
        let mut hasher = std::hash::DefaultHasher::new();
        std::hash::Hash::hash(&row.record.company.domain, &mut hasher);
        let part = (std::hash::Hasher::finish(&hasher) % parts as u64) as usize;
        split[part].push(row);
    }
    split.retain(|part| !part.is_empty());
    split
}

/// How long a batch waits for a pooled connection. Longer than the pool's own wait (meant for
/// short requests): concurrent imports of shared companies queue behind each other's
/// transactions, and an import that waits its turn beats one that fails.
const BATCH_CONNECTION_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// How writing one part ended.
enum PartWrite {
    Written(BatchOutcome),
    /// The database refused a row of the part; its rows must be written one by one.
    RowFault(DbError),
    /// The write was aborted; the part was rolled back and its connection closed.
    Aborted,
}

/// Set when the call behind a bulk write ended without a clean end of its stream (cancelled,
/// reset, past its deadline, or a protocol error): the batch being written is rolled back and
/// nothing more is written. Batches committed before stay.
#[derive(Clone, Debug)]
pub struct Abort(Arc<watch::Sender<bool>>);

impl Default for Abort {
    fn default() -> Self {
        Self(Arc::new(watch::Sender::new(false)))
    }
}

impl Abort {
    pub fn abort(&self) {
        self.0.send_replace(true);
    }

    pub fn is_aborted(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once [`Abort::abort`] was called.
    pub async fn aborted(&self) {
        // The sender lives in `self`, so the wait can only end by the abort.
        let _ = self.0.subscribe().wait_for(|aborted| *aborted).await;
    }

    /// A guard that aborts when dropped: a handler future that the server drops (its client
    /// cancelled or reset the call) must not leave its writer going. Aborting after the writer
    /// finished changes nothing.
    pub fn on_drop(&self) -> AbortOnDrop {
        AbortOnDrop(self.clone())
    }
}

/// See [`Abort::on_drop`].
pub struct AbortOnDrop(Abort);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Where a bulk write goes.
#[derive(Clone)]
pub struct Target {
    pub store: Arc<Store>,
    pub organization_id: i64,
    /// Validate only; write nothing.
    pub dry_run: bool,
    /// Dual ingestion into `customer` (off when migrating from it).
    pub mirror_to_customer: bool,
    /// Connections a batch is written over at once ([`split_by_company`]).
    pub write_connections: usize,
    /// Stops the write when the call is abandoned.
    pub abort: Abort,
}

/// Waits for a [`write_batches`] task once its sender is dropped.
pub async fn join_writer(
    writer: tokio::task::JoinHandle<Result<Totals, DbError>>,
) -> Result<Totals, IngestError> {
    Ok(writer
        .await
        .map_err(|error| IngestError::TaskFailed("the batch writer", error))??)
}

/// Logs what a bulk request stored.
pub fn log_summary(summary: &IngestSummary, what: &'static str) {
    tracing::info!(
        received = summary.received,
        inserted = summary.inserted,
        updated = summary.updated,
        unchanged = summary.unchanged,
        rejected = summary.rejected,
        "{what}"
    );
}

/// Writes batches in order until the channel closes; calls `on_batch` after each committed one
/// with the totals and that batch's errors (validation and write). Returns the totals. Once
/// `target.abort` is set, the batch being written is rolled back, the rest are dropped, and
/// the totals count only what was committed.
pub async fn write_batches<F, Fut>(
    target: Target,
    mut batches: mpsc::Receiver<Batch>,
    mut on_batch: F,
) -> Result<Totals, DbError>
where
    F: FnMut(&Totals, Vec<RowError>) -> Fut + Send,
    Fut: std::future::Future<Output = ()> + Send,
{
    let mut totals = Totals::default();
    while let Some(batch) = batches.recv().await {
        if target.abort.is_aborted() {
            break;
        }
        let counted = (totals.stored(), totals.rejected);
        let mut errors = batch.rejected;
        let received = batch.rows.len() as u64 + batch.rejected_records;
        if target.dry_run {
            totals.validated += batch.rows.len() as u64;
        } else if !batch.rows.is_empty() {
            let parts = split_by_company(batch.rows, target.write_connections);
            let outcome = target
                .store
                .write_batch(
                    target.organization_id,
                    parts,
                    target.mirror_to_customer,
                    &target.abort,
                )
                .await?;
            totals.inserted += outcome.inserted;
            totals.updated += outcome.updated;
            totals.unchanged += outcome.unchanged;
            totals.companies_created += outcome.companies_created;
            totals.companies_updated += outcome.companies_updated;
            if outcome.aborted {
                // Parts that committed before the abort stay and are counted; the caller is
                // gone, so the batch is not reported.
                store::count_rows(totals.stored() - counted.0, 0);
                break;
            }
            totals.rejected += outcome.rejected_records;
            if let Some(token) = outcome.consistency_token {
                totals.consistency_token = token;
            }
            errors.extend(outcome.rejected);
            errors.sort_by_key(|error| error.row);
        }
        totals.received += received;
        totals.rejected += batch.rejected_records;
        totals.add_errors(&errors);
        store::count_rows(totals.stored() - counted.0, totals.rejected - counted.1);
        on_batch(&totals, errors).await;
    }
    Ok(totals)
}

/// Folds `later` into `earlier` by the merge rule (given values win, absent never erase).
fn fold_company(earlier: &mut CompanyRow, later: &CompanyRow) {
    fn take<T: Clone>(into: &mut Option<T>, from: &Option<T>) {
        if from.is_some() {
            into.clone_from(from);
        }
    }
    take(&mut earlier.name, &later.name);
    take(&mut earlier.industry, &later.industry);
    if later.min_employees.is_some() || later.max_employees.is_some() {
        earlier.min_employees = later.min_employees;
        earlier.max_employees = later.max_employees;
    }
    take(&mut earlier.employee_size_link, &later.employee_size_link);
    take(&mut earlier.revenue, &later.revenue);
    take(&mut earlier.address, &later.address);
    take(&mut earlier.city, &later.city);
    take(&mut earlier.state, &later.state);
    take(&mut earlier.country, &later.country);
    take(&mut earlier.zip_code, &later.zip_code);
    take(&mut earlier.phone, &later.phone);
    take(&mut earlier.mobile_phone, &later.mobile_phone);
    if later.external_id.is_some() {
        earlier.external_source.clone_from(&later.external_source);
        earlier.external_id.clone_from(&later.external_id);
    }
}

/// The batch's companies, one per domain, in domain order (the lock order of the merge, so
/// concurrent imports with overlapping domains cannot deadlock on company rows).
fn companies_of(rows: &[StagedRow]) -> BTreeMap<&str, CompanyRow> {
    let mut companies: BTreeMap<&str, CompanyRow> = BTreeMap::new();
    for staged in rows {
        let company = &staged.record.company;
        match companies.get_mut(company.domain.as_str()) {
            Some(earlier) => fold_company(earlier, company),
            None => {
                companies.insert(company.domain.as_str(), company.clone());
            }
        }
    }
    companies
}

const CREATE_STAGING: &str = "SET LOCAL client_min_messages = warning;
    CREATE TEMP TABLE IF NOT EXISTS ingest_company_stage (
        domain text, name text, industry text, min_employees integer, max_employees integer,
        employee_size_link text, revenue bigint, address text, city text, state text,
        country text, zip_code text, phone text, mobile_phone text, external_source text,
        external_id text
    ) ON COMMIT DELETE ROWS;
    CREATE TEMP TABLE IF NOT EXISTS ingest_prospect_stage (
        company_domain text, external_source text, external_id text, salutation text,
        first_name text, last_name text, email text, job_title text, job_title_level text,
        department text, job_title_link text, address text, city text, state text,
        country text, zip_code text, phone text, mobile_phone text, tags text[],
        custom_fields jsonb
    ) ON COMMIT DELETE ROWS;";

const COMPANY_COLUMNS: &str = CompanyRow::COLUMNS;

const COMPANY_TYPES: [Type; 16] = [
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::INT4,
    Type::INT4,
    Type::TEXT,
    Type::INT8,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
];

const PROSPECT_COLUMNS: &str = ProspectRow::COLUMNS;

const PROSPECT_TYPES: [Type; 20] = [
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT_ARRAY,
    Type::JSONB,
];

/// New and changed companies in domain order; counts of created and updated ones. Companies
/// the batch would not change are left out, so they are neither written nor locked: a batch of
/// a large file names a tenth of all companies, nearly all of them unchanged.
static MERGE_COMPANIES: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH written AS (
             INSERT INTO company AS c (organization_id, {COMPANY_COLUMNS})
             SELECT $1, {COMPANY_COLUMNS} FROM ingest_company_stage s
             WHERE NOT EXISTS (
                 SELECT FROM company c
                 WHERE c.organization_id = $1 AND c.domain = s.domain AND {})
             ORDER BY domain
             ON CONFLICT (organization_id, domain) {}
             RETURNING (xmax = 0) AS inserted)
         SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted)
         FROM written",
        store::merge_changes_nothing("c", COMPANY_MERGE, "s"),
        store::merge_clause("c", COMPANY_MERGE)
    )
});

/// Prospects in key order, joined to their companies; counts of staged, inserted and updated
/// rows. Each staged row is first looked up: new ones are inserted plainly (no speculative
/// insertion, about an eighth cheaper per row), stored ones the merge would change go through
/// `ON CONFLICT`, and unchanged ones are left alone (neither written nor locked). A row another
/// writer inserts meanwhile makes the plain insert fail on the key ([`is_concurrent_insert`])
/// and the batch is retried. An unchanged company is not locked by the company merge, so a
/// concurrent delete may take it away: the join then finds fewer rows than were staged (or
/// the foreign key check fails), and the batch is retried.
static MERGE_PROSPECTS: LazyLock<String> = LazyLock::new(|| {
    let staged_columns = PROSPECT_COLUMNS
        .split(", ")
        .map(|column| format!("s.{column}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "WITH source AS MATERIALIZED (
             SELECT c.id AS company_id, {staged_columns}
             FROM ingest_prospect_stage s
             JOIN company c ON c.organization_id = $1 AND c.domain = s.company_domain),
         looked_up AS MATERIALIZED (
             SELECT source.*,
                    CASE WHEN p.id IS NULL THEN 'new'
                         WHEN {} THEN 'unchanged'
                         ELSE 'changed' END AS stored_as
             FROM source
             LEFT JOIN prospect p ON p.organization_id = $1
                 AND p.external_source = source.external_source
                 AND p.external_id = source.external_id),
         inserted AS (
             INSERT INTO prospect (organization_id, company_id, {PROSPECT_COLUMNS})
             SELECT $1, company_id, {PROSPECT_COLUMNS} FROM looked_up WHERE stored_as = 'new'
             ORDER BY external_source, external_id
             RETURNING 1),
         merged AS (
             INSERT INTO prospect AS p (organization_id, company_id, {PROSPECT_COLUMNS})
             SELECT $1, company_id, {PROSPECT_COLUMNS} FROM looked_up WHERE stored_as = 'changed'
             ORDER BY external_source, external_id
             ON CONFLICT (organization_id, external_source, external_id) {}
             RETURNING (xmax = 0) AS inserted)
         SELECT (SELECT count(*) FROM source),
                (SELECT count(*) FROM inserted) + count(*) FILTER (WHERE inserted),
                count(*) FILTER (WHERE NOT inserted)
         FROM merged",
        store::merge_changes_nothing("p", PROSPECT_MERGE, "source"),
        store::merge_clause("p", PROSPECT_MERGE)
    )
});

impl Store {
    /// Writes the parts of one batch ([`split_by_company`]) concurrently, each atomically in
    /// its own transaction on its own connection. Extra connections are only taken when the
    /// pool has them free at once and to spare: holding one connection while waiting for
    /// another could starve concurrent imports, so parts without a connection of their own
    /// wait for one that is already held.
    async fn write_batch(
        &self,
        organization_id: i64,
        parts: Vec<Vec<StagedRow>>,
        mirror: bool,
        abort: &Abort,
    ) -> Result<BatchOutcome, DbError> {
        let wait_in_line = deadpool_postgres::Timeouts {
            wait: Some(BATCH_CONNECTION_WAIT),
            ..self.pool.timeouts()
        };
        let first = tokio::select! {
            biased;
            () = abort.aborted() => None,
            client = self.pool.timeout_get(&wait_in_line) => Some(client?),
        };
        let Some(first) = first else {
            return Ok(BatchOutcome {
                aborted: true,
                ..Default::default()
            });
        };
        let mut clients = vec![first];
        let no_wait = deadpool_postgres::Timeouts {
            wait: Some(std::time::Duration::ZERO),
            ..self.pool.timeouts()
        };
        while clients.len() < parts.len() && self.pool_has_room_for_others() {
            match self.pool.timeout_get(&no_wait).await {
                Ok(client) => clients.push(client),
                Err(_) => break,
            }
        }
        let mut lanes: Vec<Vec<Vec<StagedRow>>> = clients.iter().map(|_| Vec::new()).collect();
        for (index, part) in parts.into_iter().enumerate() {
            lanes[index % clients.len()].push(part);
        }
        let written =
            futures_util::future::join_all(clients.into_iter().zip(lanes).map(
                |(client, parts)| self.write_lane(client, organization_id, parts, mirror, abort),
            ))
            .await;
        let mut outcome = BatchOutcome::default();
        for lane in written {
            outcome.absorb(lane?);
        }
        Ok(outcome)
    }

    /// Whether taking one more connection would still leave one free for another caller:
    /// extra connections speed an import up, but must not make other requests wait.
    fn pool_has_room_for_others(&self) -> bool {
        let status = self.pool.status();
        let in_use = status.size.saturating_sub(status.available);
        status.waiting == 0 && status.max_size.saturating_sub(in_use) >= 2
    }

    /// Writes parts one after the other on one connection.
    async fn write_lane(
        &self,
        client: PooledClient,
        organization_id: i64,
        parts: Vec<Vec<StagedRow>>,
        mirror: bool,
        abort: &Abort,
    ) -> Result<BatchOutcome, DbError> {
        let mut outcome = BatchOutcome::default();
        let mut client = Some(client);
        for rows in &parts {
            if abort.is_aborted() {
                outcome.aborted = true;
                break;
            }
            let held = match client.as_mut() {
                Some(held) => held,
                None => client.insert(self.pool.get().await?),
            };
            match self
                .write_part(held, organization_id, rows, mirror, abort)
                .await?
            {
                PartWrite::Written(part) => outcome.absorb(part),
                PartWrite::RowFault(error) => {
                    tracing::info!(%error, rows = rows.len(), "batch rejected; writing its rows one by one");
                    // The row-by-row writes take connections of their own: free this one.
                    client = None;
                    outcome.absorb(
                        self.write_rows_one_by_one(organization_id, rows, mirror, abort)
                            .await?,
                    );
                }
                PartWrite::Aborted => {
                    if let Some(held) = client.take() {
                        svc_core::db::cancel_and_discard(held).await;
                    }
                    outcome.aborted = true;
                }
            }
            if outcome.aborted {
                break;
            }
        }
        Ok(outcome)
    }

    /// Writes one part atomically, retrying deadlocks, serialization failures and companies
    /// deleted meanwhile. When the database rejects the part for one bad row (a constraint
    /// the validation could not see, such as a company external id already used by another
    /// domain), says so, so that only the bad rows are rejected, each with the database's
    /// reason.
    async fn write_part(
        &self,
        client: &mut PooledClient,
        organization_id: i64,
        rows: &[StagedRow],
        mirror: bool,
        abort: &Abort,
    ) -> Result<PartWrite, DbError> {
        let mut attempt = 1;
        loop {
            if client.is_closed() {
                *client = self.pool.get().await?;
            }
            let attempted = svc_core::db::traced(
                DbOperation::new("COPY MERGE", "prospect"),
                self.try_write_part(client, organization_id, rows, mirror, abort),
            );
            let conflict = match attempted.await {
                Ok(Attempt::Written(outcome)) => return Ok(PartWrite::Written(outcome)),
                Ok(Attempt::Aborted) => return Ok(PartWrite::Aborted),
                Ok(Attempt::CompanyVanished) => None,
                Err(error)
                    if error.is_retryable()
                        || error.sql_state() == Some(&SqlState::FOREIGN_KEY_VIOLATION)
                        || is_concurrent_insert(&error) =>
                {
                    Some(error)
                }
                Err(error) if is_row_fault(&error) => return Ok(PartWrite::RowFault(error)),
                Err(error) => return Err(error),
            };
            if attempt >= MAX_ATTEMPTS {
                return Err(conflict.unwrap_or_else(|| {
                    DbError::Conflict(format!(
                        "companies of the batch were deleted during {attempt} attempts"
                    ))
                }));
            }
            match &conflict {
                Some(error) => {
                    tracing::info!(attempt, %error, rows = rows.len(), "batch conflicted; retrying")
                }
                None => tracing::info!(
                    attempt,
                    rows = rows.len(),
                    "a company of the batch was deleted meanwhile; retrying"
                ),
            }
            if abort.is_aborted() {
                return Ok(PartWrite::Aborted);
            }
            attempt += 1;
            tokio::time::sleep(store::retry_backoff(attempt)).await;
        }
    }

    /// One attempt at a part: stage and merge, then commit unless aborted meanwhile. Until the
    /// commit is sent, an abort rolls back at once (the caller then cancels the statement
    /// still running); a commit already sent is left to finish, and what it wrote is counted.
    async fn try_write_part(
        &self,
        client: &mut PooledClient,
        organization_id: i64,
        rows: &[StagedRow],
        mirror: bool,
        abort: &Abort,
    ) -> Result<Attempt, DbError> {
        let transaction = store::begin_write(client).await?;
        let prepared = tokio::select! {
            biased;
            () = abort.aborted() => return Ok(Attempt::Aborted),
            prepared = prepare_part(&transaction, organization_id, rows, mirror) => prepared?,
        };
        let Some((mut outcome, wrote)) = prepared else {
            // Never lose rows silently: roll back and write the batch again.
            return Ok(Attempt::CompanyVanished);
        };
        let token = store::consistency_token(&transaction, wrote).await?;
        if abort.is_aborted() {
            return Ok(Attempt::Aborted);
        }
        transaction.commit().await?;
        outcome.consistency_token = Some(token);
        Ok(Attempt::Written(outcome))
    }

    async fn write_rows_one_by_one(
        &self,
        organization_id: i64,
        rows: &[StagedRow],
        mirror: bool,
        abort: &Abort,
    ) -> Result<BatchOutcome, DbError> {
        let mut outcome = BatchOutcome::default();
        for staged in rows {
            if abort.is_aborted() {
                outcome.aborted = true;
                break;
            }
            match self
                .upsert_prospect_mirrored(organization_id, &staged.record, mirror)
                .await
            {
                Ok(upserted) => {
                    match upserted.outcome {
                        lma_proto::v1::WriteOutcome::Inserted => outcome.inserted += 1,
                        lma_proto::v1::WriteOutcome::Updated => outcome.updated += 1,
                        _ => outcome.unchanged += 1,
                    }
                    match upserted.company_outcome {
                        lma_proto::v1::WriteOutcome::Inserted => outcome.companies_created += 1,
                        lma_proto::v1::WriteOutcome::Updated => outcome.companies_updated += 1,
                        _ => {}
                    }
                    outcome.consistency_token = Some(upserted.consistency_token);
                }
                Err(error) if is_row_fault(&error) => {
                    outcome.rejected_records += 1;
                    outcome.rejected.push(RowError {
                        row: staged.row,
                        external_id: staged.record.external_id.clone(),
                        field: String::new(),
                        reason: tonic::Status::from(error).message().to_owned(),
                    });
                }
                Err(error) => return Err(error),
            }
        }
        Ok(outcome)
    }
}

/// Everything of a part's transaction but its commit: stages the part's companies and
/// prospects, merges them, and mirrors them into `customer` when asked. Returns the outcome
/// and whether anything was written, or `None` when a company the prospects join to
/// vanished meanwhile (fewer rows merged than staged).
async fn prepare_part(
    transaction: &Transaction<'_>,
    organization_id: i64,
    rows: &[StagedRow],
    mirror: bool,
) -> Result<Option<(BatchOutcome, bool)>, DbError> {
    transaction.batch_execute(CREATE_STAGING).await?;
    copy_companies(transaction, &companies_of(rows)).await?;
    copy_prospects(transaction, rows).await?;
    let companies = transaction
        .query_one(MERGE_COMPANIES.as_str(), &[&organization_id])
        .await?;
    let prospects = transaction
        .query_one(MERGE_PROSPECTS.as_str(), &[&organization_id])
        .await?;
    let staged: i64 = prospects.try_get(0)?;
    if staged != rows.len() as i64 {
        return Ok(None);
    }
    let count = |row: &tokio_postgres::Row, index: usize| -> Result<u64, DbError> {
        Ok(row.try_get::<_, i64>(index)?.max(0) as u64)
    };
    let mut outcome = BatchOutcome {
        companies_created: count(&companies, 0)?,
        companies_updated: count(&companies, 1)?,
        inserted: count(&prospects, 1)?,
        updated: count(&prospects, 2)?,
        ..Default::default()
    };
    outcome.unchanged = rows.len() as u64 - outcome.inserted - outcome.updated;
    let wrote =
        outcome.inserted + outcome.updated + outcome.companies_created + outcome.companies_updated
            > 0;
    if wrote && mirror {
        transaction
            .execute(
                store::MIRROR_STAGED_TO_CUSTOMER.as_str(),
                &[&organization_id],
            )
            .await?;
    }
    Ok(Some((outcome, wrote)))
}

/// Whether a plain insert of a prospect the batch had found missing met one that another writer
/// inserted meanwhile: written again, the batch merges into that row instead.
fn is_concurrent_insert(error: &DbError) -> bool {
    error.db_error().is_some_and(|db| {
        db.code() == &SqlState::UNIQUE_VIOLATION
            && db.constraint() == Some("prospect_external_id_unique")
    })
}

/// Whether the database refused the data itself (a constraint or a bad value), so that the
/// same rows would fail again and must be isolated.
fn is_row_fault(error: &DbError) -> bool {
    error
        .sql_state()
        .is_some_and(|state| matches!(state.code().get(..2), Some("23" | "22")))
}

async fn copy_companies(
    transaction: &Transaction<'_>,
    companies: &BTreeMap<&str, CompanyRow>,
) -> Result<(), DbError> {
    let sink = transaction
        .copy_in(&format!(
            "COPY ingest_company_stage ({COMPANY_COLUMNS}) FROM STDIN (FORMAT binary)"
        ))
        .await?;
    let writer = BinaryCopyInWriter::new(sink, &COMPANY_TYPES);
    pin_mut!(writer);
    for company in companies.values() {
        writer.as_mut().write(&company.sql_values()).await?;
    }
    writer.finish().await?;
    Ok(())
}

async fn copy_prospects(transaction: &Transaction<'_>, rows: &[StagedRow]) -> Result<(), DbError> {
    let sink = transaction
        .copy_in(&format!(
            "COPY ingest_prospect_stage (company_domain, {PROSPECT_COLUMNS}) FROM STDIN (FORMAT binary)"
        ))
        .await?;
    let writer = BinaryCopyInWriter::new(sink, &PROSPECT_TYPES);
    pin_mut!(writer);
    // One buffer of parameters for all rows: no allocation per row.
    let mut values: Vec<&(dyn ToSql + Sync)> = Vec::with_capacity(PROSPECT_TYPES.len());
    for staged in rows {
        let row = &staged.record;
        values.clear();
        values.push(&row.company.domain);
        values.extend(row.sql_values());
        writer.as_mut().write(&values).await?;
    }
    writer.finish().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn staged(row: u64, external_id: &str, domain: &str, company: CompanyRow) -> StagedRow {
        StagedRow {
            row,
            record: ProspectRow {
                external_source: "csv".into(),
                external_id: external_id.into(),
                salutation: None,
                first_name: None,
                last_name: None,
                email: format!("x@{domain}"),
                job_title: None,
                job_title_level: None,
                department: None,
                job_title_link: None,
                address: None,
                city: None,
                state: None,
                country: None,
                zip_code: None,
                phone: None,
                mobile_phone: None,
                tags: Vec::new(),
                custom_fields: serde_json::json!({}),
                company: CompanyRow {
                    domain: domain.into(),
                    ..company
                },
            },
        }
    }

    #[test]
    fn later_non_empty_company_values_win_within_a_batch() {
        let rows = [
            staged(
                1,
                "a",
                "acme.com",
                CompanyRow {
                    name: Some("Acme".into()),
                    industry: Some("Software".into()),
                    min_employees: Some(1),
                    max_employees: Some(10),
                    ..Default::default()
                },
            ),
            staged(
                2,
                "b",
                "acme.com",
                CompanyRow {
                    name: Some("Acme Inc".into()),
                    max_employees: Some(50),
                    ..Default::default()
                },
            ),
            staged(3, "c", "beta.io", CompanyRow::default()),
        ];
        let companies = companies_of(&rows);
        assert_eq!(
            companies.keys().copied().collect::<Vec<_>>(),
            ["acme.com", "beta.io"]
        );
        let acme = &companies["acme.com"];
        assert_eq!(acme.name.as_deref(), Some("Acme Inc"));
        assert_eq!(acme.industry.as_deref(), Some("Software"));
        // The employee range is a pair: the later row's range replaces both bounds.
        assert_eq!((acme.min_employees, acme.max_employees), (None, Some(50)));
    }

    /// A row of acme.com with no company values.
    fn plain(row: u64, external_id: &str) -> StagedRow {
        staged(row, external_id, "acme.com", CompanyRow::default())
    }

    #[test]
    fn a_split_keeps_each_company_in_one_part_and_the_input_order() {
        let rows: Vec<StagedRow> = (0..3_000u64)
            .map(|n| {
                staged(
                    n,
                    &format!("p{n}"),
                    &format!("firm{}.com", n % 97),
                    CompanyRow::default(),
                )
            })
            .collect();
        // One write connection: the batch stays whole.
        let whole = split_by_company(rows, 1);
        assert_eq!(whole.len(), 1);
        let parts = split_by_company(whole.into_iter().flatten().collect(), 2);
        assert_eq!(parts.len(), 2);
        assert_eq!(parts.iter().map(Vec::len).sum::<usize>(), 3_000);
        let domains: Vec<HashSet<&str>> = parts
            .iter()
            .map(|part| {
                part.iter()
                    .map(|row| row.record.company.domain.as_str())
                    .collect()
            })
            .collect();
        assert!(domains[0].is_disjoint(&domains[1]));
        for part in &parts {
            assert!(part.windows(2).all(|pair| pair[0].row < pair[1].row));
        }
        // Small batches stay whole.
        let small = split_by_company(vec![plain(1, "a"), plain(2, "b")], 2);
        assert_eq!(small.len(), 1);
    }

    #[test]
    fn a_repeated_prospect_starts_a_new_batch() {
        let mut batcher = Batcher::new(10);
        assert!(batcher.push(plain(1, "a")).is_none());
        assert!(batcher.push(plain(2, "b")).is_none());
        let first = batcher
            .push(plain(3, "a"))
            .expect("the repeat closes the batch");
        assert_eq!(first.rows.len(), 2);
        let last = batcher.finish().expect("one row left");
        assert_eq!(last.rows[0].row, 3);
    }

    #[test]
    fn batches_close_when_full_and_rejections_are_counted() {
        let mut batcher = Batcher::new(2);
        assert!(
            batcher
                .reject(vec![RowError::default(), RowError::default()])
                .is_some()
        );
        assert!(batcher.push(plain(2, "a")).is_none());
        let full = batcher
            .push(plain(3, "b"))
            .expect("two rows fill the batch");
        assert_eq!(full.rows.len(), 2);
        assert!(batcher.finish().is_none());
    }
}
