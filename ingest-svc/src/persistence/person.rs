//! One person across the organization's data, found by email address: what ExportPersonData
//! discloses (prospects, legacy `customer` rows, suppression entries) and what ErasePerson
//! deletes, each in one transaction with its audit record.
//!
//! A person is one prospect per address ([`super::identity`]); its source links go with it
//! (`ON DELETE CASCADE`). The reads and deletes still take every prospect of the address, so
//! they hold whatever the schema allows.

use std::collections::HashMap;

use lma_proto::v1::{LegacyCustomer, Prospect, Suppression};
use svc_core::DbError;
use tokio_postgres::Row;

use super::audit::{Action, EntryRecords, PersonRecord};
use super::columns::CUSTOMER;
use super::sql::SQL;
use super::store::{
    Store, begin_snapshot_write, begin_write, consistency_token, prospect_from_row,
};
use super::suppression::{
    ENTRIES_OF, lock_list, stored_subject, suppression_from_row, write_entries,
};
use crate::suppression::{self, EmailKey, Person};
use crate::{normalize, values};

/// Every address of the prospects `$2`: their own and those of prospects merged into them.
const ADDRESSES_OF_PROSPECTS: &str = "SELECT email FROM prospect \
     WHERE organization_id = $1 AND id = ANY($2::int8[]) \
     UNION SELECT email FROM prospect_email_alias \
     WHERE organization_id = $1 AND prospect_id = ANY($2::int8[])";

/// The address of a prospect named by id, locked for the erasure.
const EMAIL_OF_PROSPECT: &str =
    "SELECT email FROM prospect WHERE organization_id = $1 AND id = $2 FOR UPDATE";

/// What the organization holds about a person.
pub struct PersonData {
    pub prospects: Vec<Prospect>,
    pub legacy_customers: Vec<LegacyCustomer>,
    /// The entries of the address and of its domains: the person's suppression state.
    pub suppressions: Vec<Suppression>,
}

/// What an erasure deleted and left.
pub struct Erased {
    pub prospect_ids: Vec<i64>,
    pub legacy_customers: u64,
    /// The ERASED entry of the address; none for a prospect without one.
    pub suppression_id: Option<i64>,
    pub consistency_token: String,
}

/// A legacy row as ExportPersonData shows it, from a row of `select_customers_by_email`:
/// the id, the key, then every other non-empty column by name.
fn legacy_customer_from_row(row: &Row) -> Result<LegacyCustomer, DbError> {
    let mut customer = LegacyCustomer {
        id: row.try_get::<_, i64>(0)?.to_string(),
        ..LegacyCustomer::default()
    };
    let mut columns = HashMap::new();
    for (offset, name) in CUSTOMER.exported().enumerate() {
        let Some(value) = row.try_get::<_, Option<String>>(1 + offset)? else {
            continue;
        };
        match name {
            "external_source" => customer.external_source = value,
            "external_id" => customer.external_id = value,
            _ if value.trim().is_empty() => {}
            _ => {
                columns.insert(name.to_owned(), value);
            }
        }
    }
    customer.columns = columns;
    Ok(customer)
}

/// The form a stored address is matched and hashed in: as ingest normalizes it, or, for a
/// row stored before emails were checked, trimmed and lower-cased. `None`: no address.
fn stored_email(stored: &str) -> Option<String> {
    let trimmed = stored.trim();
    if trimmed.is_empty() {
        return None;
    }
    Some(values::normalize_email(trimmed).unwrap_or_else(|_| trimmed.to_lowercase()))
}

impl Store {
    /// Everything the organization holds about the person with the normalized address
    /// `email`, read in one snapshot, with the audit record of the disclosure in the same
    /// transaction; `None` (and no record) when nothing is held and nothing is suppressed.
    pub async fn export_person(
        &self,
        organization_id: i64,
        api_key_id: i64,
        email: &str,
        candidate_key: &EmailKey,
    ) -> Result<Option<PersonData>, DbError> {
        // The audit record names the person by hash, so the secret is made if need be.
        let key = self.email_key(organization_id, Some(candidate_key)).await?;
        let hash = key.as_ref().map(|key| key.hash(email));
        let mut client = self.pool.get().await?;
        let transaction = begin_snapshot_write(&mut client).await?;
        let rows = transaction
            .query(
                SQL.select_prospects_by_email.as_str(),
                &[&organization_id, &email],
            )
            .await?;
        let mut prospect_ids = Vec::with_capacity(rows.len());
        let mut prospects = Vec::with_capacity(rows.len());
        for row in &rows {
            // The prospect's id comes first; its company's `id` follows.
            prospect_ids.push(row.try_get::<_, i64>(0)?);
            prospects.push(prospect_from_row(row)?);
        }
        let rows = transaction
            .query(
                SQL.select_customers_by_email.as_str(),
                &[&organization_id, &email],
            )
            .await?;
        let mut legacy_customer_ids = Vec::with_capacity(rows.len());
        let mut legacy_customers = Vec::with_capacity(rows.len());
        for row in &rows {
            legacy_customer_ids.push(row.try_get::<_, i64>(0)?);
            legacy_customers.push(legacy_customer_from_row(row)?);
        }
        // Every entry that would refuse this person's rows: the address, its company domain,
        // and the domains of the companies its prospects belong to.
        let mut domains: Vec<String> = normalize::domain_of_email(email)
            .ok()
            .into_iter()
            .chain(
                prospects
                    .iter()
                    .filter_map(|p| p.company.as_ref().map(|c| c.domain.clone())),
            )
            .collect();
        domains.sort_unstable();
        domains.dedup();
        let suppressions = transaction
            .query(ENTRIES_OF.as_str(), &[&organization_id, &hash, &domains])
            .await?
            .iter()
            .map(suppression_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        if prospects.is_empty() && legacy_customers.is_empty() && suppressions.is_empty() {
            // Nothing disclosed, nothing recorded: the transaction rolls back.
            return Ok(None);
        }
        PersonRecord {
            action: Action::PersonExported,
            email_hmac: hash.as_deref(),
            suppression: None,
            prospect_ids: &prospect_ids,
            legacy_customer_ids: &legacy_customer_ids,
        }
        .write(&transaction, organization_id, api_key_id)
        .await?;
        transaction.commit().await?;
        Ok(Some(PersonData {
            prospects,
            legacy_customers,
            suppressions,
        }))
    }

    /// Erases a person in one transaction, under the organization's suppression lock: every
    /// prospect with the address (or the named prospect and every other with its address),
    /// their `customer` mirrors, the legacy rows with the address, then the address listed
    /// ERASED / REFUSE, with the audit records. `None` (nothing written) when the
    /// organization holds nothing of that person.
    pub async fn erase_person(
        &self,
        organization_id: i64,
        api_key_id: i64,
        person: &Person,
        candidate_key: &EmailKey,
    ) -> Result<Option<Erased>, DbError> {
        let key = self.email_key(organization_id, Some(candidate_key)).await?;
        let mut client = self.pool.get().await?;
        let transaction = begin_write(&mut client).await?;
        lock_list(&transaction, organization_id).await?;
        let (email, named) = match person {
            Person::Email(email) => (Some(email.clone()), None),
            Person::Prospect(id) => {
                let Some(row) = transaction
                    .query_opt(EMAIL_OF_PROSPECT, &[&organization_id, id])
                    .await?
                else {
                    return Ok(None);
                };
                (stored_email(row.try_get(0)?), Some(*id))
            }
        };
        let ids: Vec<i64> = transaction
            .query(
                SQL.lock_person_prospects.as_str(),
                &[&organization_id, &email, &named],
            )
            .await?
            .iter()
            .map(|row| row.try_get(0))
            .collect::<Result<_, _>>()?;
        // The person's every address (a merged person has several), the named one first: each
        // is listed so that none brings the person back.
        let mut addresses: Vec<String> = email.iter().cloned().collect();
        for row in transaction
            .query(ADDRESSES_OF_PROSPECTS, &[&organization_id, &ids])
            .await?
        {
            if let Some(address) = stored_email(row.try_get(0)?)
                && !addresses.contains(&address)
            {
                addresses.push(address);
            }
        }
        let deleted = self
            .delete_prospects(&transaction, organization_id, &ids)
            .await?;
        let mut legacy_customer_ids = deleted.customer_ids;
        for address in &addresses {
            for row in transaction
                .query(
                    SQL.delete_customers_by_email.as_str(),
                    &[&organization_id, address],
                )
                .await?
            {
                legacy_customer_ids.push(row.try_get(0)?);
            }
        }
        if deleted.prospect_ids.is_empty() && legacy_customer_ids.is_empty() {
            return Ok(None);
        }
        legacy_customer_ids.sort_unstable();

        // The entry that keeps the address from coming back, and the records of it all.
        let mut records = EntryRecords::default();
        let entries: Vec<_> = addresses
            .into_iter()
            .map(suppression::erasure_entry)
            .collect();
        let subjects: Vec<_> = entries
            .iter()
            .map(|entry| stored_subject(key.as_ref(), &entry.subject))
            .collect();
        let written = write_entries(
            &transaction,
            organization_id,
            &subjects,
            &entries,
            &mut records,
        )
        .await?;
        // The record and the answer name the first address's entry.
        let (hash, suppression) = match (subjects.first(), entries.first()) {
            (Some(subject), Some(entry)) => (
                subject.0.clone(),
                written
                    .ids
                    .get(subject)
                    .map(|id| (*id, entry.reason, entry.policy)),
            ),
            _ => (None, None),
        };
        records
            .write(&transaction, organization_id, api_key_id)
            .await?;
        PersonRecord {
            action: Action::PersonErased,
            email_hmac: hash.as_deref(),
            suppression,
            prospect_ids: &deleted.prospect_ids,
            legacy_customer_ids: &legacy_customer_ids,
        }
        .write(&transaction, organization_id, api_key_id)
        .await?;
        let consistency_token = consistency_token(&transaction, true).await?;
        transaction.commit().await?;
        Ok(Some(Erased {
            prospect_ids: deleted.prospect_ids,
            legacy_customers: legacy_customer_ids.len() as u64,
            suppression_id: suppression.map(|(id, _, _)| id),
            consistency_token,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_address_is_matched_as_ingest_normalizes_it() {
        assert_eq!(
            stored_email(" Jane.Doe@Acme.COM "),
            Some("jane.doe@acme.com".into())
        );
        // Not an address ingest accepts today: matched as it is stored, lower-cased.
        assert_eq!(stored_email("A..B@Acme.com"), Some("a..b@acme.com".into()));
        assert_eq!(stored_email("  "), None);
    }
}
