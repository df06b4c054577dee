//! Everything that can go wrong in search-svc, mapped to a gRPC status in one place.

use svc_core::{DbError, FieldViolation};
use tonic::Status;

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("invalid request")]
    Invalid(Vec<FieldViolation>),
    #[error("{0}")]
    NotImplemented(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl SearchError {
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldViolation::new(field, description)])
    }
}

impl From<tokio_postgres::Error> for SearchError {
    fn from(error: tokio_postgres::Error) -> Self {
        Self::Db(error.into())
    }
}

impl From<SearchError> for Status {
    fn from(error: SearchError) -> Self {
        match error {
            SearchError::Invalid(violations) => svc_core::error::invalid_argument(violations),
            SearchError::NotImplemented(what) => Status::unimplemented(what),
            SearchError::Db(error) => error.into(),
        }
    }
}
