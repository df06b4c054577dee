//! The entries of `lmactl suppress add`, from the flags and from a CSV file, each checked
//! before anything is sent. A bad entry is named by where it came from (`row 4, column
//! policy`, `--email #2`), never by its address. ingest-svc checks every entry again (it
//! normalizes addresses and domains); this catches what a file gets wrong before any call.

use std::fmt;
use std::io::Read;

use lma_proto::v1::suppression_entry::Subject;
use lma_proto::v1::{SuppressionEntry, SuppressionPolicy, SuppressionReason};

use crate::cli::SuppressAddArgs;
use crate::suppression::{parse_policy, parse_reason, reason_names};

/// The columns a file may have, as its header names them (case and `-`/space do not matter).
const COLUMNS: [&str; 5] = ["email", "domain", "reason", "reason_text", "policy"];

/// Where an entry came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// The `nth` (from 1) use of a flag.
    Flag { flag: &'static str, nth: usize },
    /// A record of the file, by the line it starts on; the header is row 1, as a spreadsheet
    /// numbers rows.
    Row(u64),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Flag { flag, nth } => write!(f, "{flag} #{nth}"),
            Origin::Row(row) => write!(f, "row {row}"),
        }
    }
}

/// An entry ready to send.
#[derive(Clone, Debug)]
pub struct Entry {
    pub origin: Origin,
    pub entry: SuppressionEntry,
}

/// Something wrong with an entry (or the header), for people.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub origin: Origin,
    /// The column (of the file) at fault; none for a flag or the whole row.
    pub column: Option<String>,
    pub why: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.column {
            Some(column) => write!(f, "{}, column {column}: {}", self.origin, self.why),
            None => write!(f, "{}: {}", self.origin, self.why),
        }
    }
}

/// What the flags say for entries that say nothing themselves.
pub struct Defaults {
    pub reason: Option<SuppressionReason>,
    pub reason_text: String,
    pub policy: SuppressionPolicy,
}

impl Defaults {
    pub fn of(args: &SuppressAddArgs) -> Self {
        Defaults {
            reason: args.reason,
            reason_text: args.reason_text.clone().unwrap_or_default(),
            policy: args.policy,
        }
    }
}

/// Entries and problems found so far.
#[derive(Default)]
pub struct Collected {
    pub entries: Vec<Entry>,
    pub problems: Vec<Problem>,
}

impl Collected {
    fn problem(&mut self, origin: &Origin, column: Option<&str>, why: impl Into<String>) {
        self.problems.push(Problem {
            origin: origin.clone(),
            column: column.map(str::to_owned),
            why: why.into(),
        });
    }
}

/// The entries of `--email` and `--domain`, in that order.
pub fn from_flags(args: &SuppressAddArgs, defaults: &Defaults, collected: &mut Collected) {
    let subjects = args
        .emails
        .iter()
        .enumerate()
        .map(|(i, email)| ("--email", i, Subject::Email(email.trim().to_owned())))
        .chain(
            args.domains
                .iter()
                .enumerate()
                .map(|(i, domain)| ("--domain", i, Subject::Domain(domain.trim().to_owned()))),
        );
    for (flag, i, subject) in subjects {
        let origin = Origin::Flag { flag, nth: i + 1 };
        if let Some(why) = subject_problem(&subject) {
            collected.problem(&origin, None, why);
            continue;
        }
        let Some(reason) = defaults.reason else {
            collected.problem(&origin, None, "a reason is required: give --reason");
            continue;
        };
        collected.entries.push(Entry {
            origin,
            entry: SuppressionEntry {
                subject: Some(subject),
                reason: reason.into(),
                reason_text: defaults.reason_text.clone(),
                policy: defaults.policy.into(),
            },
        });
    }
}

/// The entries of a CSV file. Reading problems (not UTF-8, more fields than the header) are
/// collected like bad values; only an I/O error ends the reading.
pub fn from_csv(
    source: impl Read,
    defaults: &Defaults,
    collected: &mut Collected,
) -> anyhow::Result<()> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        // Spreadsheets drop trailing empty cells; a short row has empty columns.
        .flexible(true)
        .from_reader(source);
    let mut records = reader.records();
    let header_row = Origin::Row(1);
    let header = match records.next() {
        None => return Ok(()),
        Some(Ok(header)) => header,
        Some(Err(error)) => {
            return match error.kind() {
                csv::ErrorKind::Io(_) => Err(error.into()),
                _ => {
                    collected.problem(&header_row, None, "the header is not UTF-8 text");
                    Ok(())
                }
            };
        }
    };
    let Some(columns) = header_columns(&header, collected) else {
        return Ok(());
    };
    for record in records {
        let record = match record {
            Ok(record) => record,
            Err(error) => {
                let row = error.position().map_or(0, csv::Position::line);
                match error.kind() {
                    csv::ErrorKind::Io(_) => return Err(error.into()),
                    csv::ErrorKind::Utf8 { .. } => {
                        collected.problem(&Origin::Row(row), None, "is not UTF-8 text")
                    }
                    _ => collected.problem(&Origin::Row(row), None, error.to_string()),
                }
                continue;
            }
        };
        let origin = Origin::Row(record.position().map_or(0, csv::Position::line));
        if record.iter().all(|field| field.trim().is_empty()) {
            continue;
        }
        if record.len() > columns.len() {
            collected.problem(
                &origin,
                None,
                format!(
                    "has {} fields; the header has {}",
                    record.len(),
                    columns.len()
                ),
            );
            continue;
        }
        let cell = |name: &str| {
            columns
                .iter()
                .position(|column| *column == name)
                .and_then(|i| record.get(i))
                .map(str::trim)
                .unwrap_or_default()
        };
        row(&origin, cell, defaults, collected);
    }
    Ok(())
}

/// The header's columns by their names in [`COLUMNS`]; `None` (with problems) when a column is
/// unknown or repeated or neither email nor domain is there.
fn header_columns(
    header: &csv::StringRecord,
    collected: &mut Collected,
) -> Option<Vec<&'static str>> {
    let row = Origin::Row(1);
    let mut columns = Vec::new();
    let before = collected.problems.len();
    for (i, name) in header.iter().enumerate() {
        // A byte-order mark is not part of the first name.
        let name = if i == 0 {
            name.trim_start_matches('\u{feff}')
        } else {
            name
        };
        let normalized = name.trim().to_lowercase().replace([' ', '-'], "_");
        match COLUMNS.iter().find(|column| **column == normalized) {
            Some(column) if columns.contains(column) => {
                collected.problem(&row, Some(name.trim()), "is named twice");
            }
            Some(column) => columns.push(*column),
            None => collected.problem(
                &row,
                Some(name.trim()),
                format!(
                    "is not a column of suppression entries ({})",
                    COLUMNS.join(", ")
                ),
            ),
        }
    }
    if !columns.contains(&"email") && !columns.contains(&"domain") {
        collected.problem(
            &row,
            None,
            "the header names neither an email nor a domain column",
        );
    }
    (collected.problems.len() == before).then_some(columns)
}

/// One record of the file, its cells by column name.
fn row<'r>(
    origin: &Origin,
    cell: impl Fn(&str) -> &'r str,
    defaults: &Defaults,
    collected: &mut Collected,
) {
    let before = collected.problems.len();
    let subject = match (cell("email"), cell("domain")) {
        ("", "") => {
            collected.problem(origin, Some("email"), "an email or a domain is required");
            None
        }
        (email, "") => Some(Subject::Email(email.to_owned())),
        ("", domain) => Some(Subject::Domain(domain.to_owned())),
        (_, _) => {
            collected.problem(
                origin,
                Some("domain"),
                "give an email or a domain, not both",
            );
            None
        }
    };
    if let Some(why) = subject.as_ref().and_then(subject_problem) {
        let column = match subject {
            Some(Subject::Email(_)) => "email",
            _ => "domain",
        };
        collected.problem(origin, Some(column), why);
    }
    let reason = match (cell("reason"), defaults.reason) {
        ("", Some(reason)) => Some(reason),
        ("", None) => {
            collected.problem(
                origin,
                Some("reason"),
                format!("is required ({}), or give --reason", reason_names()),
            );
            None
        }
        (text, _) => parse_reason(text)
            .map_err(|why| collected.problem(origin, Some("reason"), why))
            .ok(),
    };
    let policy = match cell("policy") {
        "" => Some(defaults.policy),
        text => parse_policy(text)
            .map_err(|why| collected.problem(origin, Some("policy"), why))
            .ok(),
    };
    let reason_text = match cell("reason_text") {
        "" => defaults.reason_text.clone(),
        text => text.to_owned(),
    };
    if let (Some(subject), Some(reason), Some(policy)) = (subject, reason, policy)
        && collected.problems.len() == before
    {
        collected.entries.push(Entry {
            origin: origin.clone(),
            entry: SuppressionEntry {
                subject: Some(subject),
                reason: reason.into(),
                reason_text,
                policy: policy.into(),
            },
        });
    }
}

/// What is wrong with an address or a domain at a glance; the value is never quoted.
fn subject_problem(subject: &Subject) -> Option<&'static str> {
    let blank_or_spaced =
        |text: &str| text.is_empty() || text.chars().any(|c| c.is_whitespace() || c.is_control());
    match subject {
        Subject::Email(email) => match email.rsplit_once('@') {
            Some((local, domain)) if !blank_or_spaced(local) && !blank_or_spaced(domain) => None,
            _ => Some("is not an email address"),
        },
        Subject::Domain(domain) if blank_or_spaced(domain) => Some("is not a domain"),
        Subject::Domain(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults(reason: Option<SuppressionReason>) -> Defaults {
        Defaults {
            reason,
            reason_text: "from the flags".to_owned(),
            policy: SuppressionPolicy::Refuse,
        }
    }

    fn read(text: &str, reason: Option<SuppressionReason>) -> Collected {
        let mut collected = Collected::default();
        from_csv(text.as_bytes(), &defaults(reason), &mut collected).expect("no I/O error");
        collected
    }

    fn problems(collected: &Collected) -> Vec<String> {
        collected.problems.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn rows_take_their_own_values_over_the_flags() {
        let collected = read(
            "\u{feff}Email,DOMAIN,Reason,Reason Text,policy\n\
             ann@acme.com,,,,\n\
             ,rival.io,COMPETITOR,rival,hide\n\
             ,,,,\n",
            Some(SuppressionReason::OptedOut),
        );
        assert_eq!(problems(&collected), Vec::<String>::new());
        let entries: Vec<_> = collected.entries.iter().map(|e| &e.entry).collect();
        assert_eq!(entries.len(), 2, "the blank row is skipped");
        assert_eq!(
            entries[0].subject,
            Some(Subject::Email("ann@acme.com".to_owned()))
        );
        assert_eq!(entries[0].reason(), SuppressionReason::OptedOut);
        assert_eq!(entries[0].reason_text, "from the flags");
        assert_eq!(entries[0].policy(), SuppressionPolicy::Refuse);
        assert_eq!(
            entries[1].subject,
            Some(Subject::Domain("rival.io".to_owned()))
        );
        assert_eq!(entries[1].reason(), SuppressionReason::Competitor);
        assert_eq!(entries[1].reason_text, "rival");
        assert_eq!(entries[1].policy(), SuppressionPolicy::Hide);
        assert_eq!(collected.entries[1].origin, Origin::Row(3));
    }

    #[test]
    fn bad_rows_are_named_by_row_and_column_without_their_address() {
        let collected = read(
            "email,domain,reason,policy\n\
             ann@acme.com,,opted-out,refuse\n\
             not an address,,opted-out,refuse\n\
             ,,opted-out,\n\
             bob@acme.com,acme.com,opted-out,\n\
             cy@acme.com,,maybe,sometimes\n\
             dee@acme.com,,,\n\
             eve@acme.com,,other,refuse,extra\n",
            None,
        );
        assert_eq!(
            problems(&collected),
            [
                "row 3, column email: is not an email address",
                "row 4, column email: an email or a domain is required",
                "row 5, column domain: give an email or a domain, not both",
                "row 6, column reason: \"maybe\" is not a reason (erased, opted-out, \
                 do-not-contact, competitor, other)",
                "row 6, column policy: \"sometimes\" is not a policy (refuse, hide)",
                "row 7, column reason: is required (erased, opted-out, do-not-contact, \
                 competitor, other), or give --reason",
                "row 8: has 5 fields; the header has 4",
            ]
        );
        assert!(!problems(&collected).concat().contains("not an address"));
        assert_eq!(collected.entries.len(), 1);
    }

    #[test]
    fn a_bad_header_stops_before_the_rows() {
        let collected = read("e-mail,reason\nann@acme.com,erased\n", None);
        assert_eq!(
            problems(&collected),
            [
                "row 1, column e-mail: is not a column of suppression entries (email, \
                 domain, reason, reason_text, policy)",
                "row 1: the header names neither an email nor a domain column",
            ]
        );
        let collected = read("domain,Domain\nacme.com,acme.com\n", None);
        assert_eq!(
            problems(&collected),
            ["row 1, column Domain: is named twice"]
        );
        assert!(collected.entries.is_empty());
        assert!(read("", None).problems.is_empty());
    }

    #[test]
    fn rows_that_are_not_utf8_are_named() {
        let mut collected = Collected::default();
        let file = b"domain,reason\nacme.com,erased\nbad\xff.com,erased\nok.io,erased\n";
        from_csv(&file[..], &defaults(None), &mut collected).expect("no I/O error");
        assert_eq!(problems(&collected), ["row 3: is not UTF-8 text"]);
        assert_eq!(collected.entries.len(), 2);
    }

    #[test]
    fn flags_need_a_reason_and_plausible_values() {
        use clap::Parser as _;
        let cli = crate::Cli::try_parse_from([
            "lmactl",
            "suppress",
            "add",
            "--email",
            "ann@acme.com",
            "--email",
            "ann at acme",
            "--domain",
            "rival.io",
            "--api-key",
            "k",
        ])
        .expect("parses");
        let crate::cli::Command::Suppress(crate::cli::SuppressArgs {
            command: crate::cli::SuppressCommand::Add(args),
        }) = cli.command
        else {
            panic!("parsed as another command");
        };
        let mut collected = Collected::default();
        from_flags(&args, &Defaults::of(&args), &mut collected);
        assert_eq!(
            problems(&collected),
            [
                "--email #1: a reason is required: give --reason",
                "--email #2: is not an email address",
                "--domain #1: a reason is required: give --reason",
            ]
        );
        let mut collected = Collected::default();
        from_flags(
            &args,
            &defaults(Some(SuppressionReason::Erased)),
            &mut collected,
        );
        assert_eq!(
            problems(&collected),
            ["--email #2: is not an email address"]
        );
        assert_eq!(collected.entries.len(), 2);
    }
}
