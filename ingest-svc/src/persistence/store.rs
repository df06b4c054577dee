//! The store: every read and write of ingest-svc's tables goes through [`Store`]. Single-row
//! writes are here; batches are in [`super::lanes`] and [`super::batch`].

use std::collections::HashMap;
use std::sync::Mutex;

use deadpool_postgres::GenericClient;
use lma_proto::v1::{Company, FieldProvenance, Prospect, ProspectRecord, SourceLink, WriteOutcome};
use svc_core::{DbError, Pool};
use tokio_postgres::types::ToSql;
use tokio_postgres::{IsolationLevel, Row};

use super::batch::{PROSPECT_IDENTITY, is_duplicate};
use super::columns::{COMPANY, CUSTOMER, PROSPECT};
use super::retry;
use super::sql::SQL;
use super::suppression::{Verdict, lock_list_shared};
use crate::suppression::{EmailKey, Reason};
use crate::validate::{CompanyRow, ProspectRow};

pub struct Store {
    pub(super) pool: Pool,
    /// Also write each stored prospect, flattened, into the legacy `customer` table.
    dual_ingest: bool,
    /// Organizations' email secrets once read: a secret never changes once made.
    email_keys: Mutex<HashMap<i64, EmailKey>>,
}

/// What an upsert stored.
pub struct UpsertedProspect {
    pub prospect: Prospect,
    pub outcome: WriteOutcome,
    pub company_outcome: WriteOutcome,
    pub consistency_token: String,
}

/// Why an UpsertProspect stored nothing.
#[derive(Debug, thiserror::Error)]
pub enum UpsertError {
    /// A suppression entry refuses the record: the field that matched, and the entry's reason.
    #[error("{field}: {reason}", field = .0, reason = crate::suppression::refusal_reason(*.1))]
    Suppressed(&'static str, Reason),
    /// The record's source link names one prospect and its email belongs to another.
    #[error("{}", super::identity::EMAIL_OF_ANOTHER_PROSPECT)]
    EmailOfAnotherProspect,
    #[error(transparent)]
    Db(#[from] DbError),
}

/// What an UpsertCompany stored.
pub struct UpsertedCompany {
    pub company: Company,
    pub outcome: WriteOutcome,
    pub consistency_token: String,
}

/// Why a company was not deleted.
pub enum DeleteCompanyOutcome {
    Deleted {
        prospects_deleted: u64,
        consistency_token: String,
    },
    NotFound,
    /// It has prospects and the caller did not ask to delete them.
    HasProspects(u64),
}

/// One legacy `customer` row as a record, with its id.
pub struct LegacyCustomer {
    pub id: i64,
    pub record: ProspectRecord,
}

/// What [`Store::delete_prospects`] deleted, by id.
#[derive(Debug, Default)]
pub struct DeletedProspects {
    pub prospect_ids: Vec<i64>,
    /// The prospects' `customer` mirrors (dual ingestion).
    pub customer_ids: Vec<i64>,
}

/// What the integrity checks after a legacy migration found.
pub struct LegacyIntegrity {
    pub prospects_without_company: u64,
    pub customers_without_prospect: u64,
}

/// Tags the transaction with its writer's trace context; the change-log rows it writes copy it
/// (`change_log.traceparent`), so that the refresh applying them can link to this trace.
const SET_TRACEPARENT: &str = "SELECT set_config('lma.traceparent', $1, true)";

/// Begins a write transaction: the one place ingest-svc does, so every write carries the
/// caller's trace context (one extra round trip, only when the call is traced and sampled).
pub(super) async fn begin_write(
    client: &mut deadpool_postgres::Client,
) -> Result<deadpool_postgres::Transaction<'_>, DbError> {
    begin(client, IsolationLevel::ReadCommitted).await
}

/// [`begin_write`] in one snapshot for every statement (REPEATABLE READ): for a write that
/// also answers with what it read, such as ExportPersonData's record of what it disclosed.
pub(super) async fn begin_snapshot_write(
    client: &mut deadpool_postgres::Client,
) -> Result<deadpool_postgres::Transaction<'_>, DbError> {
    begin(client, IsolationLevel::RepeatableRead).await
}

async fn begin(
    client: &mut deadpool_postgres::Client,
    isolation: IsolationLevel,
) -> Result<deadpool_postgres::Transaction<'_>, DbError> {
    let transaction = client
        .build_transaction()
        .isolation_level(isolation)
        .start()
        .await?;
    if let Some(traceparent) = svc_core::telemetry::current_traceparent() {
        let statement = transaction.prepare_cached(SET_TRACEPARENT).await?;
        transaction.execute(&statement, &[&traceparent]).await?;
    }
    Ok(transaction)
}

/// The consistency token of the current transaction: its own xid when it wrote, otherwise the
/// newest xid that could have written what it read.
const CONSISTENCY_TOKEN: &str = "SELECT CASE WHEN $1 THEN pg_current_xact_id()::text \
     ELSE (pg_snapshot_xmax(pg_current_snapshot())::text::numeric - 1)::text END";

/// The consistency token of `transaction` ([`CONSISTENCY_TOKEN`]), to return once it commits.
pub(super) async fn consistency_token(
    transaction: &tokio_postgres::Transaction<'_>,
    wrote: bool,
) -> Result<String, DbError> {
    Ok(transaction
        .query_one(CONSISTENCY_TOKEN, &[&wrote])
        .await?
        .try_get(0)?)
}

/// The later of two consistency tokens (transaction ids as decimal text), for a write made of
/// several transactions: waiting for the later one waits for both.
pub(super) fn later_token(a: String, b: String) -> String {
    match (a.parse::<u64>(), b.parse::<u64>()) {
        (Ok(x), Ok(y)) if x >= y => a,
        _ => b,
    }
}

impl Store {
    pub fn new(pool: Pool, dual_ingest: bool) -> Self {
        Self {
            pool,
            dual_ingest,
            email_keys: Mutex::default(),
        }
    }

    pub(super) fn cached_email_key(&self, organization_id: i64) -> Option<EmailKey> {
        let keys = self
            .email_keys
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        keys.get(&organization_id).cloned()
    }

    pub(super) fn cache_email_key(&self, organization_id: i64, key: EmailKey) {
        let mut keys = self
            .email_keys
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        keys.insert(organization_id, key);
    }

    /// Whether stored prospects are mirrored into the legacy `customer` table.
    pub fn dual_ingest(&self) -> bool {
        self.dual_ingest
    }

    /// Merges a prospect and its company in one transaction, into the prospect its source
    /// link names, else the one with its email, else a new one ([`super::identity`]). The
    /// record is screened against the suppression list in that transaction, under the list's
    /// lock: refused, nothing is written; hidden, it is written with its entry.
    pub async fn upsert_prospect(
        &self,
        organization_id: i64,
        row: &ProspectRow,
    ) -> Result<UpsertedProspect, UpsertError> {
        self.upsert_prospect_mirrored(organization_id, row, self.dual_ingest)
            .await
    }

    /// [`Store::upsert_prospect`], mirroring into `customer` only when `mirror`.
    pub(super) async fn upsert_prospect_mirrored(
        &self,
        organization_id: i64,
        row: &ProspectRow,
        mirror: bool,
    ) -> Result<UpsertedProspect, UpsertError> {
        let upserted = retry::on_conflict("upsert_prospect", || {
            self.try_upsert_prospect(organization_id, row, mirror)
        })
        .await;
        match upserted {
            Ok(upserted) => upserted,
            Err(error) => Err(UpsertError::Db(error)),
        }
    }

    /// One attempt; `Err` (with nothing written) when the record is refused or its link and
    /// email name different prospects.
    async fn try_upsert_prospect(
        &self,
        organization_id: i64,
        row: &ProspectRow,
        mirror: bool,
    ) -> Result<Result<UpsertedProspect, UpsertError>, DbError> {
        let mut client = self.pool.get().await?;
        let transaction = begin_write(&mut client).await?;
        let suppressed_by = match self
            .hold_and_screen(&transaction, organization_id, row)
            .await?
        {
            Some(Verdict::Refuse(field, reason)) => {
                return Ok(Err(UpsertError::Suppressed(field, reason)));
            }
            Some(Verdict::Hide(id)) => Some(id),
            None => None,
        };
        let screened;
        let row = if row.suppressed_by == suppressed_by {
            row
        } else {
            screened = ProspectRow {
                suppressed_by,
                ..row.clone()
            };
            &screened
        };
        let (company_id, company_outcome) =
            upsert_company(&transaction, organization_id, &row.company).await?;
        let found = transaction
            .query_one(
                SQL.resolve_prospects.as_str(),
                &[
                    &organization_id,
                    &[row.external_source.as_str()].as_slice(),
                    &[row.external_id.as_str()].as_slice(),
                    &[row.email.as_str()].as_slice(),
                ],
            )
            .await?;
        let (linked, owner): (Option<i64>, Option<i64>) = (found.try_get(0)?, found.try_get(1)?);
        let target = match (linked, owner) {
            (Some(linked), Some(owner)) if linked != owner => {
                return Ok(Err(UpsertError::EmailOfAnotherProspect));
            }
            (Some(linked), _) => Some(linked),
            (None, owner) => owner,
        };
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![&organization_id, &company_id];
        params.extend(PROSPECT.written().map(|(_, write)| (write.value)(row)));
        let written = match &target {
            None => transaction
                .query_one(SQL.insert_prospect.as_str(), &params)
                .await
                .map(|inserted| Some((inserted, WriteOutcome::Inserted))),
            Some(target) => {
                params.push(target);
                transaction
                    .query_opt(SQL.update_prospect.as_str(), &params)
                    .await
                    .map(|updated| updated.map(|updated| (updated, WriteOutcome::Updated)))
            }
        };
        let (prospect_id, outcome) = match written {
            Ok(Some((written, outcome))) => (written.try_get::<_, i64>(0)?, outcome),
            Ok(None) => (target.unwrap_or_default(), WriteOutcome::Unchanged),
            // The same person stored by another writer since the look-up: look again.
            Err(error) if is_duplicate(&error, PROSPECT_IDENTITY) => {
                return Err(DbError::Conflict(
                    "another writer stored the same person meanwhile".to_owned(),
                ));
            }
            Err(error) => return Err(error.into()),
        };
        // A record from a new source matched by its email: its key links to the person. (A new
        // prospect's own key is linked by the database.)
        if linked.is_none() && target.is_some() {
            transaction
                .execute(
                    SQL.link_keys.as_str(),
                    &[
                        &organization_id,
                        &[row.external_source.as_str()].as_slice(),
                        &[row.external_id.as_str()].as_slice(),
                        &[row.email.as_str()].as_slice(),
                        &[Some(prospect_id)].as_slice(),
                    ],
                )
                .await?;
        }
        let wrote =
            outcome != WriteOutcome::Unchanged || company_outcome != WriteOutcome::Unchanged;
        if wrote && mirror {
            transaction
                .execute(
                    SQL.mirror_prospect_to_customer.as_str(),
                    &[&organization_id, &prospect_id],
                )
                .await?;
        }
        let consistency_token = consistency_token(&transaction, wrote).await?;
        let stored = transaction
            .query_opt(
                SQL.select_prospect.as_str(),
                &[&organization_id, &prospect_id],
            )
            .await?
            // The prospect the record resolved to was deleted since the look-up: look again.
            .ok_or_else(|| DbError::Conflict("the prospect was deleted meanwhile".to_owned()))?;
        let prospect = prospect_from_row(&stored)?;
        transaction.commit().await?;
        Ok(Ok(UpsertedProspect {
            prospect,
            outcome,
            company_outcome,
            consistency_token,
        }))
    }

    /// Sets the organization's source priority (highest first); an empty list removes it.
    pub async fn set_source_priority(
        &self,
        organization_id: i64,
        sources: &[String],
    ) -> Result<(), DbError> {
        let client = self.pool.get().await?;
        if sources.is_empty() {
            client
                .execute(SQL.clear_source_priority.as_str(), &[&organization_id])
                .await?;
        } else {
            client
                .execute(
                    SQL.set_source_priority.as_str(),
                    &[&organization_id, &sources],
                )
                .await?;
        }
        Ok(())
    }

    /// The organization's source priority, highest first (empty: none).
    pub async fn source_priority(&self, organization_id: i64) -> Result<Vec<String>, DbError> {
        let client = self.pool.get().await?;
        Ok(client
            .query_opt(SQL.select_source_priority.as_str(), &[&organization_id])
            .await?
            .map(|row| row.try_get(0))
            .transpose()?
            .unwrap_or_default())
    }

    pub async fn get_prospect(
        &self,
        organization_id: i64,
        prospect_id: i64,
    ) -> Result<Option<Prospect>, DbError> {
        let client = self.pool.get().await?;
        client
            .query_opt(
                SQL.select_prospect.as_str(),
                &[&organization_id, &prospect_id],
            )
            .await?
            .map(|row| prospect_from_row(&row))
            .transpose()
    }

    /// Deletes a prospect; `None` when the organization has no such prospect.
    pub async fn delete_prospect(
        &self,
        organization_id: i64,
        prospect_id: i64,
    ) -> Result<Option<String>, DbError> {
        let mut client = self.pool.get().await?;
        let transaction = begin_write(&mut client).await?;
        let deleted = self
            .delete_prospects(&transaction, organization_id, &[prospect_id])
            .await?;
        if deleted.prospect_ids.is_empty() {
            return Ok(None);
        }
        let token = consistency_token(&transaction, true).await?;
        transaction.commit().await?;
        Ok(Some(token))
    }

    /// Deletes the organization's prospects of `ids` in `transaction`, with their `customer`
    /// mirrors when dual ingestion is on: the one delete path of DeleteProspect and
    /// ErasePerson. The capture triggers log each deletion by ids only, and refresh-svc then
    /// removes the prospects from every read model.
    pub(super) async fn delete_prospects(
        &self,
        transaction: &tokio_postgres::Transaction<'_>,
        organization_id: i64,
        ids: &[i64],
    ) -> Result<DeletedProspects, DbError> {
        let rows = transaction
            .query(SQL.delete_prospects.as_str(), &[&organization_id, &ids])
            .await?;
        let mut deleted = DeletedProspects::default();
        let mut sources = Vec::with_capacity(rows.len());
        let mut external_ids = Vec::with_capacity(rows.len());
        for row in &rows {
            deleted.prospect_ids.push(row.try_get("id")?);
            sources.push(row.try_get::<_, String>("external_source")?);
            external_ids.push(row.try_get::<_, String>("external_id")?);
        }
        if self.dual_ingest && !rows.is_empty() {
            for row in transaction
                .query(
                    SQL.delete_customers_by_key.as_str(),
                    &[&organization_id, &sources, &external_ids],
                )
                .await?
            {
                deleted.customer_ids.push(row.try_get(0)?);
            }
        }
        Ok(deleted)
    }

    /// Merges one company by domain.
    pub async fn upsert_company(
        &self,
        organization_id: i64,
        row: &CompanyRow,
    ) -> Result<UpsertedCompany, DbError> {
        retry::on_conflict("upsert_company", || {
            self.try_upsert_company(organization_id, row)
        })
        .await
    }

    async fn try_upsert_company(
        &self,
        organization_id: i64,
        row: &CompanyRow,
    ) -> Result<UpsertedCompany, DbError> {
        let mut client = self.pool.get().await?;
        let transaction = begin_write(&mut client).await?;
        lock_list_shared(&transaction, organization_id).await?;
        let (company_id, outcome) = upsert_company(&transaction, organization_id, row).await?;
        let wrote = outcome != WriteOutcome::Unchanged;
        let consistency_token = consistency_token(&transaction, wrote).await?;
        let stored = transaction
            .query_one(
                SQL.select_company.as_str(),
                &[&organization_id, &company_id],
            )
            .await?;
        let company = company_from_row(&stored, 0)?;
        transaction.commit().await?;
        Ok(UpsertedCompany {
            company,
            outcome,
            consistency_token,
        })
    }

    /// Deletes a company; its prospects too when `delete_prospects`, otherwise only when it
    /// has none. The company row is locked first, so no prospect can be attached meanwhile.
    pub async fn delete_company(
        &self,
        organization_id: i64,
        company_id: i64,
        delete_prospects: bool,
    ) -> Result<DeleteCompanyOutcome, DbError> {
        let mut client = self.pool.get().await?;
        let transaction = begin_write(&mut client).await?;
        let locked = transaction
            .query_opt(
                "SELECT 1 FROM company WHERE organization_id = $1 AND id = $2 FOR UPDATE",
                &[&organization_id, &company_id],
            )
            .await?;
        if locked.is_none() {
            return Ok(DeleteCompanyOutcome::NotFound);
        }
        let prospects: i64 = transaction
            .query_one(
                "SELECT count(*) FROM prospect WHERE organization_id = $1 AND company_id = $2",
                &[&organization_id, &company_id],
            )
            .await?
            .try_get(0)?;
        if prospects > 0 && !delete_prospects {
            return Ok(DeleteCompanyOutcome::HasProspects(prospects as u64));
        }
        if self.dual_ingest {
            transaction
                .execute(
                    "DELETE FROM customer cu USING prospect p \
                     WHERE p.organization_id = $1 AND p.company_id = $2 \
                     AND cu.organization_id = p.organization_id \
                     AND cu.external_source = p.external_source \
                     AND cu.external_id = p.external_id",
                    &[&organization_id, &company_id],
                )
                .await?;
        }
        let prospects_deleted = transaction
            .execute(
                "DELETE FROM prospect WHERE organization_id = $1 AND company_id = $2",
                &[&organization_id, &company_id],
            )
            .await?;
        transaction
            .execute(
                "DELETE FROM company WHERE organization_id = $1 AND id = $2",
                &[&organization_id, &company_id],
            )
            .await?;
        let consistency_token = consistency_token(&transaction, true).await?;
        transaction.commit().await?;
        Ok(DeleteCompanyOutcome::Deleted {
            prospects_deleted,
            consistency_token,
        })
    }

    /// A page of the organization's legacy `customer` rows after id `after`, in id order.
    pub async fn legacy_customers(
        &self,
        organization_id: i64,
        after: i64,
        limit: u32,
    ) -> Result<Vec<LegacyCustomer>, DbError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                SQL.select_customers.as_str(),
                &[&organization_id, &after, &i64::from(limit)],
            )
            .await?;
        rows.iter()
            .map(|row| {
                let mut record = ProspectRecord::default();
                CUSTOMER.read_into(row, &mut record)?;
                Ok(LegacyCustomer {
                    id: row.try_get(0)?,
                    record,
                })
            })
            .collect()
    }

    /// What a legacy migration left behind: prospects without their company, customers
    /// without a prospect of the same email.
    pub async fn legacy_integrity(&self, organization_id: i64) -> Result<LegacyIntegrity, DbError> {
        let client = self.pool.get().await?;
        let checks = client
            .query_one(
                "SELECT \
                   (SELECT count(*) FROM prospect p WHERE p.organization_id = $1 \
                      AND NOT EXISTS (SELECT 1 FROM company c WHERE c.id = p.company_id \
                                      AND c.organization_id = p.organization_id)), \
                   (SELECT count(*) FROM customer cu WHERE cu.organization_id = $1 \
                      AND NOT EXISTS (SELECT 1 FROM prospect p WHERE p.organization_id = $1 \
                                      AND lower(p.email) = lower(btrim(cu.email))))",
                &[&organization_id],
            )
            .await?;
        let count = |index: usize| -> Result<u64, DbError> {
            Ok(checks.try_get::<_, i64>(index)?.max(0) as u64)
        };
        Ok(LegacyIntegrity {
            prospects_without_company: count(0)?,
            customers_without_prospect: count(1)?,
        })
    }
}

async fn upsert_company(
    client: &impl GenericClient,
    organization_id: i64,
    company: &CompanyRow,
) -> Result<(i64, WriteOutcome), DbError> {
    let mut params: Vec<&(dyn ToSql + Sync)> = vec![&organization_id];
    params.extend(COMPANY.written().map(|(_, write)| (write.value)(company)));
    if let Some(written) = client
        .query_opt(SQL.upsert_company.as_str(), &params)
        .await?
    {
        return Ok((written.try_get(0)?, outcome_of(&written)?));
    }
    let existing = client
        .query_one(
            SQL.company_id_by_domain.as_str(),
            &[&organization_id, &company.domain],
        )
        .await?;
    Ok((existing.try_get(0)?, WriteOutcome::Unchanged))
}

fn outcome_of(written: &Row) -> Result<WriteOutcome, DbError> {
    Ok(if written.try_get::<_, bool>("inserted")? {
        WriteOutcome::Inserted
    } else {
        WriteOutcome::Updated
    })
}

/// A company read by [`COMPANY`]'s columns, starting at column `first`.
fn company_from_row(row: &Row, first: usize) -> Result<Company, DbError> {
    let mut company = Company::default();
    COMPANY.read_into(row, first, &mut company)?;
    Ok(company)
}

/// A prospect read by [`PROSPECT`]'s columns, then its company's.
pub(super) fn prospect_from_row(row: &Row) -> Result<Prospect, DbError> {
    let mut prospect = Prospect::default();
    PROSPECT.read_into(row, 0, &mut prospect)?;
    let company = company_from_row(row, PROSPECT.columns.len())?;
    prospect.company_id.clone_from(&company.id);
    prospect.company = Some(company);
    // The source links follow, as three arrays (none: NULL).
    let links = PROSPECT.columns.len() + COMPANY.columns.len();
    let sources: Vec<String> = row.try_get::<_, Option<_>>(links)?.unwrap_or_default();
    let ids: Vec<String> = row.try_get::<_, Option<_>>(links + 1)?.unwrap_or_default();
    let linked_at: Vec<std::time::SystemTime> =
        row.try_get::<_, Option<_>>(links + 2)?.unwrap_or_default();
    prospect.source_links = sources
        .into_iter()
        .zip(ids)
        .zip(linked_at)
        .map(|((external_source, external_id), linked_at)| SourceLink {
            external_source,
            external_id,
            linked_at: Some(linked_at.into()),
        })
        .collect();
    prospect.provenance = provenance(row, links + 3, &prospect)?;
    Ok(prospect)
}

/// The provenance of each value of a prospect read by [`prospect_from_row`], from `first`: the
/// columns holding a value, the stored entries, the token of its creation.
fn provenance(
    row: &Row,
    first: usize,
    prospect: &Prospect,
) -> Result<Vec<FieldProvenance>, DbError> {
    let present: Vec<String> = row.try_get(first)?;
    let entries: Option<serde_json::Value> = row.try_get(first + 1)?;
    let created_token: Option<String> = row.try_get(first + 2)?;
    let origin = |field: String| FieldProvenance {
        field,
        external_source: prospect.external_source.clone(),
        external_id: prospect.external_id.clone(),
        ingested_at: prospect.created_at,
        consistency_token: created_token.clone().unwrap_or_default(),
    };
    Ok(present
        .into_iter()
        .map(|field| {
            let Some(entry) = entries
                .as_ref()
                .and_then(|entries| entries.get(&field))
                .and_then(serde_json::Value::as_array)
            else {
                return origin(field);
            };
            let text = |index: usize| {
                entry
                    .get(index)
                    .and_then(serde_json::Value::as_str)
                    .map(str::to_owned)
            };
            // An entry without time and token was supplied by a row folded at the creation.
            let at = entry.get(2).and_then(serde_json::Value::as_f64);
            let (ingested_at, consistency_token) = match (at, text(3)) {
                (Some(seconds), Some(token)) => (Some(timestamp_of_epoch(seconds)), token),
                _ => (
                    prospect.created_at,
                    created_token.clone().unwrap_or_default(),
                ),
            };
            FieldProvenance {
                field,
                external_source: text(0).unwrap_or_default(),
                external_id: text(1).unwrap_or_default(),
                ingested_at,
                consistency_token,
            }
        })
        .collect())
}

/// A timestamp of seconds since the epoch, as PostgreSQL's `extract(epoch ...)` gives them
/// (microseconds).
fn timestamp_of_epoch(seconds: f64) -> prost_types::Timestamp {
    let whole = seconds.floor();
    let micros = ((seconds - whole) * 1e6).round().clamp(0.0, 999_999.0);
    prost_types::Timestamp {
        seconds: whole as i64,
        nanos: micros as i32 * 1000,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_later_token_is_the_larger_transaction_id_not_the_longer_text() {
        assert_eq!(later_token("998".into(), "1002".into()), "1002");
        assert_eq!(later_token("1002".into(), "998".into()), "1002");
    }
}
