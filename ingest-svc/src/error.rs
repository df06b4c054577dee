//! Everything that can go wrong in ingest-svc, mapped to a gRPC status in one place.

use svc_core::{DbError, FieldViolation};
use tonic::Status;

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("invalid request")]
    Invalid(Vec<FieldViolation>),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0} is not implemented yet")]
    NotImplemented(&'static str),
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
            IngestError::NotImplemented(rpc) => {
                Status::unimplemented(format!("{rpc} is not implemented yet"))
            }
            IngestError::Db(error) => error.into(),
        }
    }
}
