//! Suppression entries as lmactl shows them: the words for reasons, policies and kinds (the
//! same in flags, CSV input and every output), and the columns of an entry in every output.
//! An email entry is shown only by its hash prefix: the service never returns the address.

use lma_proto::v1::{Suppression, SuppressionKind, SuppressionPolicy, SuppressionReason};

/// Entries one AddSuppressions call may carry (the contract's comment in
/// `proto/lma/v1/privacy.proto`; ingest-svc refuses a larger call).
pub const MAX_ENTRIES_PER_CALL: usize = 1_000;

const REASONS: [(SuppressionReason, &str); 5] = [
    (SuppressionReason::Erased, "erased"),
    (SuppressionReason::OptedOut, "opted-out"),
    (SuppressionReason::DoNotContact, "do-not-contact"),
    (SuppressionReason::Competitor, "competitor"),
    (SuppressionReason::Other, "other"),
];

const POLICIES: [(SuppressionPolicy, &str); 2] = [
    (SuppressionPolicy::Refuse, "refuse"),
    (SuppressionPolicy::Hide, "hide"),
];

const KINDS: [(SuppressionKind, &str); 2] = [
    (SuppressionKind::Email, "email"),
    (SuppressionKind::Domain, "domain"),
];

/// `OPTED_OUT`, `opted_out`, `Opted-Out` and `SUPPRESSION_REASON_OPTED_OUT` are all
/// `opted-out`: spreadsheets and the API spell them differently.
fn word(text: &str, prefix: &str) -> String {
    let word = text.trim().to_ascii_lowercase().replace('_', "-");
    match word.strip_prefix(prefix) {
        Some(rest) => rest.to_owned(),
        None => word,
    }
}

fn names<T>(table: &[(T, &'static str)]) -> String {
    table
        .iter()
        .map(|(_, name)| *name)
        .collect::<Vec<_>>()
        .join(", ")
}

fn name_of<T: Copy + Into<i32>>(table: &[(T, &'static str)], value: i32) -> String {
    table
        .iter()
        .find(|(known, _)| (*known).into() == value)
        .map_or_else(
            || {
                if value == 0 {
                    "unspecified".to_owned()
                } else {
                    value.to_string()
                }
            },
            |(_, name)| (*name).to_owned(),
        )
}

/// The reasons' names, for help texts.
pub fn reason_names() -> String {
    names(&REASONS)
}

pub fn policy_names() -> String {
    names(&POLICIES)
}

pub fn parse_reason(text: &str) -> Result<SuppressionReason, String> {
    let word = word(text, "suppression-reason-");
    REASONS
        .iter()
        .find(|(_, name)| *name == word)
        .map(|(reason, _)| *reason)
        .ok_or_else(|| format!("{text:?} is not a reason ({})", reason_names()))
}

pub fn parse_policy(text: &str) -> Result<SuppressionPolicy, String> {
    let word = word(text, "suppression-policy-");
    POLICIES
        .iter()
        .find(|(_, name)| *name == word)
        .map(|(policy, _)| *policy)
        .ok_or_else(|| format!("{text:?} is not a policy ({})", policy_names()))
}

pub fn reason_name(value: i32) -> String {
    name_of(&REASONS, value)
}

pub fn policy_name(value: i32) -> String {
    name_of(&POLICIES, value)
}

pub fn kind_name(value: i32) -> String {
    name_of(&KINDS, value)
}

/// An entry's columns, in the order every output shows them.
pub const COLUMNS: [&str; 9] = [
    "id",
    "kind",
    "domain",
    "email_hash_prefix",
    "reason",
    "reason_text",
    "policy",
    "created_at",
    "updated_at",
];

/// An entry's values, in [`COLUMNS`] order; an unset time is empty.
pub fn values(entry: &Suppression) -> Vec<String> {
    let time =
        |at: &Option<prost_types::Timestamp>| at.map(|at| at.to_string()).unwrap_or_default();
    vec![
        entry.id.clone(),
        kind_name(entry.kind),
        entry.domain.clone(),
        entry.email_hash_prefix.clone(),
        reason_name(entry.reason),
        entry.reason_text.clone(),
        policy_name(entry.policy),
        time(&entry.created_at),
        time(&entry.updated_at),
    ]
}

/// An entry as a JSON object of [`COLUMNS`].
pub fn to_json(entry: &Suppression) -> serde_json::Value {
    crate::output::json_object(&COLUMNS, values(entry))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_parse_in_every_spelling_and_name_back() {
        for spelling in [
            "opted-out",
            "OPTED_OUT",
            " Opted_Out ",
            "SUPPRESSION_REASON_OPTED_OUT",
        ] {
            assert_eq!(parse_reason(spelling), Ok(SuppressionReason::OptedOut));
        }
        assert_eq!(parse_policy("REFUSE"), Ok(SuppressionPolicy::Refuse));
        assert_eq!(
            parse_policy("suppression_policy_hide"),
            Ok(SuppressionPolicy::Hide)
        );
        assert!(
            parse_reason("maybe")
                .expect_err("unknown")
                .contains("do-not-contact")
        );
        assert!(parse_policy("").is_err());
        for (reason, name) in REASONS {
            assert_eq!(reason_name(reason.into()), name);
            assert_eq!(parse_reason(name), Ok(reason));
        }
        assert_eq!(reason_name(0), "unspecified");
        assert_eq!(policy_name(9), "9");
        assert_eq!(kind_name(SuppressionKind::Domain.into()), "domain");
    }

    #[test]
    fn an_entry_has_a_value_for_every_column() {
        let entry = Suppression {
            id: "7".to_owned(),
            kind: SuppressionKind::Email.into(),
            email_hash_prefix: "0123456789ab".to_owned(),
            reason: SuppressionReason::Erased.into(),
            policy: SuppressionPolicy::Refuse.into(),
            created_at: Some(prost_types::Timestamp {
                seconds: 0,
                nanos: 0,
            }),
            ..Default::default()
        };
        let values = values(&entry);
        assert_eq!(values.len(), COLUMNS.len());
        assert_eq!(
            values,
            [
                "7",
                "email",
                "",
                "0123456789ab",
                "erased",
                "",
                "refuse",
                "1970-01-01T00:00:00Z",
                ""
            ]
        );
        assert_eq!(to_json(&entry)["reason"], "erased");
    }
}
