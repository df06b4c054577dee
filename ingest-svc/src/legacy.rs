//! MigrateLegacyCustomers: rows of the flat `customer` table become companies and prospects
//! through the same pipeline as any other input, then integrity is checked.
//!
//! A customer row keeps its identity: (external_source, external_id) when it has an external
//! id, otherwise ("legacy_customer", its id). Re-running the migration changes nothing.

use lma_proto::v1::MigrateLegacyCustomersResponse;

use crate::error::IngestError;
use crate::normalize;
use crate::pipeline::{self, Input, Intake, Target};

/// Rows per transaction when the request names none.
pub const DEFAULT_BATCH_SIZE: u32 = 5_000;

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
    let (batches, writer) = pipeline::start(target, |_, _| async {});
    let mut intake = Intake::new(batch_size as usize, batches);
    let mut customers_read = 0u64;
    let mut rows_without_usable_domain = 0u64;
    let mut last_id = 0i64;
    'read: loop {
        let page = store
            .legacy_customers(organization_id, last_id, batch_size)
            .await?;
        let Some(last) = page.last() else { break };
        last_id = last.id;
        for mut customer in page {
            customers_read += 1;
            let record = &mut customer.record;
            if record.external_id.trim().is_empty() {
                record.external_source = "legacy_customer".to_owned();
                record.external_id = customer.id.to_string();
            }
            let explicit = record
                .company
                .as_ref()
                .is_some_and(|c| normalize::company_domain(&c.domain).is_ok());
            if !explicit && normalize::domain_of_email(&record.email).is_err() {
                rows_without_usable_domain += 1;
            }
            if intake
                .add(customer.id as u64, Input::Record(record))
                .await
                .is_err()
            {
                break 'read;
            }
        }
    }
    // The writer's own error, if it stopped, is what join reports.
    let _ = intake.finish().await;
    let totals = writer.join().await?;
    let integrity = store.legacy_integrity(organization_id).await?;
    Ok(MigrateLegacyCustomersResponse {
        customers_read,
        summary: Some(totals.summary()),
        rows_without_usable_domain,
        prospects_without_company: integrity.prospects_without_company,
        customers_without_prospect: integrity.customers_without_prospect,
    })
}
