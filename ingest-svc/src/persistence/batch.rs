//! One part of a batch in one transaction, with binary COPY: its companies written (those this
//! import has not written with the same values already), then its prospects, straight into
//! `prospect` while the import has met only new rows, otherwise staged and merged.
//!
//! Within one part, rows naming the same company domain are folded into one company row
//! before the merge: the later row's given values win, absent values never erase (pairs taken
//! together), exactly as if the rows had been merged one after the other.

use std::collections::BTreeMap;
use std::hash::BuildHasher;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use deadpool_postgres::Transaction;
use foldhash::{HashMap, HashMapExt};
use futures_util::pin_mut;
use svc_core::DbError;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;

use super::columns::{COMPANY, PROSPECT};
use super::identity::{self, EMAIL_OF_ANOTHER_PROSPECT, Found};
use super::sql::{Copy, SQL};
use super::store::{Store, consistency_token};
use super::{BatchOutcome, ScreenedRows, StagedRow};
use crate::abort::Abort;
use crate::validate::CompanyRow;
use crate::validate::ProspectRow;
use lma_proto::v1::RowError;

/// Most companies one import remembers: more than the largest files people send name (a
/// company forgotten is merged again each time a later part names it), and a bound on the
/// memory of the largest: just under a power of two, so the map never doubles past it.
const COMPANIES_REMEMBERED: usize = 900_000;

/// What one import learned as it went, shared by its parts.
///
/// The companies it merged, by domain: their id and a fingerprint of the values it merged. A
/// later part naming a company with the same values needs no company merge (it would change
/// nothing the import did not already write) and no look-up of its id. The foreign key still
/// checks every id: a company deleted meanwhile fails the part, which is written again after
/// [`ImportMemory::forget`].
///
/// Whether it met stored companies, and stored prospects: until it does, its rows of that
/// table are taken to be new ([`prepare_part`]); from then on they are merged. The two are
/// apart because a large file names more companies than the import remembers: a company met
/// again says nothing of whether the prospects are new.
#[derive(Default)]
pub struct ImportMemory {
    known: Mutex<HashMap<Box<str>, (i64, u64)>>,
    met_stored: [AtomicBool; 2],
}

/// The table whose rows an import met stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Stored {
    Companies = 0,
    Prospects = 1,
}

impl ImportMemory {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Box<str>, (i64, u64)>> {
        self.known
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn learn(&self, learned: Vec<(Box<str>, i64, u64)>) {
        let mut known = self.lock();
        for (domain, id, fingerprint) in learned {
            if known.len() < COMPANIES_REMEMBERED || known.contains_key(&domain) {
                known.insert(domain, (id, fingerprint));
            }
        }
    }

    /// Forgets the companies of `rows`: a write of them failed, maybe because one was deleted.
    pub(super) fn forget(&self, rows: &[StagedRow]) {
        let mut known = self.lock();
        for staged in rows {
            known.remove(staged.record.company.domain.as_str());
        }
    }

    /// Whether the rows of `table` are still taken to be new.
    fn optimistic(&self, table: Stored) -> bool {
        !self.met_stored[table as usize].load(Ordering::Relaxed)
    }

    /// A part met stored rows of `table`: the rest of the import merges them.
    pub(super) fn met_stored(&self, table: Stored) {
        self.met_stored[table as usize].store(true, Ordering::Relaxed);
    }
}

fn fingerprint(company: &CompanyRow) -> u64 {
    // A fixed-key hasher: fingerprints compare across parts of one import.
    foldhash::fast::FixedState::default().hash_one(company)
}

/// How one attempt at writing a part ended.
pub(super) enum Attempt {
    Written(BatchOutcome),
    /// A company the part's prospects belong to was deleted after the company merge left it
    /// unchanged, or a prospect its rows resolved to was deleted; the transaction was not
    /// committed.
    Vanished,
    /// Rows of the table taken to be new were stored already; the transaction was not
    /// committed, and the part is to be merged.
    MetStoredRows(Stored),
    /// The write was aborted before its commit; the transaction was not committed.
    Aborted,
}

/// A part of a batch on its way to the database: its rows as last screened, and the row errors
/// of the rows a later screening took out of it (kept across attempts: the rows are gone).
pub(super) struct Part {
    pub screened: ScreenedRows,
    pub refused: Vec<RowError>,
}

impl Part {
    pub(super) fn new(screened: ScreenedRows) -> Self {
        Self {
            screened,
            refused: Vec::new(),
        }
    }

    pub(super) fn rows(&self) -> &[StagedRow] {
        &self.screened.rows
    }
}

/// One attempt at a part: hold the suppression lock (screening the rows again if the list
/// changed since they were screened), stage and merge, then commit unless aborted meanwhile.
/// Until the commit is sent, an abort rolls back at once (the caller then cancels the statement
/// still running); a commit already sent is left to finish, and what it wrote is counted.
pub(super) async fn try_write_part(
    store: &Store,
    client: &mut deadpool_postgres::Client,
    organization_id: i64,
    part: &mut Part,
    mirror: bool,
    abort: &Abort,
    memory: &ImportMemory,
) -> Result<Attempt, DbError> {
    let transaction = super::store::begin_write(client).await?;
    let prepared = tokio::select! {
        biased;
        () = abort.aborted() => return Ok(Attempt::Aborted),
        prepared = async {
            let refused = store
                .hold_screening(&transaction, organization_id, &mut part.screened)
                .await?;
            part.refused.extend(refused);
            if part.screened.rows.is_empty() {
                return Ok(Prepared::Part(BatchOutcome::default(), Vec::new()));
            }
            prepare_part(&transaction, organization_id, part.rows(), mirror, memory).await
        } => prepared?,
    };
    let (mut outcome, learned) = match prepared {
        Prepared::Part(outcome, learned) => (outcome, learned),
        // Never lose rows silently: roll back and write the part again.
        Prepared::Vanished => return Ok(Attempt::Vanished),
        Prepared::MetStoredRows(table) => return Ok(Attempt::MetStoredRows(table)),
    };
    let token = consistency_token(&transaction, outcome.wrote()).await?;
    if abort.is_aborted() {
        return Ok(Attempt::Aborted);
    }
    transaction.commit().await?;
    memory.learn(learned);
    outcome.consistency_token = Some(token);
    Ok(Attempt::Written(outcome))
}

/// The part's companies, one per domain, in domain order (the lock order of the merge, so
/// concurrent imports with overlapping domains cannot deadlock on company rows).
fn companies_of(rows: &[StagedRow]) -> BTreeMap<&str, CompanyRow> {
    let mut companies: BTreeMap<&str, CompanyRow> = BTreeMap::new();
    for staged in rows {
        let company = &staged.record.company;
        match companies.get_mut(company.domain.as_str()) {
            Some(earlier) => {
                identity::fold_into(&COMPANY, earlier, company);
            }
            None => {
                companies.insert(company.domain.as_str(), company.clone());
            }
        }
    }
    companies
}

/// Companies a part learned: domain, id, fingerprint.
type Learned = Vec<(Box<str>, i64, u64)>;

/// The unique constraints a stored prospect makes a new one fail on: its own key, its email
/// (one person per address), a source link of its key (inserted by a trigger with every
/// prospect) and the addresses of prospects merged into it (checked by the same trigger). An
/// insert of people taken to be new that fails on one met a stored person, or one another
/// writer inserted since the look-up.
pub(super) const PROSPECT_IDENTITY: &[&str] = &[
    "prospect_external_id_unique",
    "prospect_organization_email_unique",
    "prospect_source_link_pkey",
    "prospect_email_alias_pkey",
];

/// Whether `error` is a duplicate of one of `constraints`: the optimistic insert met a stored
/// row.
pub(super) fn is_duplicate(error: &tokio_postgres::Error, constraints: &[&str]) -> bool {
    error.as_db_error().is_some_and(|db| {
        db.code() == &SqlState::UNIQUE_VIOLATION
            && db
                .constraint()
                .is_some_and(|name| constraints.contains(&name))
    })
}

/// What an optimistic statement met: `None` when it failed on a duplicate of `constraints`
/// (a stored row); the transaction is then aborted and the part is to be merged instead.
async fn unless_duplicate<T>(
    constraints: &[&str],
    optimistic: impl std::future::Future<Output = Result<T, tokio_postgres::Error>>,
) -> Result<Option<T>, DbError> {
    match optimistic.await {
        Ok(value) => Ok(Some(value)),
        Err(error) if is_duplicate(&error, constraints) => Ok(None),
        Err(error) => Err(error.into()),
    }
}

/// How preparing a part ended.
enum Prepared {
    /// Written, not committed: the outcome and the companies learned.
    Part(BatchOutcome, Learned),
    /// A company of the part, or a prospect its rows resolved to, vanished meanwhile.
    Vanished,
    /// Rows of the table taken to be new were stored already.
    MetStoredRows(Stored),
}

/// Everything of a part's transaction but its commit.
///
/// Until an import meets a stored row its rows are taken to be new and inserted as they are:
/// companies with one plain `INSERT ... RETURNING`, prospects with a binary COPY straight into
/// `prospect`. That needs no look-up, which is what a large import's stale table statistics
/// make expensive. When such an insert meets a stored row (a file imported again, or rows
/// another writer stored), the attempt ends ([`Prepared::MetStoredRows`]) and the part is
/// written again, each row looked up by its key: rows of stored people are staged and merged
/// into them, new people are still copied straight into `prospect`. (A savepoint would save
/// the redo, but rows written under one carry a transaction id above the consistency token.)
async fn prepare_part(
    transaction: &Transaction<'_>,
    organization_id: i64,
    rows: &[StagedRow],
    mirror: bool,
    memory: &ImportMemory,
) -> Result<Prepared, DbError> {
    let optimistic = memory.optimistic(Stored::Prospects);
    let mut outcome = BatchOutcome::default();
    transaction.batch_execute(&SQL.create_staging).await?;
    let companies = companies_of(rows);
    let mut ids: HashMap<&str, i64> = HashMap::with_capacity(companies.len());
    let mut to_merge: Vec<(&str, &CompanyRow, u64)> = Vec::new();
    {
        let known = memory.lock();
        for (domain, company) in &companies {
            let print = fingerprint(company);
            match known.get(*domain) {
                Some(&(id, known_print)) if known_print == print => {
                    ids.insert(domain, id);
                }
                _ => to_merge.push((domain, company, print)),
            }
        }
    }
    let mut learned = Vec::with_capacity(to_merge.len());
    if !to_merge.is_empty() {
        copy_in(
            transaction,
            &SQL.copy_company_stage,
            &to_merge,
            |(_, company, _), values| {
                values.extend(COMPANY.written().map(|(_, write)| (write.value)(company)));
            },
        )
        .await?;
        let written = if memory.optimistic(Stored::Companies) {
            let inserted = unless_duplicate(
                &["company_domain_unique"],
                query_cached(transaction, &SQL.insert_companies, &[&organization_id]),
            )
            .await?;
            let Some(inserted) = inserted else {
                return Ok(Prepared::MetStoredRows(Stored::Companies));
            };
            outcome.companies_created = inserted.len() as u64;
            inserted
        } else {
            let merged =
                query_cached(transaction, &SQL.merge_companies, &[&organization_id]).await?;
            for row in &merged {
                match row.try_get::<_, Option<bool>>(2)? {
                    Some(true) => outcome.companies_created += 1,
                    Some(false) => outcome.companies_updated += 1,
                    None => {}
                }
            }
            merged
        };
        for row in &written {
            let domain: &str = row.try_get(0)?;
            if let Some((domain, _)) = companies.get_key_value(domain) {
                ids.insert(domain, row.try_get(1)?);
            }
        }
        // A company a concurrent writer changed to our values between the merge's look-up and
        // its insert is neither written nor returned: look it up.
        let missing: Vec<&str> = to_merge
            .iter()
            .map(|(domain, _, _)| *domain)
            .filter(|domain| !ids.contains_key(domain))
            .collect();
        if !missing.is_empty() {
            for row in
                query_cached(transaction, &SQL.company_ids, &[&organization_id, &missing]).await?
            {
                let domain: &str = row.try_get(0)?;
                if let Some((domain, _)) = companies.get_key_value(domain) {
                    ids.insert(domain, row.try_get(1)?);
                }
            }
        }
        for (domain, _, print) in &to_merge {
            match ids.get(domain) {
                Some(id) => learned.push((Box::from(*domain), *id, *print)),
                None => return Ok(Prepared::Vanished),
            }
        }
    }

    let ids = &ids;
    let company_id = |record: &ProspectRow| ids.get(record.company.domain.as_str()).copied();
    if rows
        .iter()
        .any(|staged| company_id(&staged.record).is_none())
    {
        return Ok(Prepared::Vanished);
    }
    let records: Vec<&ProspectRow> = rows.iter().map(|staged| &staged.record).collect();
    // Taken to be new, no row is stored, so each email is a new person; a stored one makes the
    // COPY fail on a unique index and the part is merged instead.
    let resolution = if optimistic {
        identity::resolve(&records, &[])
    } else {
        let (sources, external_ids): (Vec<&str>, Vec<&str>) =
            records.iter().map(|record| record.key()).unzip();
        let emails: Vec<&str> = records.iter().map(|record| record.email.as_str()).collect();
        let found = query_cached(
            transaction,
            &SQL.resolve_prospects,
            &[&organization_id, &sources, &external_ids, &emails],
        )
        .await?
        .iter()
        .map(|row| {
            Ok(Found {
                linked: row.try_get(0)?,
                owner: row.try_get(1)?,
            })
        })
        .collect::<Result<Vec<_>, DbError>>()?;
        identity::resolve(&records, &found)
    };
    for &index in &resolution.refused {
        let staged = &rows[index];
        outcome.rejected_records += 1;
        outcome.rejected.push(RowError {
            row: staged.row,
            external_id: staged.record.external_id.clone(),
            field: "email".to_owned(),
            reason: EMAIL_OF_ANOTHER_PROSPECT.to_owned(),
        });
    }
    // One row per person (its rows folded), in email order: the lock order of the inserts on
    // the email index, so concurrent imports of the same new people cannot deadlock on it.
    let ranks = source_ranks(transaction, organization_id, rows, &resolution).await?;
    let folded: Vec<Option<(ProspectRow, Option<serde_json::Value>)>> = resolution
        .persons
        .iter()
        .map(|person| {
            let of_person: Vec<&StagedRow> =
                person.rows.iter().map(|&index| &rows[index]).collect();
            identity::fold(&of_person, |source| {
                ranks.get(source).copied().unwrap_or_default()
            })
        })
        .collect();
    let mut persons: Vec<Person<'_>> = Vec::with_capacity(folded.len());
    for (person, folded) in resolution.persons.iter().zip(&folded) {
        let (record, provenance) = match folded {
            Some((record, provenance)) => (record, provenance),
            None => (&rows[person.rows[0]].record, &None),
        };
        let Some(company) = company_id(record) else {
            return Ok(Prepared::Vanished);
        };
        persons.push(Person {
            company,
            target: person.target,
            record,
            provenance,
        });
    }
    persons.sort_unstable_by(|a, b| a.record.email.cmp(&b.record.email));
    // New people (all of them while the import is taken to be new) go straight into
    // `prospect`, with their organization; people resolved to a stored prospect are staged for
    // the merge with it. A new person another writer stored since the look-up makes the COPY
    // fail on a unique index: the part is then written again, and resolves to that person.
    let (new, resolved): (Vec<&Person<'_>>, Vec<&Person<'_>>) =
        persons.iter().partition(|person| person.target.is_none());
    if !new.is_empty() {
        let copied = copy_in(
            transaction,
            &SQL.copy_new_prospects,
            &new,
            |person, values| {
                values.push(&organization_id);
                values.push(&person.company);
                values.extend(
                    PROSPECT
                        .written()
                        .map(|(_, write)| (write.value)(person.record)),
                );
                values.push(person.provenance);
            },
        );
        if unless_duplicate(PROSPECT_IDENTITY, copied).await?.is_none() {
            return Ok(Prepared::MetStoredRows(Stored::Prospects));
        }
        outcome.inserted = new.len() as u64;
    }
    if !resolved.is_empty() {
        copy_in(
            transaction,
            &SQL.copy_prospect_stage,
            &resolved,
            |person, values| {
                values.push(&person.company);
                values.push(&person.target);
                values.extend(
                    PROSPECT
                        .written()
                        .map(|(_, write)| (write.value)(person.record)),
                );
                values.push(person.provenance);
            },
        )
        .await?;
        let statement = transaction.prepare_cached(&SQL.merge_prospects).await?;
        let merged = transaction
            .query_one(&statement, &[&organization_id])
            .await?;
        let count = |index: usize| -> Result<u64, DbError> {
            Ok(merged.try_get::<_, i64>(index)?.max(0) as u64)
        };
        if count(1)? > 0 {
            return Ok(Prepared::Vanished);
        }
        outcome.updated = count(0)?;
    }
    // Every written row's key links to its person. The database linked each new prospect's own
    // key (its first row's); the other keys (rows folded into another, and records from a new
    // source matched to a stored person) are linked here.
    // A stored person's id is known; a new one's is found by its email.
    let to_link: Vec<(&ProspectRow, Option<i64>)> = resolution
        .persons
        .iter()
        .flat_map(|person| {
            let skip = usize::from(person.target.is_none());
            person
                .rows
                .iter()
                .skip(skip)
                .map(|&index| (&rows[index].record, person.target))
        })
        .collect();
    if !to_link.is_empty() {
        let (sources, external_ids): (Vec<&str>, Vec<&str>) =
            to_link.iter().map(|(record, _)| record.key()).unzip();
        let emails: Vec<&str> = to_link
            .iter()
            .map(|(record, _)| record.email.as_str())
            .collect();
        let targets: Vec<Option<i64>> = to_link.iter().map(|(_, target)| *target).collect();
        let statement = transaction.prepare_cached(&SQL.link_keys).await?;
        transaction
            .execute(
                &statement,
                &[&organization_id, &sources, &external_ids, &emails, &targets],
            )
            .await?;
    }
    let written_rows = rows.len() as u64 - outcome.rejected_records;
    outcome.unchanged = written_rows - outcome.inserted - outcome.updated;
    if outcome.wrote() && mirror {
        let (sources, external_ids): (Vec<&str>, Vec<&str>) = resolution
            .persons
            .iter()
            .flat_map(|person| person.rows.iter().map(|&index| rows[index].record.key()))
            .unzip();
        let statement = transaction
            .prepare_cached(&SQL.mirror_keys_to_customer)
            .await?;
        transaction
            .execute(&statement, &[&organization_id, &sources, &external_ids])
            .await?;
    }
    Ok(Prepared::Part(outcome, learned))
}

/// One person of a part as it is written: its company, the prospect it resolved to (`None`: a
/// new one), its (folded) record and the provenance of a fold.
struct Person<'a> {
    company: i64,
    target: Option<i64>,
    record: &'a ProspectRow,
    provenance: &'a Option<serde_json::Value>,
}

/// The rank of each source of the part's persons that fold rows of several sources, under the
/// organization's source priority; none needed (no query) otherwise.
async fn source_ranks(
    transaction: &Transaction<'_>,
    organization_id: i64,
    rows: &[StagedRow],
    resolution: &identity::Resolution,
) -> Result<HashMap<String, i32>, DbError> {
    let mut sources: Vec<&str> = resolution
        .persons
        .iter()
        .filter(|person| {
            let first = &rows[person.rows[0]].record.external_source;
            person
                .rows
                .iter()
                .any(|&index| rows[index].record.external_source != *first)
        })
        .flat_map(|person| {
            person
                .rows
                .iter()
                .map(|&index| rows[index].record.external_source.as_str())
        })
        .collect();
    if sources.is_empty() {
        return Ok(HashMap::new());
    }
    sources.sort_unstable();
    sources.dedup();
    query_cached(
        transaction,
        &SQL.source_ranks,
        &[&organization_id, &sources],
    )
    .await?
    .iter()
    .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
    .collect()
}

/// Runs one of the statements every part runs, prepared once per connection: parsed and
/// planned anew for every part of a few thousand rows, the large merges spent a measurable
/// share of their run on it (docs/BENCHMARKS.md). The bulk transaction's
/// `plan_cache_mode = auto` lets them keep one generic plan, which `create_staging`'s settings
/// keep to index look-ups like the custom ones.
async fn query_cached(
    transaction: &Transaction<'_>,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<tokio_postgres::Row>, tokio_postgres::Error> {
    let statement = transaction.prepare_cached(sql).await?;
    transaction.query(&statement, params).await
}

/// Binary COPY of `items`, each turned into its column values by `values` (one buffer for all
/// rows: no allocation per row).
async fn copy_in<'a, T: 'a>(
    transaction: &Transaction<'_>,
    copy: &Copy,
    items: &'a [T],
    mut values: impl FnMut(&'a T, &mut Vec<&'a (dyn ToSql + Sync)>),
) -> Result<(), tokio_postgres::Error> {
    let sink = transaction.copy_in(copy.statement.as_str()).await?;
    let writer = BinaryCopyInWriter::new(sink, &copy.types);
    pin_mut!(writer);
    let mut buffer: Vec<&'a (dyn ToSql + Sync)> = Vec::with_capacity(copy.types.len());
    for item in items {
        buffer.clear();
        values(item, &mut buffer);
        writer.as_mut().write(&buffer).await?;
    }
    writer.finish().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::persistence::staged;

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
}
