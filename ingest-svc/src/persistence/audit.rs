//! The privacy audit log (`privacy_audit`): its vocabulary of actions and the statements that
//! append to it, in the transaction of the change they record. A record holds ids, hashes,
//! domains and the vocabulary of reasons and policies only: never an email, name or phone.

use svc_core::DbError;

use crate::suppression::{Policy, Reason};

/// Records of suppression changes, one row per element of the arrays.
const INSERT_ENTRY_RECORDS: &str = "INSERT INTO privacy_audit \
     (organization_id, api_key_id, action, suppression_id, email_hmac, domain, reason, policy) \
     SELECT $1, $2, a.action, a.suppression_id, a.email_hmac, a.domain, a.reason, a.policy \
     FROM unnest($3::text[], $4::int8[], $5::bytea[], $6::text[], $7::text[], $8::text[]) \
     AS a(action, suppression_id, email_hmac, domain, reason, policy)";

/// The record of an access request or an erasure.
const INSERT_PERSON_RECORD: &str = "INSERT INTO privacy_audit \
     (organization_id, api_key_id, action, suppression_id, email_hmac, reason, policy, \
      prospect_ids, legacy_customer_ids) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

/// What a record says happened (`privacy_audit.action`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    SuppressionAdded,
    SuppressionUpdated,
    SuppressionRemoved,
    /// ExportPersonData disclosed what the organization holds about a person.
    PersonExported,
    /// ErasePerson deleted a person.
    PersonErased,
    /// MergeProspects joined prospects (the survivor first).
    ProspectsMerged,
    /// UnmergeProspect restored a merged prospect (the survivor, then the restored one).
    ProspectUnmerged,
}

impl Action {
    pub fn as_stored(self) -> &'static str {
        match self {
            Action::SuppressionAdded => "suppression_added",
            Action::SuppressionUpdated => "suppression_updated",
            Action::SuppressionRemoved => "suppression_removed",
            Action::PersonExported => "person_exported",
            Action::PersonErased => "person_erased",
            Action::ProspectsMerged => "prospects_merged",
            Action::ProspectUnmerged => "prospect_unmerged",
        }
    }
}

/// The columns of a suppression entry's subject: (email_hmac, domain).
pub type StoredSubject = (Option<Vec<u8>>, Option<String>);

/// Records of suppression changes, gathered as columns and written in one statement.
#[derive(Default)]
pub struct EntryRecords {
    actions: Vec<&'static str>,
    ids: Vec<i64>,
    hashes: Vec<Option<Vec<u8>>>,
    domains: Vec<Option<String>>,
    reasons: Vec<&'static str>,
    policies: Vec<&'static str>,
}

impl EntryRecords {
    pub fn push(
        &mut self,
        action: Action,
        id: i64,
        subject: &StoredSubject,
        reason: Reason,
        policy: Policy,
    ) {
        self.actions.push(action.as_stored());
        self.ids.push(id);
        self.hashes.push(subject.0.clone());
        self.domains.push(subject.1.clone());
        self.reasons.push(reason.as_stored());
        self.policies.push(policy.as_stored());
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    pub async fn write(
        &self,
        transaction: &tokio_postgres::Transaction<'_>,
        organization_id: i64,
        api_key_id: i64,
    ) -> Result<(), DbError> {
        if self.is_empty() {
            return Ok(());
        }
        transaction
            .execute(
                INSERT_ENTRY_RECORDS,
                &[
                    &organization_id,
                    &api_key_id,
                    &self.actions,
                    &self.ids,
                    &self.hashes,
                    &self.domains,
                    &self.reasons,
                    &self.policies,
                ],
            )
            .await?;
        Ok(())
    }
}

/// The record of an access request or an erasure: the person by the email's keyed hash (none
/// for a prospect without email), and what was disclosed or deleted by id.
pub struct PersonRecord<'a> {
    pub action: Action,
    pub email_hmac: Option<&'a [u8]>,
    /// The entry an erasure left (reason and policy are that entry's).
    pub suppression: Option<(i64, Reason, Policy)>,
    pub prospect_ids: &'a [i64],
    pub legacy_customer_ids: &'a [i64],
}

impl PersonRecord<'_> {
    pub async fn write(
        &self,
        transaction: &tokio_postgres::Transaction<'_>,
        organization_id: i64,
        api_key_id: i64,
    ) -> Result<(), DbError> {
        let (suppression_id, reason, policy) = match self.suppression {
            Some((id, reason, policy)) => {
                (Some(id), Some(reason.as_stored()), Some(policy.as_stored()))
            }
            None => (None, None, None),
        };
        transaction
            .execute(
                INSERT_PERSON_RECORD,
                &[
                    &organization_id,
                    &api_key_id,
                    &self.action.as_stored(),
                    &suppression_id,
                    &self.email_hmac,
                    &reason,
                    &policy,
                    &self.prospect_ids,
                    &self.legacy_customer_ids,
                ],
            )
            .await?;
        Ok(())
    }
}
