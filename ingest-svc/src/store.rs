//! SQL of ingest-svc: merging companies and prospects into the base tables.
//!
//! Merge rule: a value that is given replaces the stored one; a value that is not given (NULL)
//! never erases one. Pairs that must agree (employee range, external source and id) are taken
//! together. A merge that would change nothing writes nothing, so re-ingesting a record leaves
//! no trace in the change log and is reported as unchanged.

use std::sync::LazyLock;
use std::time::SystemTime;

use svc_core::metrics::Counter;

use deadpool_postgres::GenericClient;
use lma_proto::v1::{Company, JobTitleLevel, Prospect, WriteOutcome};
use svc_core::{DbError, Pool};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use crate::validate::{CompanyRow, ProspectRow};

/// Attempts of a transaction that failed with a deadlock or serialization error.
pub(crate) const MAX_ATTEMPTS: u32 = 5;

pub struct Store {
    pub(crate) pool: Pool,
    /// Also write each stored prospect, flattened, into the legacy `customer` table.
    pub(crate) dual_ingest: bool,
}

/// Pause before retry `attempt` of a conflicted transaction: short, growing, and different per
/// attempt so that two conflicting writers do not collide again in lock step.
pub(crate) fn retry_backoff(attempt: u32) -> std::time::Duration {
    std::time::Duration::from_millis(10 * u64::from(attempt.pow(2)))
}

/// The legacy flat row of each prospect picked by `filter`, with its company's stored values.
fn mirror_to_customer(filter: &str) -> String {
    const COLUMNS: &[(&str, &str)] = &[
        ("external_source", "p.external_source"),
        ("external_id", "p.external_id"),
        ("salutation", "p.salutation"),
        ("first_name", "p.first_name"),
        ("last_name", "p.last_name"),
        ("email", "p.email"),
        ("job_title", "p.job_title"),
        ("job_title_level", "p.job_title_level"),
        ("department", "p.department"),
        ("job_title_link", "p.job_title_link"),
        ("address", "p.address"),
        ("city", "p.city"),
        ("state", "p.state"),
        ("country", "p.country"),
        ("zip_code", "p.zip_code"),
        ("phone", "p.phone"),
        ("mobile_phone", "p.mobile_phone"),
        ("company_name", "c.name"),
        ("company_domain", "c.domain"),
        ("industry", "c.industry"),
        ("min_employees", "c.min_employees"),
        ("max_employees", "c.max_employees"),
        ("employee_size_link", "c.employee_size_link"),
        ("revenue", "c.revenue"),
        ("company_address", "c.address"),
        ("company_city", "c.city"),
        ("company_state", "c.state"),
        ("company_country", "c.country"),
        ("company_zip_code", "c.zip_code"),
        ("company_phone", "c.phone"),
    ];
    let columns: Vec<&str> = COLUMNS.iter().map(|(column, _)| *column).collect();
    let values: Vec<&str> = COLUMNS.iter().map(|(_, value)| *value).collect();
    let updated: Vec<&str> = COLUMNS[2..].iter().map(|(column, _)| *column).collect();
    let set = updated
        .iter()
        .map(|column| format!("{column} = EXCLUDED.{column}"))
        .collect::<Vec<_>>()
        .join(", ");
    let stored = updated
        .iter()
        .map(|column| format!("cu.{column}"))
        .collect::<Vec<_>>()
        .join(", ");
    let excluded = updated
        .iter()
        .map(|column| format!("EXCLUDED.{column}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "INSERT INTO customer AS cu (organization_id, {}) \
         SELECT p.organization_id, {} FROM prospect p JOIN company c ON c.id = p.company_id \
         WHERE {filter} \
         ON CONFLICT (organization_id, external_source, external_id) DO UPDATE SET {set} \
         WHERE ({stored}) IS DISTINCT FROM ({excluded})",
        columns.join(", "),
        values.join(", "),
    )
}

/// Dual ingestion of the prospects of the current batch (staged in `ingest_prospect_stage`).
pub(crate) static MIRROR_STAGED_TO_CUSTOMER: LazyLock<String> = LazyLock::new(|| {
    mirror_to_customer(
        "p.organization_id = $1 AND (p.external_source, p.external_id) IN \
         (SELECT external_source, external_id FROM ingest_prospect_stage)",
    )
});

/// Dual ingestion of one prospect by id.
static MIRROR_PROSPECT_TO_CUSTOMER: LazyLock<String> =
    LazyLock::new(|| mirror_to_customer("p.organization_id = $1 AND p.id = $2"));

/// What an upsert stored.
pub struct UpsertedProspect {
    pub prospect: Prospect,
    pub outcome: WriteOutcome,
    pub company_outcome: WriteOutcome,
    pub consistency_token: String,
}

/// `SET` expressions of the company merge, also compared in its `WHERE` so that a merge which
/// would change nothing is skipped.
pub(crate) const COMPANY_MERGE: &[(&str, &str)] = &[
    ("name", "coalesce(EXCLUDED.name, c.name)"),
    ("industry", "coalesce(EXCLUDED.industry, c.industry)"),
    (
        "min_employees",
        "CASE WHEN EXCLUDED.min_employees IS NULL AND EXCLUDED.max_employees IS NULL \
         THEN c.min_employees ELSE EXCLUDED.min_employees END",
    ),
    (
        "max_employees",
        "CASE WHEN EXCLUDED.min_employees IS NULL AND EXCLUDED.max_employees IS NULL \
         THEN c.max_employees ELSE EXCLUDED.max_employees END",
    ),
    (
        "employee_size_link",
        "coalesce(EXCLUDED.employee_size_link, c.employee_size_link)",
    ),
    ("revenue", "coalesce(EXCLUDED.revenue, c.revenue)"),
    ("address", "coalesce(EXCLUDED.address, c.address)"),
    ("city", "coalesce(EXCLUDED.city, c.city)"),
    ("state", "coalesce(EXCLUDED.state, c.state)"),
    ("country", "coalesce(EXCLUDED.country, c.country)"),
    ("zip_code", "coalesce(EXCLUDED.zip_code, c.zip_code)"),
    ("phone", "coalesce(EXCLUDED.phone, c.phone)"),
    (
        "mobile_phone",
        "coalesce(EXCLUDED.mobile_phone, c.mobile_phone)",
    ),
    (
        "external_source",
        "CASE WHEN EXCLUDED.external_id IS NULL THEN c.external_source ELSE EXCLUDED.external_source END",
    ),
    (
        "external_id",
        "coalesce(EXCLUDED.external_id, c.external_id)",
    ),
];

pub(crate) const PROSPECT_MERGE: &[(&str, &str)] = &[
    ("company_id", "EXCLUDED.company_id"),
    ("email", "EXCLUDED.email"),
    ("salutation", "coalesce(EXCLUDED.salutation, p.salutation)"),
    ("first_name", "coalesce(EXCLUDED.first_name, p.first_name)"),
    ("last_name", "coalesce(EXCLUDED.last_name, p.last_name)"),
    ("job_title", "coalesce(EXCLUDED.job_title, p.job_title)"),
    (
        "job_title_level",
        "coalesce(EXCLUDED.job_title_level, p.job_title_level)",
    ),
    ("department", "coalesce(EXCLUDED.department, p.department)"),
    (
        "job_title_link",
        "coalesce(EXCLUDED.job_title_link, p.job_title_link)",
    ),
    ("address", "coalesce(EXCLUDED.address, p.address)"),
    ("city", "coalesce(EXCLUDED.city, p.city)"),
    ("state", "coalesce(EXCLUDED.state, p.state)"),
    ("country", "coalesce(EXCLUDED.country, p.country)"),
    ("zip_code", "coalesce(EXCLUDED.zip_code, p.zip_code)"),
    ("phone", "coalesce(EXCLUDED.phone, p.phone)"),
    (
        "mobile_phone",
        "coalesce(EXCLUDED.mobile_phone, p.mobile_phone)",
    ),
    (
        "tags",
        "CASE WHEN cardinality(EXCLUDED.tags) = 0 THEN p.tags ELSE EXCLUDED.tags END",
    ),
    ("custom_fields", "p.custom_fields || EXCLUDED.custom_fields"),
];

/// `ON CONFLICT ... DO UPDATE SET <merge> WHERE <stored row differs from the merge>`.
pub(crate) fn merge_clause(alias: &str, merge: &[(&str, &str)]) -> String {
    let set = merge
        .iter()
        .map(|(column, expression)| format!("{column} = {expression}"))
        .collect::<Vec<_>>()
        .join(", ");
    let (stored, merged) = stored_and_merged(alias, merge, "EXCLUDED");
    format!("DO UPDATE SET {set} WHERE ({stored}) IS DISTINCT FROM ({merged})")
}

/// True when the stored row (`alias`) already equals what merging the `incoming` row into it
/// would give: the bulk merges leave such rows out before `ON CONFLICT`, which would otherwise
/// lock (and so write) every stored row a batch names, changed or not.
pub(crate) fn merge_changes_nothing(alias: &str, merge: &[(&str, &str)], incoming: &str) -> String {
    let (stored, merged) = stored_and_merged(alias, merge, incoming);
    format!("({stored}) IS NOT DISTINCT FROM ({merged})")
}

/// The stored columns (`alias.column, ...`) and the merge's results with the incoming row named
/// `incoming` (the merge expressions call it `EXCLUDED`).
fn stored_and_merged(alias: &str, merge: &[(&str, &str)], incoming: &str) -> (String, String) {
    let stored = merge
        .iter()
        .map(|(column, _)| format!("{alias}.{column}"))
        .collect::<Vec<_>>()
        .join(", ");
    let merged = merge
        .iter()
        .map(|(_, expression)| expression.replace("EXCLUDED.", &format!("{incoming}.")))
        .collect::<Vec<_>>()
        .join(", ");
    (stored, merged)
}

static UPSERT_COMPANY: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO company AS c (organization_id, {}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) \
         ON CONFLICT (organization_id, domain) {} \
         RETURNING id, (xmax = 0) AS inserted",
        CompanyRow::COLUMNS,
        merge_clause("c", COMPANY_MERGE)
    )
});

static UPSERT_PROSPECT: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO prospect AS p (organization_id, company_id, {}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
         $18, $19, $20, $21) \
         ON CONFLICT (organization_id, external_source, external_id) {} \
         RETURNING id, (xmax = 0) AS inserted",
        ProspectRow::COLUMNS,
        merge_clause("p", PROSPECT_MERGE)
    )
});

const SELECT_PROSPECT: &str = "SELECT p.id, p.company_id, p.external_source, p.external_id, \
     p.salutation, p.first_name, p.last_name, p.email, p.job_title, p.job_title_level, \
     p.department, p.job_title_link, p.address, p.city, p.state, p.country, p.zip_code, p.phone, \
     p.mobile_phone, p.tags, p.custom_fields, p.created_at, p.updated_at, \
     c.domain, c.name AS company_name, c.industry, c.min_employees, c.max_employees, \
     c.employee_size_link, c.revenue, c.address AS company_address, c.city AS company_city, \
     c.state AS company_state, c.country AS company_country, c.zip_code AS company_zip_code, \
     c.phone AS company_phone, c.mobile_phone AS company_mobile_phone, \
     c.external_source AS company_external_source, c.external_id AS company_external_id, \
     c.created_at AS company_created_at, c.updated_at AS company_updated_at \
     FROM prospect p JOIN company c ON c.id = p.company_id \
     WHERE p.organization_id = $1 AND p.id = $2";

/// Rows of bulk writes stored (inserted, updated or unchanged) and rejected.
static ROWS: LazyLock<(Counter<u64>, Counter<u64>)> = LazyLock::new(|| {
    let meter = svc_core::metrics::meter();
    (
        meter
            .u64_counter("lma.ingest.rows.ingested")
            .with_unit("{row}")
            .with_description("Rows of bulk writes stored: inserted, updated or unchanged.")
            .build(),
        meter
            .u64_counter("lma.ingest.rows.rejected")
            .with_unit("{row}")
            .with_description("Rows of bulk writes rejected by validation or the database.")
            .build(),
    )
});

/// Counts the rows one bulk batch stored and rejected.
pub(crate) fn count_rows(stored: u64, rejected: u64) {
    ROWS.0.add(stored, &[]);
    ROWS.1.add(rejected, &[]);
}

/// Tags the transaction with its writer's trace context; the change-log rows it writes copy it
/// (`change_log.traceparent`, V3), so that the refresh applying them can link to this trace.
const SET_TRACEPARENT: &str = "SELECT set_config('lma.traceparent', $1, true)";

/// Begins a write transaction: the one place ingest-svc does, so every write carries the
/// caller's trace context (one extra round trip, only when the call is traced and sampled).
pub(crate) async fn begin_write(
    client: &mut deadpool_postgres::Client,
) -> Result<deadpool_postgres::Transaction<'_>, DbError> {
    let transaction = client.transaction().await?;
    if let Some(traceparent) = svc_core::telemetry::current_traceparent() {
        let statement = transaction.prepare_cached(SET_TRACEPARENT).await?;
        transaction.execute(&statement, &[&traceparent]).await?;
    }
    Ok(transaction)
}

/// The consistency token of the current transaction: its own xid when it wrote, otherwise the
/// newest xid that could have written what it read (docs/API.md, consistency tokens).
const CONSISTENCY_TOKEN: &str = "SELECT CASE WHEN $1 THEN pg_current_xact_id()::text \
     ELSE (pg_snapshot_xmax(pg_current_snapshot())::text::numeric - 1)::text END";

/// The later of two consistency tokens (transaction ids as decimal text), for a write made of
/// several transactions: waiting for the later one waits for both.
pub(crate) fn later_token(a: String, b: String) -> String {
    match (a.parse::<u64>(), b.parse::<u64>()) {
        (Ok(x), Ok(y)) if x >= y => a,
        _ => b,
    }
}

/// The consistency token of `transaction` ([`CONSISTENCY_TOKEN`]), to return once it commits.
pub(crate) async fn consistency_token(
    transaction: &tokio_postgres::Transaction<'_>,
    wrote: bool,
) -> Result<String, DbError> {
    Ok(transaction
        .query_one(CONSISTENCY_TOKEN, &[&wrote])
        .await?
        .try_get(0)?)
}

impl Store {
    pub fn new(pool: Pool, dual_ingest: bool) -> Self {
        Self { pool, dual_ingest }
    }

    /// Merges a prospect and its company in one transaction.
    pub async fn upsert_prospect(
        &self,
        organization_id: i64,
        row: &ProspectRow,
    ) -> Result<UpsertedProspect, DbError> {
        self.upsert_prospect_mirrored(organization_id, row, self.dual_ingest)
            .await
    }

    /// [`Store::upsert_prospect`], mirroring into `customer` only when `mirror`.
    pub(crate) async fn upsert_prospect_mirrored(
        &self,
        organization_id: i64,
        row: &ProspectRow,
        mirror: bool,
    ) -> Result<UpsertedProspect, DbError> {
        let mut attempt = 1;
        loop {
            match self.try_upsert_prospect(organization_id, row, mirror).await {
                Err(error) if error.is_retryable() && attempt < MAX_ATTEMPTS => {
                    tracing::warn!(attempt, %error, "upsert_prospect conflicted; retrying");
                    attempt += 1;
                    tokio::time::sleep(retry_backoff(attempt)).await;
                }
                result => return result,
            }
        }
    }

    async fn try_upsert_prospect(
        &self,
        organization_id: i64,
        row: &ProspectRow,
        mirror: bool,
    ) -> Result<UpsertedProspect, DbError> {
        let mut client = self.pool.get().await?;
        let transaction = begin_write(&mut client).await?;
        let (company_id, company_outcome) =
            upsert_company(&transaction, organization_id, &row.company).await?;
        let mut prospect_params: Vec<&(dyn ToSql + Sync)> = vec![&organization_id, &company_id];
        prospect_params.extend(row.sql_values());
        let (prospect_id, outcome) = match transaction
            .query_opt(UPSERT_PROSPECT.as_str(), &prospect_params)
            .await?
        {
            Some(written) => (written.try_get::<_, i64>(0)?, outcome_of(&written)?),
            None => {
                let existing = transaction
                    .query_one(
                        "SELECT id FROM prospect \
                         WHERE organization_id = $1 AND external_source = $2 AND external_id = $3",
                        &[&organization_id, &row.external_source, &row.external_id],
                    )
                    .await?;
                (existing.try_get(0)?, WriteOutcome::Unchanged)
            }
        };
        let wrote =
            outcome != WriteOutcome::Unchanged || company_outcome != WriteOutcome::Unchanged;
        if wrote && mirror {
            transaction
                .execute(
                    MIRROR_PROSPECT_TO_CUSTOMER.as_str(),
                    &[&organization_id, &prospect_id],
                )
                .await?;
        }
        let consistency_token = consistency_token(&transaction, wrote).await?;
        let stored = transaction
            .query_one(SELECT_PROSPECT, &[&organization_id, &prospect_id])
            .await?;
        let prospect = prospect_from_row(&stored)?;
        transaction.commit().await?;
        Ok(UpsertedProspect {
            prospect,
            outcome,
            company_outcome,
            consistency_token,
        })
    }

    pub async fn get_prospect(
        &self,
        organization_id: i64,
        prospect_id: i64,
    ) -> Result<Option<Prospect>, DbError> {
        let client = self.pool.get().await?;
        client
            .query_opt(SELECT_PROSPECT, &[&organization_id, &prospect_id])
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
        let deleted = transaction
            .query_opt(
                "DELETE FROM prospect WHERE organization_id = $1 AND id = $2 \
                 RETURNING external_source, external_id",
                &[&organization_id, &prospect_id],
            )
            .await?;
        let Some(deleted) = deleted else {
            return Ok(None);
        };
        if self.dual_ingest {
            let external_source: String = deleted.try_get(0)?;
            let external_id: String = deleted.try_get(1)?;
            transaction
                .execute(
                    "DELETE FROM customer WHERE organization_id = $1 \
                     AND external_source = $2 AND external_id = $3",
                    &[&organization_id, &external_source, &external_id],
                )
                .await?;
        }
        let token = consistency_token(&transaction, true).await?;
        transaction.commit().await?;
        Ok(Some(token))
    }
}

const SELECT_COMPANY: &str = "SELECT c.id AS company_id, c.domain, c.name AS company_name, \
     c.industry, c.min_employees, c.max_employees, c.employee_size_link, c.revenue, \
     c.address AS company_address, c.city AS company_city, c.state AS company_state, \
     c.country AS company_country, c.zip_code AS company_zip_code, c.phone AS company_phone, \
     c.mobile_phone AS company_mobile_phone, c.external_source AS company_external_source, \
     c.external_id AS company_external_id, c.created_at AS company_created_at, \
     c.updated_at AS company_updated_at \
     FROM company c WHERE c.organization_id = $1 AND c.id = $2";

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

impl Store {
    /// Merges one company by domain.
    pub async fn upsert_company(
        &self,
        organization_id: i64,
        row: &CompanyRow,
    ) -> Result<UpsertedCompany, DbError> {
        let mut attempt = 1;
        loop {
            let result: Result<UpsertedCompany, DbError> = async {
                let mut client = self.pool.get().await?;
                let transaction = begin_write(&mut client).await?;
                let (company_id, outcome) =
                    upsert_company(&transaction, organization_id, row).await?;
                let wrote = outcome != WriteOutcome::Unchanged;
                let consistency_token = consistency_token(&transaction, wrote).await?;
                let stored = transaction
                    .query_one(SELECT_COMPANY, &[&organization_id, &company_id])
                    .await?;
                let company = company_from_row(&stored)?;
                transaction.commit().await?;
                Ok(UpsertedCompany {
                    company,
                    outcome,
                    consistency_token,
                })
            }
            .await;
            match result {
                Err(error) if error.is_retryable() && attempt < MAX_ATTEMPTS => {
                    attempt += 1;
                    tokio::time::sleep(retry_backoff(attempt)).await;
                }
                result => return result,
            }
        }
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
}

async fn upsert_company(
    client: &impl GenericClient,
    organization_id: i64,
    company: &CompanyRow,
) -> Result<(i64, WriteOutcome), DbError> {
    let mut params: Vec<&(dyn ToSql + Sync)> = vec![&organization_id];
    params.extend(company.sql_values());
    if let Some(written) = client.query_opt(UPSERT_COMPANY.as_str(), &params).await? {
        return Ok((written.try_get(0)?, outcome_of(&written)?));
    }
    let existing = client
        .query_one(
            "SELECT id FROM company WHERE organization_id = $1 AND domain = $2",
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

fn text(row: &Row, column: &str) -> Result<String, DbError> {
    Ok(row
        .try_get::<_, Option<String>>(column)?
        .unwrap_or_default())
}

fn timestamp(row: &Row, column: &str) -> Result<Option<prost_types::Timestamp>, DbError> {
    Ok(Some(row.try_get::<_, SystemTime>(column)?.into()))
}

/// A company from a row with the column names of [`SELECT_PROSPECT`]'s company part.
fn company_from_row(row: &Row) -> Result<Company, DbError> {
    Ok(Company {
        id: row.try_get::<_, i64>("company_id")?.to_string(),
        domain: row.try_get("domain")?,
        name: text(row, "company_name")?,
        industry: text(row, "industry")?,
        min_employees: row.try_get("min_employees")?,
        max_employees: row.try_get("max_employees")?,
        employee_size_link: text(row, "employee_size_link")?,
        revenue: row.try_get("revenue")?,
        address: text(row, "company_address")?,
        city: text(row, "company_city")?,
        state: text(row, "company_state")?,
        country: text(row, "company_country")?,
        zip_code: text(row, "company_zip_code")?,
        phone: text(row, "company_phone")?,
        mobile_phone: text(row, "company_mobile_phone")?,
        external_source: row.try_get("company_external_source")?,
        external_id: text(row, "company_external_id")?,
        created_at: timestamp(row, "company_created_at")?,
        updated_at: timestamp(row, "company_updated_at")?,
    })
}

fn prospect_from_row(row: &Row) -> Result<Prospect, DbError> {
    let company = company_from_row(row)?;
    Ok(Prospect {
        id: row.try_get::<_, i64>("id")?.to_string(),
        company_id: company.id.clone(),
        external_source: row.try_get("external_source")?,
        external_id: row.try_get("external_id")?,
        salutation: text(row, "salutation")?,
        first_name: text(row, "first_name")?,
        last_name: text(row, "last_name")?,
        email: row.try_get("email")?,
        job_title: text(row, "job_title")?,
        job_title_level: JobTitleLevel::from_stored(
            row.try_get::<_, Option<&str>>("job_title_level")?,
        )
        .into(),
        department: text(row, "department")?,
        job_title_link: text(row, "job_title_link")?,
        address: text(row, "address")?,
        city: text(row, "city")?,
        state: text(row, "state")?,
        country: text(row, "country")?,
        zip_code: text(row, "zip_code")?,
        phone: text(row, "phone")?,
        mobile_phone: text(row, "mobile_phone")?,
        tags: row.try_get("tags")?,
        custom_fields: lma_proto::custom_fields_from_stored(row.try_get("custom_fields")?),
        created_at: timestamp(row, "created_at")?,
        updated_at: timestamp(row, "updated_at")?,
        company: Some(company),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_merge_skips_updates_that_change_nothing() {
        let clause = merge_clause("c", &[("name", "coalesce(EXCLUDED.name, c.name)")]);
        assert_eq!(
            clause,
            "DO UPDATE SET name = coalesce(EXCLUDED.name, c.name) \
             WHERE (c.name) IS DISTINCT FROM (coalesce(EXCLUDED.name, c.name))"
        );
    }

    #[test]
    fn the_later_token_is_the_larger_transaction_id_not_the_longer_text() {
        assert_eq!(later_token("998".into(), "1002".into()), "1002");
        assert_eq!(later_token("1002".into(), "998".into()), "1002");
    }

    #[test]
    fn the_unchanged_check_reads_the_incoming_row_where_the_merge_reads_excluded() {
        let check = merge_changes_nothing(
            "c",
            &[
                ("name", "coalesce(EXCLUDED.name, c.name)"),
                ("id", "EXCLUDED.id"),
            ],
            "s",
        );
        assert_eq!(
            check,
            "(c.name, c.id) IS NOT DISTINCT FROM (coalesce(s.name, c.name), s.id)"
        );
    }
}
