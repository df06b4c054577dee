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

    /// This error as refresh-svc logs and records it: see [`describe`].
    pub fn describe(&self) -> String {
        match self {
            RefreshError::Db(error) => describe(error),
            other => other.to_string(),
        }
    }
}

/// SQLSTATE classes whose server messages name schema objects (tables, columns, constraints,
/// roles, types) and never quote row values: connection (08), unsupported feature (0A),
/// cardinality (21), integrity (23: the values are in the detail, which is never kept),
/// transaction state (25), rollback (40), syntax and access (42), resources (53), limits (54),
/// object state (55), operator intervention (57) and system (58).
const MESSAGE_SAFE_CLASSES: [&str; 12] = [
    "08", "0A", "21", "23", "25", "40", "42", "53", "54", "55", "57", "58",
];

/// How a failed refresh is described wherever it is kept or shown: `materialized_view_error`,
/// GetStatus's `last_error` (which every organization's admin key reads), RefreshNow's results
/// and refresh-svc's own logs. A server error keeps its SQLSTATE, and its message only in the
/// classes above. A data exception (22) quotes the value it could not take ("invalid input
/// syntax for type integer: ..."), and a PL/pgSQL RAISE (P0) says whatever it was given: from a
/// read model's definition, either could be one tenant's personal data. The message is in the
/// server's own log for an operator who needs it.
pub fn describe(error: &DbError) -> String {
    match error.db_error() {
        Some(report) => describe_server_error(report.code().code(), report.message()),
        None => error.to_string(),
    }
}

fn describe_server_error(code: &str, message: &str) -> String {
    let class = code.get(..2).unwrap_or_default();
    if MESSAGE_SAFE_CLASSES.contains(&class) {
        format!("database error {code}: {message}")
    } else {
        format!("database error {code} (message withheld: it may quote row values)")
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
                svc_core::error::internal("refresh-svc", &error)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::describe_server_error;

    #[test]
    fn messages_that_may_quote_values_are_withheld() {
        let quoted = describe_server_error(
            "22P02",
            "invalid input syntax for type integer: \"jane@example.com\"",
        );
        assert!(!quoted.contains("jane"), "{quoted}");
        assert!(quoted.contains("22P02"), "{quoted}");
        let raised = describe_server_error("P0001", "bad row Jane Doe");
        assert!(!raised.contains("Jane"), "{raised}");
        let internal = describe_server_error("XX000", "unexpected");
        assert!(!internal.contains("unexpected"), "{internal}");
    }

    #[test]
    fn messages_naming_schema_objects_are_kept() {
        assert_eq!(
            describe_server_error("42501", "permission denied for view company_summary_def"),
            "database error 42501: permission denied for view company_summary_def"
        );
        let unique = describe_server_error(
            "23505",
            "duplicate key value violates unique constraint \"company_summary_view_pkey\"",
        );
        assert!(unique.contains("company_summary_view_pkey"), "{unique}");
    }
}
