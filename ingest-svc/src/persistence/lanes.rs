//! A batch over several connections ("lanes"): split by company domain, each part written
//! atomically in its own transaction, the parts at once. A part the database refuses for one
//! bad row is written again row by row, so that only the bad rows are rejected.

use std::hash::BuildHasher;

use lma_proto::v1::{RowError, WriteOutcome};
use svc_core::DbError;
use svc_core::db::{DbOperation, PooledClient};
use tokio_postgres::error::SqlState;

use super::batch::{Attempt, ImportMemory, PROSPECT_IDENTITY, Part, try_write_part};
use super::identity::EMAIL_OF_ANOTHER_PROSPECT;
use super::retry::Retry;
use super::store::{Store, UpsertError};
use super::{BatchOutcome, ScreenedRows, StagedRow};
use crate::abort::Abort;

/// Batches smaller than this are written in one transaction: splitting them would cost more
/// round trips than it saves.
const MIN_ROWS_TO_SPLIT: usize = 1_000;

/// How long a batch waits for a pooled connection. Longer than the pool's own wait (meant for
/// short requests): concurrent imports of shared companies queue behind each other's
/// transactions, and an import that waits its turn beats one that fails.
const BATCH_CONNECTION_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// How a batch is written.
#[derive(Clone, Copy, Debug)]
pub struct BatchOptions {
    /// Dual ingestion into `customer`.
    pub mirror: bool,
    /// Connections a batch is written over at once ([`split_by_company`]).
    pub write_connections: usize,
}

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
        let hash = foldhash::fast::FixedState::default().hash_one(&row.record.company.domain);
        let part = (hash % parts as u64) as usize;
        split[part].push(row);
    }
    split.retain(|part| !part.is_empty());
    split
}

/// How writing one part ended.
enum PartWrite {
    Written(BatchOutcome),
    /// The database refused a row of the part; its rows must be written one by one.
    RowFault(DbError),
    /// The write was aborted; the part was rolled back and its connection closed.
    Aborted,
}

/// Whether a plain insert of a prospect the part had found missing met one that another writer
/// inserted meanwhile (the same key, or the same email: the same person from another part or
/// import): written again, the part merges into that row instead. Never a row fault.
fn is_concurrent_insert(error: &DbError) -> bool {
    error.db_error().is_some_and(|db| {
        db.code() == &SqlState::UNIQUE_VIOLATION
            && db
                .constraint()
                .is_some_and(|name| PROSPECT_IDENTITY.contains(&name))
    })
}

/// Whether the database refused the data itself (a constraint or a bad value), so that the
/// same rows would fail again and must be isolated.
fn is_row_fault(error: &DbError) -> bool {
    error
        .sql_state()
        .is_some_and(|state| matches!(state.code().get(..2), Some("23" | "22")))
}

impl Store {
    /// Writes one batch of screened rows: its parts ([`split_by_company`]) concurrently, each
    /// atomically in its own transaction on its own connection, under the suppression lock and
    /// screened again when the list changed since `rows` were screened. Extra connections are
    /// only taken when the pool has them free at once and to spare: holding one connection
    /// while waiting for another could starve concurrent imports, so parts without a
    /// connection of their own wait for one that is already held.
    pub async fn write_batch(
        &self,
        organization_id: i64,
        rows: ScreenedRows,
        options: BatchOptions,
        abort: &Abort,
        memory: &ImportMemory,
    ) -> Result<BatchOutcome, DbError> {
        let version = rows.version;
        let parts: Vec<Part> = split_by_company(rows.rows, options.write_connections)
            .into_iter()
            .map(|rows| Part::new(ScreenedRows { rows, version }))
            .collect();
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
        let mut lanes: Vec<Vec<Part>> = clients.iter().map(|_| Vec::new()).collect();
        for (index, part) in parts.into_iter().enumerate() {
            lanes[index % clients.len()].push(part);
        }
        let written = futures_util::future::join_all(clients.into_iter().zip(lanes).map(
            |(client, parts)| {
                self.write_lane(
                    client,
                    organization_id,
                    parts,
                    options.mirror,
                    abort,
                    memory,
                )
            },
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
        parts: Vec<Part>,
        mirror: bool,
        abort: &Abort,
        memory: &ImportMemory,
    ) -> Result<BatchOutcome, DbError> {
        let mut outcome = BatchOutcome::default();
        let mut client = Some(client);
        for mut part in parts {
            if abort.is_aborted() {
                outcome.aborted = true;
                break;
            }
            let held = match client.as_mut() {
                Some(held) => held,
                None => client.insert(self.pool.get().await?),
            };
            match self
                .write_part(held, organization_id, &mut part, mirror, abort, memory)
                .await?
            {
                PartWrite::Written(written) => outcome.absorb(written),
                PartWrite::RowFault(error) => {
                    tracing::info!(%error, rows = part.rows().len(), "batch rejected; writing its rows one by one");
                    // The row-by-row writes take connections of their own: free this one.
                    client = None;
                    outcome.absorb(
                        self.write_rows_one_by_one(organization_id, part.rows(), mirror, abort)
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
            // Rows a second screening refused: rejected like those the first one refused.
            outcome.rejected_records += part.refused.len() as u64;
            outcome.rejected.append(&mut part.refused);
        }
        Ok(outcome)
    }

    /// Writes one part atomically, retrying deadlocks, serialization failures, prospects
    /// inserted and companies deleted meanwhile. When the database rejects the part for one
    /// bad row (a constraint the validation could not see, such as a company external id
    /// already used by another domain), says so, so that only the bad rows are rejected, each
    /// with the database's reason.
    async fn write_part(
        &self,
        client: &mut PooledClient,
        organization_id: i64,
        part: &mut Part,
        mirror: bool,
        abort: &Abort,
        memory: &ImportMemory,
    ) -> Result<PartWrite, DbError> {
        let mut retry = Retry::new("batch");
        loop {
            if client.is_closed() {
                *client = self.pool.get().await?;
            }
            let attempted = svc_core::db::traced(
                DbOperation::new("COPY MERGE", "prospect"),
                try_write_part(self, client, organization_id, part, mirror, abort, memory),
            );
            // `None`: a company of the part was deleted meanwhile.
            let conflict = match attempted.await {
                Ok(Attempt::Written(outcome)) => return Ok(PartWrite::Written(outcome)),
                Ok(Attempt::Aborted) => return Ok(PartWrite::Aborted),
                Ok(Attempt::Vanished) => None,
                // Not a conflict: written again at once, merged.
                Ok(Attempt::MetStoredRows(table)) => {
                    memory.met_stored(table);
                    continue;
                }
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
            // The ids this import remembered for the part's companies may be what failed.
            memory.forget(part.rows());
            if abort.is_aborted() {
                return Ok(PartWrite::Aborted);
            }
            let why: &(dyn std::fmt::Display + Sync) = match &conflict {
                Some(error) => error,
                None => &"a company or prospect of the batch was deleted meanwhile",
            };
            if !retry.again(why).await {
                return Err(match conflict {
                    Some(error) => error,
                    None => DbError::Conflict(format!(
                        "companies or prospects of the batch were deleted during {} attempts",
                        retry.attempts()
                    )),
                });
            }
        }
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
                        WriteOutcome::Inserted => outcome.inserted += 1,
                        WriteOutcome::Updated => outcome.updated += 1,
                        _ => outcome.unchanged += 1,
                    }
                    match upserted.company_outcome {
                        WriteOutcome::Inserted => outcome.companies_created += 1,
                        WriteOutcome::Updated => outcome.companies_updated += 1,
                        _ => {}
                    }
                    outcome.consistency_token = Some(upserted.consistency_token);
                }
                Err(UpsertError::Suppressed(field, reason)) => {
                    outcome.rejected_records += 1;
                    outcome.rejected.push(RowError {
                        row: staged.row,
                        external_id: staged.record.external_id.clone(),
                        field: field.to_owned(),
                        reason: crate::suppression::refusal_reason(reason),
                    });
                }
                Err(UpsertError::EmailOfAnotherProspect) => {
                    outcome.rejected_records += 1;
                    outcome.rejected.push(RowError {
                        row: staged.row,
                        external_id: staged.record.external_id.clone(),
                        field: "email".to_owned(),
                        reason: EMAIL_OF_ANOTHER_PROSPECT.to_owned(),
                    });
                }
                Err(UpsertError::Db(error)) if is_row_fault(&error) => {
                    outcome.rejected_records += 1;
                    outcome.rejected.push(RowError {
                        row: staged.row,
                        external_id: staged.record.external_id.clone(),
                        field: String::new(),
                        reason: crate::error::row_reason(error),
                    });
                }
                Err(UpsertError::Db(error)) => return Err(error),
            }
        }
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::persistence::{plain, staged};
    use crate::validate::CompanyRow;

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
}
