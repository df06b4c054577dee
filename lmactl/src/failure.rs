//! How a failed command ends: what it prints (the status code, the message and each field
//! violation on its own line) and its exit code, so that scripts can tell a typo from an outage.

use std::io::Write;

use tonic::Code;
use tonic_types::StatusExt as _;

/// lmactl's exit codes. clap exits with 2 for a command line it cannot parse, so `Usage` is 2
/// for lmactl's own usage errors too.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    Other,
    Usage,
    NotFound,
    InvalidArgument,
    Unavailable,
    Permission,
    Timeout,
}

impl Exit {
    /// Every failure's code and what it means: the help text and the man page show this table,
    /// and a test holds the tables of README.md and docs/LMACTL.md to it.
    pub const ALL: [(Exit, u8, &'static str); 7] = [
        (Exit::Other, 1, "any other failure"),
        (
            Exit::Usage,
            2,
            "usage: a bad command line, or a confirmation lmactl cannot ask for",
        ),
        (Exit::NotFound, 3, "not found (NOT_FOUND)"),
        (
            Exit::InvalidArgument,
            4,
            "invalid argument (INVALID_ARGUMENT), or bad input found before anything was sent",
        ),
        (
            Exit::Unavailable,
            5,
            "unavailable: the service cannot be reached (UNAVAILABLE); retry later",
        ),
        (
            Exit::Permission,
            6,
            "permission: a key that is unknown or revoked (UNAUTHENTICATED) or lacks the \
             scope (PERMISSION_DENIED)",
        ),
        (
            Exit::Timeout,
            7,
            "timeout: a wait ran out (--timeout-secs) or the call's deadline passed \
             (DEADLINE_EXCEEDED); the work may still finish",
        ),
    ];

    pub fn code(self) -> u8 {
        Self::ALL
            .iter()
            .find(|(exit, _, _)| *exit == self)
            .map_or(1, |(_, code, _)| *code)
    }

    /// The exit-code table for `lmactl --help`.
    pub fn help() -> String {
        let mut text = String::from("Exit codes:\n  0  success\n");
        for (_, code, meaning) in Self::ALL {
            text.push_str(&format!("  {code}  {meaning}\n"));
        }
        text
    }

    fn of_status(code: Code) -> Exit {
        match code {
            Code::NotFound => Exit::NotFound,
            Code::InvalidArgument => Exit::InvalidArgument,
            Code::Unavailable => Exit::Unavailable,
            Code::Unauthenticated | Code::PermissionDenied => Exit::Permission,
            Code::DeadlineExceeded => Exit::Timeout,
            _ => Exit::Other,
        }
    }

    /// The exit code an error means: the first status, refusal or connection failure in its
    /// chain; anything else is [`Exit::Other`].
    pub fn of(error: &anyhow::Error) -> Exit {
        for cause in error.chain() {
            if let Some(refused) = cause.downcast_ref::<Refused>() {
                return refused.exit;
            }
            if let Some(status) = cause.downcast_ref::<tonic::Status>() {
                return Self::of_status(status.code());
            }
            if cause.downcast_ref::<tonic::transport::Error>().is_some() {
                return Exit::Unavailable;
            }
        }
        Exit::Other
    }
}

/// A command lmactl itself refuses to carry out, with the exit code that says why.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Refused {
    pub exit: Exit,
    pub message: String,
}

impl Refused {
    pub fn usage(message: impl Into<String>) -> anyhow::Error {
        Refused {
            exit: Exit::Usage,
            message: message.into(),
        }
        .into()
    }

    pub fn timeout(message: impl Into<String>) -> anyhow::Error {
        Refused {
            exit: Exit::Timeout,
            message: message.into(),
        }
        .into()
    }

    pub fn invalid(message: impl Into<String>) -> anyhow::Error {
        Refused {
            exit: Exit::InvalidArgument,
            message: message.into(),
        }
        .into()
    }
}

/// A status code as gRPC names it (`INVALID_ARGUMENT`); tonic only has prose for them.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// The field violations (`google.rpc.BadRequest`) a status carries, as (field, description).
pub fn field_violations(status: &tonic::Status) -> Vec<(String, String)> {
    status
        .get_details_bad_request()
        .map(|bad| {
            bad.field_violations
                .into_iter()
                .map(|violation| (violation.field, violation.description))
                .collect()
        })
        .unwrap_or_default()
}

/// What a failed command prints: `error: <what was being done>: <CODE>: <message>`, then each
/// field violation on its own line.
pub fn describe(error: &anyhow::Error) -> String {
    let mut parts = Vec::new();
    let mut violations = Vec::new();
    for cause in error.chain() {
        if let Some(status) = cause.downcast_ref::<tonic::Status>() {
            let code = code_name(status.code());
            parts.push(if status.message().is_empty() {
                code.to_owned()
            } else {
                format!("{code}: {}", status.message())
            });
            violations = field_violations(status);
            break;
        }
        parts.push(cause.to_string());
    }
    let mut text = format!("error: {}\n", parts.join(": "));
    for (field, description) in violations {
        text.push_str(&format!("  {field}: {description}\n"));
    }
    text
}

/// Prints a failed command's error to `stderr` and returns its exit code.
pub fn report(error: &anyhow::Error, stderr: &mut dyn Write) -> u8 {
    // Nothing better to do when stderr itself fails: the exit code still tells.
    let _ = stderr.write_all(describe(error).as_bytes());
    Exit::of(error).code()
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context as _;

    #[test]
    fn statuses_refusals_and_the_rest_map_to_their_exit_codes() {
        let status = |code| anyhow::Error::new(tonic::Status::new(code, "x")).context("Call");
        assert_eq!(Exit::of(&status(Code::NotFound)).code(), 3);
        assert_eq!(Exit::of(&status(Code::InvalidArgument)).code(), 4);
        assert_eq!(Exit::of(&status(Code::Unavailable)).code(), 5);
        assert_eq!(Exit::of(&status(Code::PermissionDenied)).code(), 6);
        assert_eq!(Exit::of(&status(Code::Unauthenticated)).code(), 6);
        assert_eq!(Exit::of(&status(Code::DeadlineExceeded)).code(), 7);
        assert_eq!(Exit::of(&status(Code::Internal)).code(), 1);
        assert_eq!(Exit::of(&Refused::usage("say --yes")).code(), 2);
        let refused: anyhow::Result<()> = Err(Refused::invalid("bad rows"));
        let refused = refused.context("reading").expect_err("an error");
        assert_eq!(Exit::of(&refused).code(), 4);
        assert_eq!(Exit::of(&anyhow::anyhow!("disk full")).code(), 1);
        let codes: Vec<u8> = Exit::ALL.iter().map(|(exit, _, _)| exit.code()).collect();
        assert_eq!(codes, [1, 2, 3, 4, 5, 6, 7]);
    }

    #[test]
    fn a_status_is_described_with_its_code_message_and_each_violation() {
        let status = tonic::Status::with_error_details(
            Code::InvalidArgument,
            "invalid request: entries[0].policy: no",
            tonic_types::ErrorDetails::with_bad_request(vec![
                tonic_types::FieldViolation::new("entries[0].policy", "no"),
                tonic_types::FieldViolation::new("entries[2].email", "the value is bad"),
            ]),
        );
        let error = anyhow::Error::new(status).context("AddSuppressions");
        assert_eq!(
            describe(&error),
            "error: AddSuppressions: INVALID_ARGUMENT: invalid request: entries[0].policy: no\n  \
             entries[0].policy: no\n  entries[2].email: the value is bad\n"
        );
        let plain = anyhow::anyhow!("inner").context("outer");
        assert_eq!(describe(&plain), "error: outer: inner\n");
    }
}
