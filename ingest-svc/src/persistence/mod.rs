//! Ingest's persistence: the column tables ([`columns`]) and the statements derived from them
//! ([`sql`]), the [`Store`] every read and write goes through, the batch writer (binary
//! COPY and set-based merges, [`batch`], over several connections, [`lanes`]), suppression
//! lists ([`suppression`]), a person's data exported and erased ([`person`]) and the privacy
//! audit log both write ([`audit`]).

mod audit;
mod batch;
mod columns;
mod identity;
mod lanes;
mod merge;
mod person;
mod retry;
mod sql;
mod store;
mod suppression;

use lma_proto::v1::RowError;

pub use batch::ImportMemory;
pub use lanes::BatchOptions;
pub use merge::MergeOutcome;
pub use store::{DeleteCompanyOutcome, Store, UpsertError};

use crate::validate::ProspectRow;

/// A valid record and where it came from (1-based record number or CSV line).
#[derive(Debug)]
pub struct StagedRow {
    pub row: u64,
    pub record: ProspectRow,
}

/// Rows screened against the organization's suppression list, and the version of the list
/// they were screened against. The transaction that writes them compares it with the list's
/// version under the list's lock, and screens them again if the list changed since
/// ([`Store::hold_screening`]).
#[derive(Debug)]
pub struct ScreenedRows {
    pub rows: Vec<StagedRow>,
    pub version: i64,
}

/// What one batch did.
#[derive(Debug, Default)]
pub struct BatchOutcome {
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub companies_created: u64,
    pub companies_updated: u64,
    /// Rows the database refused, one error each.
    pub rejected: Vec<RowError>,
    pub rejected_records: u64,
    /// Token of the batch's commit; `None` when nothing was committed.
    pub consistency_token: Option<String>,
    /// The write stopped on an abort: parts not committed by then were rolled back.
    pub aborted: bool,
}

impl BatchOutcome {
    /// Whether the batch changed a stored row or added one.
    fn wrote(&self) -> bool {
        self.inserted + self.updated + self.companies_created + self.companies_updated > 0
    }

    /// Adds the outcome of another part of the same batch.
    fn absorb(&mut self, part: BatchOutcome) {
        self.inserted += part.inserted;
        self.updated += part.updated;
        self.unchanged += part.unchanged;
        self.companies_created += part.companies_created;
        self.companies_updated += part.companies_updated;
        self.rejected.extend(part.rejected);
        self.rejected_records += part.rejected_records;
        self.aborted |= part.aborted;
        self.consistency_token = match (self.consistency_token.take(), part.consistency_token) {
            (Some(mine), Some(theirs)) => Some(store::later_token(mine, theirs)),
            (mine, theirs) => mine.or(theirs),
        };
    }
}

/// A staged row of acme.com, without company values, for tests.
#[cfg(test)]
pub(crate) fn plain(row: u64, external_id: &str) -> StagedRow {
    staged(
        row,
        external_id,
        "acme.com",
        crate::validate::CompanyRow::default(),
    )
}

/// A staged row of `domain` for tests, with `company`'s values.
#[cfg(test)]
pub(crate) fn staged(
    row: u64,
    external_id: &str,
    domain: &str,
    company: crate::validate::CompanyRow,
) -> StagedRow {
    StagedRow {
        row,
        record: ProspectRow {
            external_source: "csv".into(),
            external_id: external_id.into(),
            salutation: None,
            first_name: None,
            last_name: None,
            email: format!("x@{domain}"),
            job_title: None,
            job_title_level: None,
            department: None,
            job_title_link: None,
            address: None,
            city: None,
            state: None,
            country: None,
            country_code: None,
            zip_code: None,
            phone: None,
            mobile_phone: None,
            tags: Vec::new(),
            custom_fields: serde_json::json!({}),
            company: crate::validate::CompanyRow {
                domain: domain.into(),
                ..company
            },
            suppressed_by: None,
        },
    }
}
