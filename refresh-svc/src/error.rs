//! Everything that can go wrong in refresh-svc, mapped to a gRPC status in one place.

use svc_core::{DbError, FieldViolation};
use tonic::Status;

#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("the {0} connection closed")]
    ConnectionClosed(&'static str),
    #[error("a refresh task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    #[error("invalid request: {0:?}")]
    InvalidArgument(Vec<FieldViolation>),
}

impl RefreshError {
    pub fn invalid(field: &str, description: impl Into<String>) -> Self {
        Self::InvalidArgument(vec![FieldViolation::new(field, description)])
    }
}

impl From<tokio_postgres::Error> for RefreshError {
    fn from(error: tokio_postgres::Error) -> Self {
        Self::Db(error.into())
    }
}

impl From<RefreshError> for Status {
    fn from(error: RefreshError) -> Self {
        match error {
            RefreshError::Db(error) => error.into(),
            RefreshError::InvalidArgument(violations) => {
                svc_core::error::invalid_argument(violations)
            }
            RefreshError::ConnectionClosed(_) | RefreshError::Task(_) => {
                tracing::error!(%error, "refresh-svc internal error");
                Status::internal("internal error")
            }
        }
    }
}
