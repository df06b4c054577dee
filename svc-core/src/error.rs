//! Request-validation errors as `INVALID_ARGUMENT` with `google.rpc.BadRequest` details
//! so clients can point at the offending fields.

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// How many violations the human-readable message lists; the details carry all of them.
const MESSAGE_VIOLATION_LIMIT: usize = 10;

/// Longest piece of a caller's input quoted back in an error, in characters (docs/API.md,
/// "Errors"): enough to recognise the value, never enough to turn an error into a megabyte echo.
pub const MAX_QUOTED_CHARS: usize = 64;

/// Longest field path or description one violation carries, in characters: a backstop for
/// texts that embed caller input (a custom-field key in a path) without going through
/// [`quoted`].
const MAX_VIOLATION_CHARS: usize = 512;

/// `value` as an error message quotes it: in double quotes with Rust's escapes, and cut to
/// [`MAX_QUOTED_CHARS`] characters (then ending in `...` and the value's full length).
pub fn quoted(value: &str) -> String {
    let chars = value.chars().count();
    if chars <= MAX_QUOTED_CHARS {
        return format!("{value:?}");
    }
    let cut: String = value.chars().take(MAX_QUOTED_CHARS).collect();
    let shown = format!("{cut:?}");
    // Drop the closing quote so the cut is visible.
    format!(
        "{}...\" ({chars} characters)",
        shown.strip_suffix('"').unwrap_or(&shown)
    )
}

/// Why PostgreSQL cannot store `value` in a `text` or `jsonb` column, if it cannot. With a
/// UTF-8 database every Unicode scalar value but U+0000 (NUL) can be stored; a NUL makes the
/// server refuse the whole statement, so it is refused here, before any SQL, naming the field.
pub fn unstorable_text(value: &str) -> Option<&'static str> {
    value
        .contains('\0')
        .then_some("contains a NUL character (U+0000), which cannot be stored")
}

/// The status of a failure in our own code (a bug, a failed task, a lost internal channel):
/// `error` goes to the log, and the client learns only that the service failed, never the text.
pub fn internal(service: &'static str, error: &dyn std::fmt::Display) -> Status {
    tracing::error!(service, %error, "internal error");
    Status::internal(INTERNAL_MESSAGE)
}

/// The whole message of every [`internal`] status.
pub const INTERNAL_MESSAGE: &str = "internal error";

/// Cuts `text` to `max_chars` characters, marking the cut.
fn capped(mut text: String, max_chars: usize) -> String {
    if let Some((at, _)) = text.char_indices().nth(max_chars) {
        text.truncate(at);
        text.push_str("...");
    }
    text
}

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

impl FieldViolation {
    /// The violation with its field path and description cut to a bounded length.
    fn bounded(self) -> Self {
        Self {
            field: capped(self.field, MAX_VIOLATION_CHARS),
            description: capped(self.description, MAX_VIOLATION_CHARS),
        }
    }
}

/// Collects every invalid field of a request before failing, so that a caller learns every
/// problem at once; the one collector of field violations (ingest's records, search's filters).
#[derive(Debug, Default)]
pub struct Violations(Vec<FieldViolation>);

impl Violations {
    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.0.push(FieldViolation::new(field, description));
    }

    pub fn extend(&mut self, violations: impl IntoIterator<Item = FieldViolation>) {
        self.0.extend(violations);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether PostgreSQL can store `value` ([`unstorable_text`]); a violation of `field`
    /// (named only when needed) when it cannot.
    pub fn storable(&mut self, field: impl FnOnce() -> String, value: &str) -> bool {
        match unstorable_text(value) {
            Some(problem) => {
                self.add(field(), problem);
                false
            }
            None => true,
        }
    }

    /// `value` when nothing was invalid, else every violation.
    pub fn finish<T>(self, value: T) -> Result<T, Vec<FieldViolation>> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(self.0)
        }
    }
}

/// `INVALID_ARGUMENT` listing the violations both in the message ("field: description; ...")
/// and as `google.rpc.BadRequest` details.
pub fn invalid_argument(violations: impl IntoIterator<Item = FieldViolation>) -> Status {
    let violations: Vec<FieldViolation> = violations
        .into_iter()
        .map(FieldViolation::bounded)
        .collect();
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
    fn internal_statuses_carry_no_error_text() {
        let status = internal("test-svc", &"panicked at src/x.rs:1: jane@example.com");
        assert_eq!(status.code(), Code::Internal);
        assert_eq!(status.message(), INTERNAL_MESSAGE);
    }

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
    fn quoted_values_are_cut_to_the_documented_length() {
        assert_eq!(quoted("acme"), "\"acme\"");
        assert_eq!(quoted("a\"b"), "\"a\\\"b\"");
        let long = "é".repeat(2_000_000);
        let shown = quoted(&long);
        assert!(shown.starts_with(&format!("\"{}", "é".repeat(MAX_QUOTED_CHARS))));
        assert!(shown.ends_with("...\" (2000000 characters)"), "{shown}");
        assert!(shown.chars().count() < MAX_QUOTED_CHARS + 40);
        let exact = "x".repeat(MAX_QUOTED_CHARS);
        assert_eq!(quoted(&exact), format!("{exact:?}"));
    }

    #[test]
    fn nul_is_the_one_unstorable_character() {
        assert!(unstorable_text("a\0b").is_some());
        assert!(unstorable_text("\u{1}\u{7f}\u{fffe}\u{10ffff} emoji 😀").is_none());
    }

    #[test]
    fn huge_fields_and_descriptions_are_capped() {
        let key = "k".repeat(2 * 1024 * 1024);
        let status = invalid_argument([FieldViolation::new(
            format!("filter.custom_fields[{key}]"),
            format!("{key} is bad"),
        )]);
        assert!(status.message().len() < 2 * (MAX_VIOLATION_CHARS + 8) + 32);
        let details = status.get_details_bad_request().expect("details");
        let violation = &details.field_violations[0];
        assert!(violation.field.ends_with("..."));
        assert!(violation.field.chars().count() <= MAX_VIOLATION_CHARS + 3);
        assert!(violation.description.chars().count() <= MAX_VIOLATION_CHARS + 3);
    }

    #[test]
    fn the_collector_keeps_every_violation_in_order() {
        let mut violations = Violations::default();
        assert!(violations.storable(|| unreachable!("named only when needed"), "fine"));
        violations.add("a", "bad");
        assert!(!violations.storable(|| "b".to_owned(), "x\0"));
        violations.extend([FieldViolation::new("c", "worse")]);
        let fields: Vec<String> = violations
            .finish(())
            .expect_err("three violations")
            .into_iter()
            .map(|v| v.field)
            .collect();
        assert_eq!(fields, ["a", "b", "c"]);
        assert_eq!(Violations::default().finish(7), Ok(7));
    }

    #[test]
    fn single_field_shorthand() {
        let status = invalid_field("query", "too long");
        assert_eq!(status.message(), "invalid request: query: too long");
    }
}
