//! Everything that can go wrong in ingest-svc, mapped to a gRPC status in one place. No
//! internal text (a panic's, a database's) reaches a client: those are logged here.

use svc_core::{DbError, FieldViolation};
use tonic::Status;

/// Why a file cannot be imported at all (as opposed to a bad row).
#[derive(Debug, thiserror::Error)]
pub enum CsvError {
    #[error("the file has no header line")]
    NoHeader,
    #[error("{0}")]
    Header(String),
    #[error("reading the file: {0}")]
    Read(String),
    /// The upload broke off or the writer stopped taking batches.
    #[error("the upload ended early")]
    Aborted,
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("invalid request")]
    Invalid(Vec<FieldViolation>),
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The request field whose id names no prospect of the caller's organization.
    #[error("{0}: no such prospect")]
    NoSuchProspect(String),
    #[error("the company has {0} prospects; set delete_prospects to delete them with it")]
    CompanyHasProspects(u64),
    #[error("the file cannot be imported: {0}")]
    Csv(#[from] CsvError),
    #[error("the client ended the stream: {0}")]
    ClientStream(Status),
    #[error("the client cancelled the call")]
    Cancelled,
    #[error("the call's deadline passed before the import ended")]
    PastDeadline,
    #[error("{0} failed: {1}")]
    TaskFailed(&'static str, tokio::task::JoinError),
    /// A suppression entry refuses the record (a single write; bulk writes report a row error).
    #[error("{field}: {reason}")]
    Suppressed { field: String, reason: String },
    /// The record's source link names one prospect and its email belongs to another (a single
    /// write; bulk writes report a row error).
    #[error("{field}: {reason}")]
    IdentityConflict { field: String, reason: String },
    #[error("making a suppression secret: {0}")]
    Secret(getrandom::Error),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl IngestError {
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldViolation::new(field, description)])
    }

    /// Violations of a nested message, with their fields named from the request's root.
    pub fn invalid_within(message_field: &str, violations: Vec<FieldViolation>) -> Self {
        Self::Invalid(
            violations
                .into_iter()
                .map(|v| FieldViolation::new(format!("{message_field}.{}", v.field), v.description))
                .collect(),
        )
    }
}

impl From<IngestError> for Status {
    fn from(error: IngestError) -> Self {
        match error {
            IngestError::Invalid(violations) => svc_core::error::invalid_argument(violations),
            IngestError::NotFound(what) => Status::not_found(format!("{what} not found")),
            IngestError::NoSuchProspect(field) => {
                Status::not_found(format!("{field}: no such prospect"))
            }
            IngestError::CompanyHasProspects(count) => Status::failed_precondition(format!(
                "the company has {count} prospects; set delete_prospects to delete them with it"
            )),
            IngestError::Csv(CsvError::Aborted) => Status::cancelled("the import was cancelled"),
            IngestError::Csv(error) => svc_core::error::invalid_field(
                "chunk",
                format!("the file cannot be imported: {error}"),
            ),
            IngestError::ClientStream(status) => status,
            IngestError::Cancelled => Status::cancelled("the client cancelled the call"),
            IngestError::PastDeadline => Status::deadline_exceeded(
                "the call's deadline passed before the import ended; the batches its progress \
                 messages reported committed are stored, and importing the file again completes it",
            ),
            IngestError::TaskFailed(task, error) => {
                svc_core::error::internal("ingest-svc", &format!("{task} failed: {error}"))
            }
            // The organization's data forbids the write, not the request's form.
            IngestError::Suppressed { field, reason } => {
                Status::failed_precondition(format!("{field}: {reason}"))
            }
            IngestError::IdentityConflict { field, reason } => {
                Status::failed_precondition(format!("{field}: {reason}"))
            }
            IngestError::Secret(error) => svc_core::error::internal("ingest-svc", &error),
            IngestError::Db(error) => error.into(),
        }
    }
}

/// What a row error says when the database refused the row (a constraint the validation could
/// not see): the same text a single write's status would carry, never the database's own.
pub fn row_reason(error: DbError) -> String {
    Status::from(error).message().to_owned()
}
