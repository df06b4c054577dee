//! Everything that can go wrong in search-svc, mapped to a gRPC status in one place.

use svc_core::{DbError, FieldViolation};
use tonic::Status;

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("invalid request")]
    Invalid(Vec<FieldViolation>),
    /// `min_token` was not reached by the read model within the call's deadline.
    #[error(
        "the read model has not caught up with min_token {token} before the deadline \
         (its watermark is {watermark}); retry later or with a longer deadline"
    )]
    NotFreshInTime { token: u64, watermark: u64 },
    #[error("{0} not found")]
    NotFound(String),
    /// The request asks for something the caller's key lacks the scope for (the message names
    /// the field and the scope).
    #[error("{0}")]
    PermissionDenied(String),
    /// Too many `min_token` waits at once, of the caller's key or of the whole service.
    #[error(
        "{whose} already has {limit} searches waiting for min_token, the most allowed; retry \
         later"
    )]
    TooManyWaits { limit: usize, whose: &'static str },
    /// The caller's key holds its whole share of the database connections.
    #[error(
        "this API key holds {share} of the service's database connections, its whole share \
         (LMA_DATABASE_POOL_SHARE_PER_KEY); retry later"
    )]
    PoolShareInUse { share: usize },
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

impl From<deadpool_postgres::PoolError> for SearchError {
    fn from(error: deadpool_postgres::PoolError) -> Self {
        Self::Db(error.into())
    }
}

impl From<SearchError> for Status {
    fn from(error: SearchError) -> Self {
        match error {
            SearchError::Invalid(violations) => svc_core::error::invalid_argument(violations),
            error @ SearchError::NotFreshInTime { .. } => {
                Status::deadline_exceeded(error.to_string())
            }
            SearchError::NotFound(what) => Status::not_found(format!("{what} not found")),
            SearchError::PermissionDenied(why) => Status::permission_denied(why),
            error @ (SearchError::TooManyWaits { .. } | SearchError::PoolShareInUse { .. }) => {
                Status::resource_exhausted(error.to_string())
            }
            SearchError::Db(error) => error.into(),
        }
    }
}
