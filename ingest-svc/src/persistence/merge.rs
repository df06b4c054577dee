//! MergeProspects and UnmergeProspect: prospects that are one person without sharing an
//! address joined into one, and a merge undone by a source link it moved, each in one
//! transaction with its audit record (ids only).
//!
//! A merge keeps a record (`prospect_merge`) of the merged prospect's row, the survivor's row
//! before, and the links and addresses that moved; the survivor takes the merged prospect's
//! links, its addresses (as aliases identity finds the person by) and, column by column, the
//! values that survive by the rules ([`super::sql::Statements::combine_prospects`]). Undoing it
//! inserts the merged row again under its id, moves its links and addresses back, and gives the
//! survivor back the values the moved links supplied.

use lma_proto::v1::Prospect;
use svc_core::DbError;

use super::audit::{Action, PersonRecord};
use super::sql::SQL;
use super::store::{Store, begin_write, consistency_token, prospect_from_row};

/// How a merge ended.
pub enum MergeOutcome {
    Merged {
        prospect: Box<Prospect>,
        consistency_token: String,
    },
    /// These ids name no prospect of the organization; nothing was written.
    Missing(Vec<i64>),
}

/// What an unmerge did.
pub struct Unmerged {
    pub survivor_id: i64,
    pub restored_id: i64,
    pub consistency_token: String,
}

impl Store {
    /// Merges the prospects `others` into `survivor` (distinct ids, checked by the caller).
    pub async fn merge_prospects(
        &self,
        organization_id: i64,
        api_key_id: i64,
        survivor: i64,
        others: &[i64],
    ) -> Result<MergeOutcome, DbError> {
        let mut client = self.pool.get().await?;
        let transaction = begin_write(&mut client).await?;
        let mut ids = others.to_vec();
        ids.push(survivor);
        let locked = transaction
            .query(SQL.lock_prospects.as_str(), &[&organization_id, &ids])
            .await?;
        let mut emails = std::collections::HashMap::with_capacity(locked.len());
        for row in &locked {
            emails.insert(row.try_get::<_, i64>(0)?, row.try_get::<_, String>(1)?);
        }
        let missing: Vec<i64> = ids
            .iter()
            .copied()
            .filter(|id| !emails.contains_key(id))
            .collect();
        if !missing.is_empty() {
            return Ok(MergeOutcome::Missing(missing));
        }
        for other in others {
            let key: [&(dyn tokio_postgres::types::ToSql + Sync); 3] =
                [&organization_id, &survivor, other];
            transaction
                .query_one(SQL.record_merge.as_str(), &key)
                .await?;
            transaction
                .execute(SQL.combine_prospects.as_str(), &key)
                .await?;
            transaction.execute(SQL.move_links.as_str(), &key).await?;
            transaction.execute(SQL.move_merges.as_str(), &key).await?;
            transaction.execute(SQL.move_aliases.as_str(), &key).await?;
            self.delete_prospects(&transaction, organization_id, &[*other])
                .await?;
            if let Some(email) = emails.get(other) {
                transaction
                    .execute(
                        SQL.add_alias.as_str(),
                        &[&organization_id, &survivor, email],
                    )
                    .await?;
            }
        }
        let mut recorded = vec![survivor];
        recorded.extend_from_slice(others);
        PersonRecord {
            action: Action::ProspectsMerged,
            email_hmac: None,
            suppression: None,
            prospect_ids: &recorded,
            legacy_customer_ids: &[],
        }
        .write(&transaction, organization_id, api_key_id)
        .await?;
        let consistency_token = consistency_token(&transaction, true).await?;
        let row = transaction
            .query_one(SQL.select_prospect.as_str(), &[&organization_id, &survivor])
            .await?;
        let prospect = prospect_from_row(&row)?;
        transaction.commit().await?;
        Ok(MergeOutcome::Merged {
            prospect: Box::new(prospect),
            consistency_token,
        })
    }

    /// Undoes the latest merge that moved the source link `(source, id)`; `None` when no
    /// merge of the organization moved it (or its survivor is gone).
    pub async fn unmerge_prospect(
        &self,
        organization_id: i64,
        api_key_id: i64,
        source: &str,
        id: &str,
    ) -> Result<Option<Unmerged>, DbError> {
        let mut client = self.pool.get().await?;
        let transaction = begin_write(&mut client).await?;
        let Some(record) = transaction
            .query_opt(SQL.find_merge.as_str(), &[&organization_id, &source, &id])
            .await?
        else {
            return Ok(None);
        };
        let record_id: i64 = record.try_get(0)?;
        let survivor_id: i64 = record.try_get(1)?;
        let merged_id: i64 = record.try_get(2)?;
        let merged: serde_json::Value = record.try_get(3)?;
        let before: serde_json::Value = record.try_get(4)?;
        let link_sources: Vec<String> = record.try_get(5)?;
        let link_ids: Vec<String> = record.try_get(6)?;
        let addresses: Vec<String> = record.try_get(7)?;
        transaction
            .query(
                SQL.lock_prospects.as_str(),
                &[&organization_id, &vec![survivor_id]],
            )
            .await?;
        let text = |value: &serde_json::Value, field: &str| {
            value
                .get(field)
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        // The survivor's own address back, if a record made the merged one its address.
        transaction
            .execute(
                SQL.restore_survivor_email.as_str(),
                &[
                    &organization_id,
                    &survivor_id,
                    &text(&before, "email"),
                    &text(&merged, "email"),
                ],
            )
            .await?;
        transaction
            .execute(
                SQL.remove_aliases.as_str(),
                &[&organization_id, &survivor_id, &addresses],
            )
            .await?;
        let unlinked = transaction
            .query(
                SQL.unlink_keys.as_str(),
                &[&organization_id, &survivor_id, &link_sources, &link_ids],
            )
            .await?;
        let (sources, ids): (Vec<String>, Vec<String>) = unlinked
            .iter()
            .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
            .collect::<Result<Vec<(String, String)>, DbError>>()?
            .into_iter()
            .unzip();
        transaction
            .query_one(SQL.restore_prospect.as_str(), &[&organization_id, &merged])
            .await?;
        transaction
            .execute(
                SQL.relink_keys.as_str(),
                &[&organization_id, &merged_id, &sources, &ids],
            )
            .await?;
        // The merged prospect's own other addresses (the first is its email).
        for address in addresses.iter().skip(1) {
            transaction
                .execute(
                    SQL.add_alias.as_str(),
                    &[&organization_id, &merged_id, address],
                )
                .await?;
        }
        transaction
            .execute(
                SQL.revert_survivor.as_str(),
                &[&organization_id, &before, &sources, &ids],
            )
            .await?;
        transaction
            .execute(SQL.delete_merge.as_str(), &[&record_id])
            .await?;
        PersonRecord {
            action: Action::ProspectUnmerged,
            email_hmac: None,
            suppression: None,
            prospect_ids: &[survivor_id, merged_id],
            legacy_customer_ids: &[],
        }
        .write(&transaction, organization_id, api_key_id)
        .await?;
        let consistency_token = consistency_token(&transaction, true).await?;
        transaction.commit().await?;
        Ok(Some(Unmerged {
            survivor_id,
            restored_id: merged_id,
            consistency_token,
        }))
    }
}
