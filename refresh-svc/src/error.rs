//! Everything that can go wrong in refresh-svc, mapped to a gRPC status in one place.

use svc_core::DbError;
use tonic::Status;

#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("the listener's connection closed")]
    ListenerClosed,
    #[error("the listener's connection task failed: {0}")]
    ListenerTask(#[from] tokio::task::JoinError),
    #[error("{0} is not implemented yet")]
    NotImplemented(&'static str),
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
            RefreshError::NotImplemented(rpc) => {
                Status::unimplemented(format!("{rpc} is not implemented yet"))
            }
            RefreshError::ListenerClosed | RefreshError::ListenerTask(_) => {
                tracing::error!(%error, "refresh-svc internal error");
                Status::internal("internal error")
            }
        }
    }
}
