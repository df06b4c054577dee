//! MigrateLegacyCustomers: rows of the flat `customer` table become companies and prospects
//! through the same validation and bulk merge as any other input, then integrity is checked.
//!
//! A customer row keeps its identity: (external_source, external_id) when it has an external
//! id, otherwise ("legacy_customer", its id). Re-running the migration changes nothing.

use lma_proto::v1::{CompanyRecord, JobTitleLevel, MigrateLegacyCustomersResponse, ProspectRecord};
use svc_core::telemetry::spawn_traced;
use tokio::sync::mpsc;
use tokio_postgres::Row;

use crate::bulk::{self, Batch, Batcher, StagedRow, Target};
use crate::csv_import::row_errors;
use crate::error::IngestError;
use crate::{normalize, validate};

/// Rows per transaction when the request names none.
pub const DEFAULT_BATCH_SIZE: u32 = 5_000;

const SELECT_CUSTOMERS: &str = "SELECT id, external_source, external_id, salutation, \
     first_name, last_name, email, job_title, job_title_level, department, job_title_link, \
     address, city, state, country, zip_code, phone, mobile_phone, company_name, \
     company_domain, industry, min_employees, max_employees, employee_size_link, revenue, \
     company_address, company_city, company_state, company_country, company_zip_code, \
     company_phone \
     FROM customer WHERE organization_id = $1 AND id > $2 ORDER BY id LIMIT $3";

pub async fn migrate(
    target: Target,
    batch_size: u32,
) -> Result<MigrateLegacyCustomersResponse, IngestError> {
    let batch_size = if batch_size == 0 {
        DEFAULT_BATCH_SIZE
    } else {
        batch_size.min(100_000)
    };
    let organization_id = target.organization_id;
    let store = target.store.clone();
    let (batches, receiver) = mpsc::channel::<Batch>(1);
    let writer = spawn_traced(bulk::write_batches(target, receiver, |_, _| async {}));
    let mut batcher = Batcher::new(batch_size as usize);
    let mut customers_read = 0u64;
    let mut rows_without_usable_domain = 0u64;
    let mut last_id = 0i64;
    loop {
        let page = {
            let client = store.pool.get().await.map_err(svc_core::DbError::from)?;
            client
                .query(
                    SELECT_CUSTOMERS,
                    &[&organization_id, &last_id, &i64::from(batch_size)],
                )
                .await
                .map_err(svc_core::DbError::from)?
        };
        let Some(last) = page.last() else { break };
        last_id = last.try_get("id").map_err(svc_core::DbError::from)?;
        for customer in &page {
            customers_read += 1;
            let id: i64 = customer.try_get("id").map_err(svc_core::DbError::from)?;
            let record = record_of(customer).map_err(svc_core::DbError::from)?;
            let explicit = record
                .company
                .as_ref()
                .is_some_and(|c| normalize::company_domain(&c.domain).is_ok());
            if !explicit && normalize::domain_of_email(&record.email).is_err() {
                rows_without_usable_domain += 1;
            }
            let ready = match validate::prospect(&record) {
                Ok(row) => batcher.push(StagedRow {
                    row: id as u64,
                    record: row,
                }),
                Err(violations) => {
                    batcher.reject(row_errors(id as u64, &record.external_id, violations))
                }
            };
            if let Some(batch) = ready
                && batches.send(batch).await.is_err()
            {
                break;
            }
        }
    }
    if let Some(batch) = batcher.finish() {
        let _ = batches.send(batch).await;
    }
    drop(batches);
    let totals = bulk::join_writer(writer).await?;
    let client = store.pool.get().await.map_err(svc_core::DbError::from)?;
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
        .await
        .map_err(svc_core::DbError::from)?;
    let count = |index: usize| -> Result<u64, IngestError> {
        Ok(checks
            .try_get::<_, i64>(index)
            .map_err(svc_core::DbError::from)?
            .max(0) as u64)
    };
    Ok(MigrateLegacyCustomersResponse {
        customers_read,
        summary: Some(totals.summary()),
        rows_without_usable_domain,
        prospects_without_company: count(0)?,
        customers_without_prospect: count(1)?,
    })
}

fn record_of(customer: &Row) -> Result<ProspectRecord, tokio_postgres::Error> {
    let text = |column: &str| -> Result<String, tokio_postgres::Error> {
        Ok(customer
            .try_get::<_, Option<String>>(column)?
            .unwrap_or_default())
    };
    let id: i64 = customer.try_get("id")?;
    let external_id = text("external_id")?;
    let (external_source, external_id) = if external_id.trim().is_empty() {
        ("legacy_customer".to_owned(), id.to_string())
    } else {
        (text("external_source")?, external_id)
    };
    Ok(ProspectRecord {
        external_source,
        external_id,
        salutation: text("salutation")?,
        first_name: text("first_name")?,
        last_name: text("last_name")?,
        email: text("email")?,
        job_title: text("job_title")?,
        job_title_level: JobTitleLevel::from_stored(
            customer
                .try_get::<_, Option<String>>("job_title_level")?
                .as_deref()
                .map(str::trim),
        ) as i32,
        department: text("department")?,
        job_title_link: text("job_title_link")?,
        address: text("address")?,
        city: text("city")?,
        state: text("state")?,
        country: text("country")?,
        zip_code: text("zip_code")?,
        phone: text("phone")?,
        mobile_phone: text("mobile_phone")?,
        company: Some(CompanyRecord {
            domain: text("company_domain")?,
            name: text("company_name")?,
            industry: text("industry")?,
            min_employees: customer.try_get("min_employees")?,
            max_employees: customer.try_get("max_employees")?,
            employee_size_link: text("employee_size_link")?,
            revenue: customer.try_get("revenue")?,
            address: text("company_address")?,
            city: text("company_city")?,
            state: text("company_state")?,
            country: text("company_country")?,
            zip_code: text("company_zip_code")?,
            phone: text("company_phone")?,
            ..Default::default()
        }),
        ..Default::default()
    })
}
