//! Suppression lists in the database: the organization's email secret, adding, removing and
//! listing entries with their audit records, and screening rows to be ingested against them.
//!
//! The organization's suppression lock (`lock_suppression_list`, migration V16, the one
//! definition of its key) orders the list's changes with the writes of rows screened against it.
//! Every change (AddSuppressions, RemoveSuppression, ErasePerson) takes it exclusive, so changes
//! of one organization apply one after the other and never race on a new value; every ingest
//! write transaction takes it shared ([`Store::hold_screening`], [`Store::hold_and_screen`],
//! [`lock_list_shared`]), so no change commits while a write is under way. A change bumps the
//! list's version (a trigger on `suppression`); a write reads it under the lock and screens its
//! rows again when they were screened against an older list, so it never writes a stale
//! screening.
//!
//! Lock order: both sides take the lock with the first statement of their transaction, before
//! any row lock. A change then never waits for a row lock a write holds (no write holds one while
//! the change holds the lock), and a write waiting for the lock holds no row lock a change could
//! wait for: the two cannot deadlock.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;
use std::time::SystemTime;

use deadpool_postgres::GenericClient;
use lma_proto::v1::{RowError, Suppression, SuppressionKind};
use svc_core::DbError;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::audit::{Action, EntryRecords, StoredSubject};
use super::store::{Store, begin_write, consistency_token};
use super::{ScreenedRows, StagedRow};
use crate::normalize;
use crate::suppression::{self, EmailKey, Entry, Policy, Reason, Subject};
use crate::validate::ProspectRow;

/// Takes the organization's suppression lock (`$2`: exclusive) for the rest of the transaction
/// and reads the list's version once it is granted.
const LOCK: &str = "SELECT lock_suppression_list($1, $2)";

const SELECT_SECRET: &str = "SELECT secret FROM suppression_secret WHERE organization_id = $1";

/// Keeps a secret that another call stored first.
const INSERT_SECRET: &str = "INSERT INTO suppression_secret (organization_id, secret) \
     VALUES ($1, $2) ON CONFLICT (organization_id) DO NOTHING";

/// The entries of these values, locked for the change.
const SELECT_EXISTING: &str = "SELECT id, email_hmac, domain, reason, reason_text, policy \
     FROM suppression WHERE organization_id = $1 \
     AND (email_hmac = ANY($2::bytea[]) OR domain = ANY($3::text[])) FOR UPDATE";

const INSERT_ENTRIES: &str = "INSERT INTO suppression \
     (organization_id, email_hmac, domain, reason, reason_text, policy) \
     SELECT $1, e.email_hmac, e.domain, e.reason, e.reason_text, e.policy \
     FROM unnest($2::bytea[], $3::text[], $4::text[], $5::text[], $6::text[]) \
     AS e(email_hmac, domain, reason, reason_text, policy) \
     RETURNING id, email_hmac, domain";

const UPDATE_ENTRIES: &str = "UPDATE suppression s \
     SET reason = e.reason, reason_text = e.reason_text, policy = e.policy, updated_at = now() \
     FROM unnest($2::int8[], $3::text[], $4::text[], $5::text[]) \
     AS e(id, reason, reason_text, policy) \
     WHERE s.organization_id = $1 AND s.id = e.id";

const DELETE_ENTRY: &str = "DELETE FROM suppression WHERE organization_id = $1 AND id = $2 \
     RETURNING email_hmac, domain, reason, policy";

/// Hides the stored prospects of email hide entries (`$2` normalized emails, `$3` entry ids),
/// matched lower-cased as `prospect_organization_email_idx` has them; rows already hidden by
/// the entry are left alone, so a repeated call writes nothing.
const HIDE_PROSPECTS: &str = "UPDATE prospect p SET suppressed_by = e.id \
     FROM unnest($2::text[], $3::int8[]) AS e(email, id) \
     WHERE p.organization_id = $1 AND lower(p.email) = e.email \
     AND p.suppressed_by IS DISTINCT FROM e.id";

/// Hides the stored companies of domain hide entries (`$2` domains, `$3` entry ids). The rows
/// are locked in domain order, the order ingest's merges lock companies in, so the two cannot
/// deadlock.
const HIDE_COMPANIES: &str = "UPDATE company c SET suppressed_by = h.entry_id \
     FROM (SELECT c2.id, e.id AS entry_id FROM company c2 \
           JOIN unnest($2::text[], $3::int8[]) AS e(domain, id) ON c2.domain = e.domain \
           WHERE c2.organization_id = $1 AND c2.suppressed_by IS DISTINCT FROM e.id \
           ORDER BY c2.domain FOR UPDATE OF c2) h \
     WHERE c.id = h.id";

/// Shows again the rows that entries `$2`, now refusing, hid (`*_suppressed_by_idx`).
const SHOW_PROSPECTS: &str = "UPDATE prospect SET suppressed_by = NULL \
     WHERE organization_id = $1 AND suppressed_by = ANY($2::int8[])";
const SHOW_COMPANIES: &str = "UPDATE company SET suppressed_by = NULL \
     WHERE organization_id = $1 AND suppressed_by = ANY($2::int8[])";

/// What [`suppression_from_row`] reads.
const ENTRY_COLUMNS: &str =
    "id, email_hmac, domain, reason, reason_text, policy, created_at, updated_at";

static LIST_ENTRIES: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {ENTRY_COLUMNS} FROM suppression WHERE organization_id = $1 AND id > $2 \
         ORDER BY id LIMIT $3"
    )
});

/// The entries of an email's hash (`$2`) or of any of the domains `$3`, by id.
pub(super) static ENTRIES_OF: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {ENTRY_COLUMNS} FROM suppression WHERE organization_id = $1 \
         AND (email_hmac = $2 OR domain = ANY($3::text[])) ORDER BY id"
    )
});

/// The entries that match any of a batch's hashes or domains (at most one per value), each with
/// the list's version, read in the same snapshot; a row with no entry (`id` NULL) carries the
/// version when none matches.
const MATCHING: &str = "SELECT v.version, s.id, s.email_hmac, s.domain, s.reason, s.policy \
     FROM (SELECT coalesce((SELECT version FROM suppression_version \
                            WHERE organization_id = $1), 0) AS version) v \
     LEFT JOIN suppression s ON s.organization_id = $1 \
     AND (s.email_hmac = ANY($2::bytea[]) OR s.domain = ANY($3::text[]))";

/// What a row is looked up by: its email's hash, its company's domain, its email's company
/// domain when that differs.
type RowKeys<'a> = (Option<Vec<u8>>, &'a str, Option<String>);

/// What screening found for one row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Refused: the field that matched, and the entry's reason.
    Refuse(&'static str, Reason),
    /// Stored hidden by the hide entry of the row's email (the id). A hide entry of a domain
    /// hides the company instead (a trigger on `company`), so it gives no verdict here.
    Hide(i64),
}

fn stored_reason(stored: &str) -> Reason {
    Reason::from_stored(stored).unwrap_or(Reason::Other)
}

fn stored_policy(stored: &str) -> Policy {
    // An unknown policy (a newer release's) is treated as the stricter one.
    Policy::from_stored(stored).unwrap_or(Policy::Refuse)
}

/// Takes the organization's suppression lock exclusive for the rest of `transaction`, for a
/// change of the list: the first statement of the transaction (see the module's lock order).
pub(super) async fn lock_list(
    transaction: &tokio_postgres::Transaction<'_>,
    organization_id: i64,
) -> Result<(), DbError> {
    transaction
        .query_one(LOCK, &[&organization_id, &true])
        .await?;
    Ok(())
}

/// Takes the organization's suppression lock shared for the rest of `transaction`, for an
/// ingest write: the first statement of the transaction. Returns the list's version, which no
/// change can move until the transaction ends. One prepared statement, one round trip.
///
/// A write that screens nothing itself takes it too: a company's hide entry is found by a
/// trigger on `company`, which then reads the list as it is under the lock.
pub(super) async fn lock_list_shared(
    transaction: &deadpool_postgres::Transaction<'_>,
    organization_id: i64,
) -> Result<i64, DbError> {
    let statement = transaction.prepare_cached(LOCK).await?;
    Ok(transaction
        .query_one(&statement, &[&organization_id, &false])
        .await?
        .try_get(0)?)
}

/// Applies screening's verdicts to their rows: a hidden row gets its entry and any other row
/// none (a row screened again may have lost its entry), a refused row becomes a row error.
fn apply_verdicts(
    rows: Vec<StagedRow>,
    verdicts: Vec<Option<Verdict>>,
) -> (Vec<StagedRow>, Vec<RowError>) {
    let mut kept = Vec::with_capacity(rows.len());
    let mut refused = Vec::new();
    for (mut row, verdict) in rows.into_iter().zip(verdicts) {
        match verdict {
            None => {
                row.record.suppressed_by = None;
                kept.push(row);
            }
            Some(Verdict::Hide(id)) => {
                row.record.suppressed_by = Some(id);
                kept.push(row);
            }
            Some(Verdict::Refuse(field, reason)) => refused.push(RowError {
                row: row.row,
                external_id: row.record.external_id.clone(),
                field: field.to_owned(),
                reason: suppression::refusal_reason(reason),
            }),
        }
    }
    (kept, refused)
}

/// What the list says of each row, and the list's version it read.
struct Screening {
    verdicts: Vec<Option<Verdict>>,
    version: i64,
}

/// Screens `rows` on `client` in one statement, their emails hashed under `key` (none: the
/// organization has no email entry).
async fn screen_on(
    client: &impl GenericClient,
    key: Option<&EmailKey>,
    organization_id: i64,
    rows: &[&ProspectRow],
) -> Result<Screening, DbError> {
    // Per row: its email's hash, its company's domain, its email's company domain.
    let keys: Vec<RowKeys<'_>> = rows
        .iter()
        .map(|row| {
            let hash = key.map(|key| key.hash(&row.email));
            let email_domain = normalize::domain_of_email(&row.email)
                .ok()
                .filter(|domain| *domain != row.company.domain);
            (hash, row.company.domain.as_str(), email_domain)
        })
        .collect();
    let hashes: Vec<&Vec<u8>> = keys.iter().filter_map(|k| k.0.as_ref()).collect();
    let mut domains: Vec<&str> = keys
        .iter()
        .flat_map(|k| [Some(k.1), k.2.as_deref()])
        .flatten()
        .collect();
    domains.sort_unstable();
    domains.dedup();
    let params: [&(dyn ToSql + Sync); 3] = [&organization_id, &hashes, &domains];
    let mut version = 0;
    let mut by_hash = HashMap::new();
    let mut by_domain = HashMap::new();
    for row in client.query(MATCHING, &params).await? {
        version = row.try_get("version")?;
        let Some(id) = row.try_get::<_, Option<i64>>("id")? else {
            continue;
        };
        let entry = (
            stored_reason(row.try_get("reason")?),
            stored_policy(row.try_get("policy")?),
            id,
        );
        if let Some(hash) = row.try_get::<_, Option<Vec<u8>>>("email_hmac")? {
            by_hash.insert(hash, entry);
        }
        if let Some(domain) = row.try_get::<_, Option<String>>("domain")? {
            by_domain.insert(domain, entry);
        }
    }
    if by_hash.is_empty() && by_domain.is_empty() {
        return Ok(Screening {
            verdicts: vec![None; rows.len()],
            version,
        });
    }
    let verdicts = keys
        .iter()
        .map(|(hash, company_domain, email_domain)| {
            let matches = [
                ("email", hash.as_ref().and_then(|h| by_hash.get(h))),
                ("company.domain", by_domain.get(*company_domain)),
                (
                    "email",
                    email_domain.as_ref().and_then(|d| by_domain.get(d)),
                ),
            ];
            // A refusal wins over hiding: nothing of the row is written.
            let refused = matches.iter().find_map(|(field, entry)| match entry {
                Some((reason, Policy::Refuse, _)) => Some(Verdict::Refuse(field, *reason)),
                _ => None,
            });
            refused.or(match matches[0].1 {
                Some((_, Policy::Hide, id)) => Some(Verdict::Hide(*id)),
                _ => None,
            })
        })
        .collect();
    Ok(Screening { verdicts, version })
}

/// A subject as its entry stores it: an email by its hash under `key`, a domain as it is.
/// Without a key (never: the secret is made before any email entry) an email has no column
/// set, which the table's CHECK refuses, so nothing is written.
pub(super) fn stored_subject(key: Option<&EmailKey>, subject: &Subject) -> StoredSubject {
    match subject {
        Subject::Email(email) => (key.map(|key| key.hash(email)), None),
        Subject::Domain(domain) => (None, Some(domain.clone())),
    }
}

/// What [`write_entries`] did.
pub(super) struct Written {
    /// The id of every subject's entry.
    pub ids: HashMap<StoredSubject, i64>,
    /// Stored rows hidden or shown again.
    pub rows: u64,
}

/// Adds or updates the entries of `subjects` (the stored form of `entries`, in the same order;
/// the last entry of a value wins) under the organization's suppression lock, which the
/// caller holds, and gathers their audit records. Then brings the stored rows in step with the
/// entries' policies ([`apply_policies`]), in the same transaction.
pub(super) async fn write_entries(
    transaction: &tokio_postgres::Transaction<'_>,
    organization_id: i64,
    subjects: &[StoredSubject],
    entries: &[Entry],
    records: &mut EntryRecords,
) -> Result<Written, DbError> {
    let ids = upsert_entries(transaction, organization_id, subjects, entries, records).await?;
    let rows = apply_policies(transaction, organization_id, subjects, entries, &ids).await?;
    Ok(Written { ids, rows })
}

/// Hides the stored rows the hide entries among `entries` match (prospects by email, companies
/// by domain) and shows again those that entries now refusing had hidden. Returns how many
/// rows it changed; the capture triggers log each change, so the read models follow by the
/// transaction's token.
async fn apply_policies(
    transaction: &tokio_postgres::Transaction<'_>,
    organization_id: i64,
    subjects: &[StoredSubject],
    entries: &[Entry],
    ids: &HashMap<StoredSubject, i64>,
) -> Result<u64, DbError> {
    // The last entry of a value wins, as in the entries written.
    let mut last: HashMap<&StoredSubject, &Entry> = HashMap::new();
    for (subject, entry) in subjects.iter().zip(entries) {
        last.insert(subject, entry);
    }
    let (mut emails, mut email_ids) = (Vec::new(), Vec::new());
    let (mut domains, mut domain_ids) = (Vec::new(), Vec::new());
    let mut refusing = Vec::new();
    for (subject, entry) in last {
        let Some(&id) = ids.get(subject) else {
            continue;
        };
        match (entry.policy, &entry.subject) {
            (Policy::Hide, Subject::Email(email)) => {
                emails.push(email.as_str());
                email_ids.push(id);
            }
            (Policy::Hide, Subject::Domain(domain)) => {
                domains.push(domain.as_str());
                domain_ids.push(id);
            }
            (Policy::Refuse, _) => refusing.push(id),
        }
    }
    let mut rows = 0;
    if !emails.is_empty() {
        rows += transaction
            .execute(HIDE_PROSPECTS, &[&organization_id, &emails, &email_ids])
            .await?;
    }
    if !domains.is_empty() {
        rows += transaction
            .execute(HIDE_COMPANIES, &[&organization_id, &domains, &domain_ids])
            .await?;
    }
    if !refusing.is_empty() {
        for statement in [SHOW_PROSPECTS, SHOW_COMPANIES] {
            rows += transaction
                .execute(statement, &[&organization_id, &refusing])
                .await?;
        }
    }
    Ok(rows)
}

/// Inserts or updates the entries; the id of every subject's entry.
async fn upsert_entries(
    transaction: &tokio_postgres::Transaction<'_>,
    organization_id: i64,
    subjects: &[StoredSubject],
    entries: &[Entry],
    records: &mut EntryRecords,
) -> Result<HashMap<StoredSubject, i64>, DbError> {
    let mut last: HashMap<&StoredSubject, &Entry> = HashMap::new();
    for (subject, entry) in subjects.iter().zip(entries) {
        last.insert(subject, entry);
    }
    let hashes: Vec<&Vec<u8>> = subjects.iter().filter_map(|s| s.0.as_ref()).collect();
    let domains: Vec<&String> = subjects.iter().filter_map(|s| s.1.as_ref()).collect();
    let mut ids: HashMap<StoredSubject, i64> = HashMap::new();
    let mut updates = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for row in transaction
        .query(SELECT_EXISTING, &[&organization_id, &hashes, &domains])
        .await?
    {
        let id: i64 = row.try_get("id")?;
        let subject: StoredSubject = (row.try_get("email_hmac")?, row.try_get("domain")?);
        let stored = (
            stored_reason(row.try_get("reason")?),
            row.try_get::<_, Option<String>>("reason_text")?,
            stored_policy(row.try_get("policy")?),
        );
        if let Some(entry) = last.remove(&subject)
            && stored != (entry.reason, entry.reason_text.clone(), entry.policy)
        {
            updates.0.push(id);
            updates.1.push(entry.reason.as_stored());
            updates.2.push(entry.reason_text.clone());
            updates.3.push(entry.policy.as_stored());
            records.push(
                Action::SuppressionUpdated,
                id,
                &subject,
                entry.reason,
                entry.policy,
            );
        }
        ids.insert(subject, id);
    }
    if !updates.0.is_empty() {
        transaction
            .execute(
                UPDATE_ENTRIES,
                &[
                    &organization_id,
                    &updates.0,
                    &updates.1,
                    &updates.2,
                    &updates.3,
                ],
            )
            .await?;
    }
    // What is left is new, in input order.
    let mut new = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut seen = HashSet::new();
    for subject in subjects {
        if let Some(entry) = last.get(subject)
            && seen.insert(subject)
        {
            new.0.push(subject.0.clone());
            new.1.push(subject.1.clone());
            new.2.push(entry.reason.as_stored());
            new.3.push(entry.reason_text.clone());
            new.4.push(entry.policy.as_stored());
        }
    }
    if !new.0.is_empty() {
        for row in transaction
            .query(
                INSERT_ENTRIES,
                &[&organization_id, &new.0, &new.1, &new.2, &new.3, &new.4],
            )
            .await?
        {
            let id: i64 = row.try_get("id")?;
            let subject: StoredSubject = (row.try_get("email_hmac")?, row.try_get("domain")?);
            if let Some(entry) = last.get(&subject) {
                records.push(
                    Action::SuppressionAdded,
                    id,
                    &subject,
                    entry.reason,
                    entry.policy,
                );
            }
            ids.insert(subject, id);
        }
    }
    Ok(ids)
}

/// An entry as the API shows it, from a row of [`ENTRY_COLUMNS`].
pub(super) fn suppression_from_row(row: &Row) -> Result<Suppression, DbError> {
    let id: i64 = row.try_get("id")?;
    let hash: Option<Vec<u8>> = row.try_get("email_hmac")?;
    let domain: Option<String> = row.try_get("domain")?;
    let kind = if hash.is_some() {
        SuppressionKind::Email
    } else {
        SuppressionKind::Domain
    };
    Ok(Suppression {
        id: id.to_string(),
        kind: kind.into(),
        domain: domain.unwrap_or_default(),
        email_hash_prefix: hash
            .as_deref()
            .map(suppression::hash_prefix)
            .unwrap_or_default(),
        reason: stored_reason(row.try_get("reason")?).to_proto().into(),
        reason_text: row
            .try_get::<_, Option<String>>("reason_text")?
            .unwrap_or_default(),
        policy: stored_policy(row.try_get("policy")?).to_proto().into(),
        created_at: Some(row.try_get::<_, SystemTime>("created_at")?.into()),
        updated_at: Some(row.try_get::<_, SystemTime>("updated_at")?.into()),
    })
}

impl Store {
    /// The organization's email secret, from the cache or the database; `candidate` becomes it
    /// when the organization has none yet (`None`: only look).
    pub(super) async fn email_key(
        &self,
        organization_id: i64,
        candidate: Option<&EmailKey>,
    ) -> Result<Option<EmailKey>, DbError> {
        if let Some(key) = self.cached_email_key(organization_id) {
            return Ok(Some(key));
        }
        let client = self.pool.get().await?;
        if let Some(candidate) = candidate {
            client
                .execute(INSERT_SECRET, &[&organization_id, &candidate.as_bytes()])
                .await?;
        }
        self.stored_email_key(&client, organization_id).await
    }

    /// The organization's email secret, from the cache or read on `client`; `None` when it has
    /// none yet.
    async fn stored_email_key(
        &self,
        client: &impl GenericClient,
        organization_id: i64,
    ) -> Result<Option<EmailKey>, DbError> {
        if let Some(key) = self.cached_email_key(organization_id) {
            return Ok(Some(key));
        }
        let Some(row) = client.query_opt(SELECT_SECRET, &[&organization_id]).await? else {
            return Ok(None);
        };
        let stored: Vec<u8> = row.try_get(0)?;
        // The table's CHECK keeps it 32 bytes.
        let key = EmailKey::from_stored(&stored);
        if let Some(key) = &key {
            self.cache_email_key(organization_id, key.clone());
        }
        Ok(key)
    }

    /// Adds or updates entries in one transaction with their audit records; returns each
    /// entry's id in input order and the consistency token.
    pub async fn add_suppressions(
        &self,
        organization_id: i64,
        api_key_id: i64,
        entries: &[Entry],
        candidate_key: &EmailKey,
    ) -> Result<(Vec<i64>, String), DbError> {
        let needs_key = entries
            .iter()
            .any(|entry| matches!(entry.subject, Subject::Email(_)));
        let key = if needs_key {
            self.email_key(organization_id, Some(candidate_key)).await?
        } else {
            None
        };
        let subjects: Vec<StoredSubject> = entries
            .iter()
            .map(|entry| stored_subject(key.as_ref(), &entry.subject))
            .collect();
        let mut client = self.pool.get().await?;
        let transaction = begin_write(&mut client).await?;
        lock_list(&transaction, organization_id).await?;
        let mut records = EntryRecords::default();
        let written = write_entries(
            &transaction,
            organization_id,
            &subjects,
            entries,
            &mut records,
        )
        .await?;
        records
            .write(&transaction, organization_id, api_key_id)
            .await?;
        // Rows hidden again by an unchanged entry (stored visible by a writer that bypassed
        // the list) are a write too: the token must wait for them.
        let wrote = !records.is_empty() || written.rows > 0;
        let token = consistency_token(&transaction, wrote).await?;
        let ids = written.ids;
        transaction.commit().await?;
        let ids = subjects
            .iter()
            .map(|subject| ids.get(subject).copied().unwrap_or_default())
            .collect();
        Ok((ids, token))
    }

    /// Removes an entry with its audit record; `None` when the organization has no such entry.
    pub async fn remove_suppression(
        &self,
        organization_id: i64,
        api_key_id: i64,
        id: i64,
    ) -> Result<Option<String>, DbError> {
        let mut client = self.pool.get().await?;
        let transaction = begin_write(&mut client).await?;
        lock_list(&transaction, organization_id).await?;
        let Some(row) = transaction
            .query_opt(DELETE_ENTRY, &[&organization_id, &id])
            .await?
        else {
            return Ok(None);
        };
        let subject: StoredSubject = (row.try_get("email_hmac")?, row.try_get("domain")?);
        let mut records = EntryRecords::default();
        records.push(
            Action::SuppressionRemoved,
            id,
            &subject,
            stored_reason(row.try_get("reason")?),
            stored_policy(row.try_get("policy")?),
        );
        records
            .write(&transaction, organization_id, api_key_id)
            .await?;
        let token = consistency_token(&transaction, true).await?;
        transaction.commit().await?;
        Ok(Some(token))
    }

    /// Up to `limit` entries after the entry `after`, by id.
    pub async fn list_suppressions(
        &self,
        organization_id: i64,
        after: i64,
        limit: u32,
    ) -> Result<Vec<(i64, Suppression)>, DbError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                LIST_ENTRIES.as_str(),
                &[&organization_id, &after, &i64::from(limit)],
            )
            .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("id")?, suppression_from_row(row)?)))
            .collect()
    }

    /// Screens a batch in one statement (plus, until the organization has an email secret,
    /// the look for it): the rows that may be written, with the list's version they were
    /// screened against, and a row error for each refused one.
    pub async fn screen_batch(
        &self,
        organization_id: i64,
        rows: Vec<StagedRow>,
    ) -> Result<(ScreenedRows, Vec<RowError>), DbError> {
        let key = self.email_key(organization_id, None).await?;
        let client = self.pool.get().await?;
        let records: Vec<&ProspectRow> = rows.iter().map(|row| &row.record).collect();
        let screening = screen_on(&client, key.as_ref(), organization_id, &records).await?;
        drop(records);
        let (rows, refused) = apply_verdicts(rows, screening.verdicts);
        Ok((
            ScreenedRows {
                rows,
                version: screening.version,
            },
            refused,
        ))
    }

    /// Takes the organization's suppression lock shared for the rest of `transaction` (its
    /// first statement) and makes sure `screened` holds rows screened against the list as it
    /// now is: when the list changed since they were screened, they are screened again, in
    /// `transaction`. Returns the row errors of the rows that are refused now (and taken out).
    /// The list is read again only when its version moved.
    pub(super) async fn hold_screening(
        &self,
        transaction: &deadpool_postgres::Transaction<'_>,
        organization_id: i64,
        screened: &mut ScreenedRows,
    ) -> Result<Vec<RowError>, DbError> {
        let version = lock_list_shared(transaction, organization_id).await?;
        if version == screened.version {
            return Ok(Vec::new());
        }
        let key = self.stored_email_key(transaction, organization_id).await?;
        let records: Vec<&ProspectRow> = screened.rows.iter().map(|row| &row.record).collect();
        let screening = screen_on(transaction, key.as_ref(), organization_id, &records).await?;
        drop(records);
        let (rows, refused) =
            apply_verdicts(std::mem::take(&mut screened.rows), screening.verdicts);
        screened.rows = rows;
        screened.version = version;
        Ok(refused)
    }

    /// Takes the organization's suppression lock shared for the rest of `transaction` (its
    /// first statement) and screens one row under it, for a single write.
    pub(super) async fn hold_and_screen(
        &self,
        transaction: &deadpool_postgres::Transaction<'_>,
        organization_id: i64,
        row: &ProspectRow,
    ) -> Result<Option<Verdict>, DbError> {
        lock_list_shared(transaction, organization_id).await?;
        let key = self.stored_email_key(transaction, organization_id).await?;
        let screening = screen_on(transaction, key.as_ref(), organization_id, &[row]).await?;
        Ok(screening.verdicts.into_iter().next().flatten())
    }
}
