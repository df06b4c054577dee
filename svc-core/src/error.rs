//! Request-validation errors as `INVALID_ARGUMENT` with `google.rpc.BadRequest` details
//! (DESIGN.md section 5), so clients can point at the offending fields.

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// How many violations the human-readable message lists; the details carry all of them.
const MESSAGE_VIOLATION_LIMIT: usize = 10;

/// One invalid field of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldViolation {
    /// Path to the field, dot-separated (e.g. `records[3].email`).
    pub field: String,
    /// Why the value is invalid.
    pub description: String,
}

impl FieldViolation {
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            description: description.into(),
        }
    }
}

impl From<FieldViolation> for tonic_types::FieldViolation {
    fn from(violation: FieldViolation) -> Self {
        tonic_types::FieldViolation::new(violation.field, violation.description)
    }
}

/// `INVALID_ARGUMENT` listing the violations both in the message ("field: description; ...")
/// and as `google.rpc.BadRequest` details.
pub fn invalid_argument(violations: impl IntoIterator<Item = FieldViolation>) -> Status {
    let violations: Vec<FieldViolation> = violations.into_iter().collect();
    let mut message = String::from("invalid request");
    for (i, violation) in violations.iter().take(MESSAGE_VIOLATION_LIMIT).enumerate() {
        message.push_str(if i == 0 { ": " } else { "; " });
        message.push_str(&violation.field);
        message.push_str(": ");
        message.push_str(&violation.description);
    }
    if let Some(more) = violations.len().checked_sub(MESSAGE_VIOLATION_LIMIT)
        && more > 0
    {
        message.push_str(&format!(" (and {more} more)"));
    }
    let details = ErrorDetails::with_bad_request(
        violations
            .into_iter()
            .map(tonic_types::FieldViolation::from)
            .collect::<Vec<_>>(),
    );
    Status::with_error_details(Code::InvalidArgument, message, details)
}

/// Shorthand for a request with one invalid field.
pub fn invalid_field(field: impl Into<String>, description: impl Into<String>) -> Status {
    invalid_argument([FieldViolation::new(field, description)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_violations_in_message_and_details() {
        let status = invalid_argument([
            FieldViolation::new("email", "must contain @"),
            FieldViolation::new("page_size", "must be at most 1000"),
        ]);
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(
            status.message(),
            "invalid request: email: must contain @; page_size: must be at most 1000"
        );
        let bad_request = status
            .get_details_bad_request()
            .expect("BadRequest details attached");
        let fields: Vec<(&str, &str)> = bad_request
            .field_violations
            .iter()
            .map(|v| (v.field.as_str(), v.description.as_str()))
            .collect();
        assert_eq!(
            fields,
            [
                ("email", "must contain @"),
                ("page_size", "must be at most 1000")
            ]
        );
    }

    #[test]
    fn long_lists_are_shortened_in_the_message_only() {
        let status = invalid_argument((0..15).map(|i| FieldViolation::new(format!("f{i}"), "bad")));
        assert!(
            status.message().ends_with("f9: bad (and 5 more)"),
            "{}",
            status.message()
        );
        let details = status.get_details_bad_request().expect("details");
        assert_eq!(details.field_violations.len(), 15);
    }

    #[test]
    fn single_field_shorthand() {
        let status = invalid_field("query", "too long");
        assert_eq!(status.message(), "invalid request: query: too long");
    }
}
