//! Suppression entries, without the database: their vocabulary (reasons, policies) as the API
//! and the tables name it, the limits of a request, validation of AddSuppressions entries into
//! normalized subjects, the person an access or erasure request names and the entry an
//! erasure leaves, and the keyed hash that stands for an email address.
//!
//! An email is never stored for an entry: only HMAC-SHA256 of the normalized address under the
//! organization's secret ([`EmailKey`]), so the same address always meets the same entry and
//! nobody without the secret can test a guess against the table.

use hmac::{Hmac, KeyInit, Mac};
use lma_proto::v1::suppression_entry::Subject as ProtoSubject;
use lma_proto::v1::{SuppressionEntry, SuppressionPolicy, SuppressionReason};
use sha2::Sha256;
use svc_core::FieldViolation;
use svc_core::error::{quoted, unstorable_text};

use crate::validate::limit;
use crate::{normalize, values};

/// Entries one AddSuppressions call may carry: one transaction, bounded.
pub const MAX_ENTRIES_PER_CALL: usize = 1_000;

/// Characters of an entry's free-text reason.
pub const MAX_REASON_TEXT_CHARS: usize = 500;

/// ListSuppressions page size when the request names none, and the most it may ask for.
pub const DEFAULT_PAGE_SIZE: u32 = 50;
pub const MAX_PAGE_SIZE: u32 = 1_000;

/// Hex characters of an email entry's hash that ListSuppressions shows: enough to tell entries
/// apart, too few to be the hash.
pub const HASH_PREFIX_HEX_CHARS: usize = 12;

/// Why a value is suppressed, as stored in `suppression.reason`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    Erased,
    OptedOut,
    DoNotContact,
    Competitor,
    Other,
}

impl Reason {
    const ALL: [(Reason, &'static str, SuppressionReason); 5] = [
        (Reason::Erased, "erased", SuppressionReason::Erased),
        (Reason::OptedOut, "opted_out", SuppressionReason::OptedOut),
        (
            Reason::DoNotContact,
            "do_not_contact",
            SuppressionReason::DoNotContact,
        ),
        (
            Reason::Competitor,
            "competitor",
            SuppressionReason::Competitor,
        ),
        (Reason::Other, "other", SuppressionReason::Other),
    ];

    pub fn as_stored(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(reason, _, _)| *reason == self)
            .map_or("other", |(_, stored, _)| stored)
    }

    pub fn from_stored(stored: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .find(|(_, name, _)| *name == stored)
            .map(|(reason, _, _)| *reason)
    }

    fn from_proto(value: SuppressionReason) -> Option<Self> {
        Self::ALL
            .iter()
            .find(|(_, _, proto)| *proto == value)
            .map(|(reason, _, _)| *reason)
    }

    pub fn to_proto(self) -> SuppressionReason {
        Self::ALL
            .iter()
            .find(|(reason, _, _)| *reason == self)
            .map_or(SuppressionReason::Other, |(_, _, proto)| *proto)
    }

    /// The stored names, for messages.
    pub fn names() -> String {
        Self::ALL.map(|(_, name, _)| name).join(", ")
    }
}

/// What a suppressed value does, as stored in `suppression.policy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// Ingest rejects matching rows.
    Refuse,
    /// Matching rows are stored but searches leave them out.
    Hide,
}

impl Policy {
    pub fn as_stored(self) -> &'static str {
        match self {
            Policy::Refuse => "refuse",
            Policy::Hide => "hide",
        }
    }

    pub fn from_stored(stored: &str) -> Option<Self> {
        match stored {
            "refuse" => Some(Policy::Refuse),
            "hide" => Some(Policy::Hide),
            _ => None,
        }
    }

    pub fn to_proto(self) -> SuppressionPolicy {
        match self {
            Policy::Refuse => SuppressionPolicy::Refuse,
            Policy::Hide => SuppressionPolicy::Hide,
        }
    }
}

/// The suppressed value of an entry, normalized as ingest normalizes rows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subject {
    /// A normalized email address; hashed before it reaches the database, never logged.
    Email(String),
    /// A company domain, as `company.domain` holds it.
    Domain(String),
}

/// A valid AddSuppressions entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub subject: Subject,
    pub reason: Reason,
    pub reason_text: Option<String>,
    pub policy: Policy,
}

/// Checks the entries of an AddSuppressions request; every problem is named by its field
/// (`entries[3].email`). Violations never quote an email address.
pub fn entries(entries: &[SuppressionEntry]) -> Result<Vec<Entry>, Vec<FieldViolation>> {
    let mut violations = Vec::new();
    if entries.is_empty() {
        violations.push(FieldViolation::new(
            "entries",
            "at least one entry is required",
        ));
    }
    if entries.len() > MAX_ENTRIES_PER_CALL {
        violations.push(FieldViolation::new(
            "entries",
            format!(
                "has {} entries; at most {MAX_ENTRIES_PER_CALL} are allowed per call",
                entries.len()
            ),
        ));
        return Err(violations);
    }
    let mut valid = Vec::with_capacity(entries.len());
    for (index, entry) in entries.iter().enumerate() {
        match self::entry(entry) {
            Ok(entry) => valid.push(entry),
            Err(problems) => {
                violations.extend(problems.into_iter().map(|(field, why)| {
                    FieldViolation::new(format!("entries[{index}].{field}"), why)
                }))
            }
        }
    }
    if violations.is_empty() {
        Ok(valid)
    } else {
        Err(violations)
    }
}

/// One entry, or its problems as (field within the entry, description).
fn entry(entry: &SuppressionEntry) -> Result<Entry, Vec<(&'static str, String)>> {
    let mut problems = Vec::new();
    let subject = match &entry.subject {
        None => {
            problems.push(("email", "an email or a domain is required".to_owned()));
            None
        }
        Some(ProtoSubject::Email(value)) => match email(value) {
            Ok(email) => Some(Subject::Email(email)),
            Err(why) => {
                problems.push(("email", why));
                None
            }
        },
        Some(ProtoSubject::Domain(domain)) => {
            if let Some(why) = unstorable_text(domain) {
                problems.push(("domain", why.to_owned()));
                None
            } else {
                match normalize::company_domain(domain) {
                    Ok(domain) => Some(Subject::Domain(domain)),
                    Err(error) => {
                        problems.push(("domain", format!("{} {error}", quoted(domain))));
                        None
                    }
                }
            }
        }
    };
    let reason = match SuppressionReason::try_from(entry.reason) {
        Ok(SuppressionReason::Unspecified) => {
            problems.push((
                "reason",
                format!("is required (one of {})", Reason::names()),
            ));
            None
        }
        Ok(reason) => Reason::from_proto(reason),
        Err(_) => {
            problems.push(("reason", format!("{} is unknown", entry.reason)));
            None
        }
    };
    let policy = match SuppressionPolicy::try_from(entry.policy) {
        Ok(SuppressionPolicy::Refuse) => Some(Policy::Refuse),
        Ok(SuppressionPolicy::Hide) => Some(Policy::Hide),
        Ok(SuppressionPolicy::Unspecified) => {
            problems.push(("policy", "is required (REFUSE or HIDE)".to_owned()));
            None
        }
        Err(_) => {
            problems.push(("policy", format!("{} is unknown", entry.policy)));
            None
        }
    };
    let text = entry.reason_text.trim();
    if let Some(why) = unstorable_text(text) {
        problems.push(("reason_text", why.to_owned()));
    }
    let chars = text.chars().count();
    if chars > MAX_REASON_TEXT_CHARS {
        problems.push((
            "reason_text",
            format!("has {chars} characters; at most {MAX_REASON_TEXT_CHARS} are allowed"),
        ));
    }
    match (subject, reason, policy) {
        (Some(subject), Some(reason), Some(policy)) if problems.is_empty() => Ok(Entry {
            subject,
            reason,
            reason_text: (!text.is_empty()).then(|| text.to_owned()),
            policy,
        }),
        _ => Err(problems),
    }
}

/// An email address of a request, normalized as ingest normalizes emails, or why it is none.
/// The address is personal data: the reason never quotes it.
pub fn email(value: &str) -> Result<String, String> {
    if let Some(why) = unstorable_text(value) {
        return Err(why.to_owned());
    }
    if value.trim().is_empty() {
        return Err("is required".to_owned());
    }
    let email = values::normalize_email(value).map_err(|error| format!("the value {error}"))?;
    let chars = email.chars().count();
    if chars > limit::EMAIL {
        return Err(format!(
            "has {chars} characters; at most {} are allowed",
            limit::EMAIL
        ));
    }
    Ok(email)
}

/// The person an ExportPersonData or ErasePerson request names.
#[derive(Clone, PartialEq, Eq)]
pub enum Person {
    /// A normalized email address; never logged.
    Email(String),
    /// A prospect by id: the person is that prospect and every other with its address.
    Prospect(i64),
}

// Hand-written: an address never reaches a log, not even through `{:?}`.
impl std::fmt::Debug for Person {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Person::Email(_) => f.write_str("Person::Email(<redacted>)"),
            Person::Prospect(id) => write!(f, "Person::Prospect({id})"),
        }
    }
}

/// The entry an erasure leaves for the (normalized) address, so that no import brings the
/// person back.
pub fn erasure_entry(email: String) -> Entry {
    Entry {
        subject: Subject::Email(email),
        reason: Reason::Erased,
        reason_text: None,
        policy: Policy::Refuse,
    }
}

/// An organization's secret for email hashes.
#[derive(Clone)]
pub struct EmailKey([u8; 32]);

impl EmailKey {
    pub const LEN: usize = 32;

    /// A new random secret.
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut secret = [0u8; Self::LEN];
        getrandom::fill(&mut secret)?;
        Ok(Self(secret))
    }

    /// The stored secret; `None` when it is not [`Self::LEN`] bytes.
    pub fn from_stored(stored: &[u8]) -> Option<Self> {
        stored.try_into().ok().map(Self)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// HMAC-SHA256 of a normalized email address.
    pub fn hash(&self, normalized_email: &str) -> Vec<u8> {
        // A 32-byte key is always a valid HMAC key; the fallback is never taken.
        match <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0) {
            Ok(mut mac) => {
                mac.update(normalized_email.as_bytes());
                mac.finalize().into_bytes().to_vec()
            }
            Err(_) => Vec::new(),
        }
    }
}

// Hand-written: the secret never reaches a log.
impl std::fmt::Debug for EmailKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EmailKey(<redacted>)")
    }
}

/// The first [`HASH_PREFIX_HEX_CHARS`] hex digits of a hash.
pub fn hash_prefix(hash: &[u8]) -> String {
    hash.iter()
        .map(|byte| format!("{byte:02x}"))
        .collect::<String>()
        .chars()
        .take(HASH_PREFIX_HEX_CHARS)
        .collect()
}

/// What a row error says of a refused row: `suppressed (opted_out)`.
pub fn refusal_reason(reason: Reason) -> String {
    format!("suppressed ({})", reason.as_stored())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email(value: &str) -> SuppressionEntry {
        SuppressionEntry {
            subject: Some(ProtoSubject::Email(value.into())),
            reason: SuppressionReason::OptedOut.into(),
            reason_text: String::new(),
            policy: SuppressionPolicy::Refuse.into(),
        }
    }

    fn domain(value: &str) -> SuppressionEntry {
        SuppressionEntry {
            subject: Some(ProtoSubject::Domain(value.into())),
            ..email("x@acme.com")
        }
    }

    #[test]
    fn emails_and_domains_are_normalized_as_ingest_does() {
        let valid = entries(&[
            email("Ann@Acme.COM"),
            email(" ann@acme.com"),
            domain("https://www.Acme.com/about"),
        ])
        .expect("valid");
        assert_eq!(valid[0].subject, Subject::Email("ann@acme.com".into()));
        assert_eq!(valid[0].subject, valid[1].subject);
        assert_eq!(valid[2].subject, Subject::Domain("acme.com".into()));
        assert_eq!(valid[0].reason, Reason::OptedOut);
        assert_eq!(valid[0].policy, Policy::Refuse);
        assert_eq!(valid[0].reason_text, None);
    }

    #[test]
    fn every_bad_field_is_named_and_no_email_is_quoted() {
        let mut no_reason = email("bob@acme.com");
        no_reason.reason = 0;
        no_reason.policy = 9;
        no_reason.reason_text = "x".repeat(MAX_REASON_TEXT_CHARS + 1);
        let mut no_subject = email("a@acme.com");
        no_subject.subject = None;
        let violations = entries(&[
            email("a@acme.com"),
            email("secret.person@@acme"),
            domain("gmail.com"),
            no_reason,
            no_subject,
        ])
        .expect_err("invalid");
        let fields: Vec<&str> = violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "entries[1].email",
                "entries[2].domain",
                "entries[3].reason",
                "entries[3].policy",
                "entries[3].reason_text",
                "entries[4].email",
            ]
        );
        assert!(
            violations
                .iter()
                .all(|v| !v.description.contains("secret.person"))
        );
    }

    #[test]
    fn the_number_of_entries_is_bounded() {
        assert_eq!(entries(&[]).expect_err("empty")[0].field, "entries");
        let many = vec![email("a@acme.com"); MAX_ENTRIES_PER_CALL + 1];
        assert_eq!(entries(&many).expect_err("too many")[0].field, "entries");
        let most = vec![email("a@acme.com"); MAX_ENTRIES_PER_CALL];
        assert_eq!(
            entries(&most).expect("at the limit").len(),
            MAX_ENTRIES_PER_CALL
        );
    }

    #[test]
    fn the_email_hash_is_hmac_sha256() {
        // Python's hmac.new(b"\x0b" * 32, b"Hi There", hashlib.sha256).hexdigest().
        let key = EmailKey::from_stored(&[0x0b; 32]).expect("32 bytes");
        let hash = key.hash("Hi There");
        let hex: String = hash.iter().map(|byte| format!("{byte:02x}")).collect();
        assert_eq!(
            hex,
            "198a607eb44bfbc69903a0f1cf2bbdc5ba0aa3f3d9ae3c1c7a3b1696a0b68cf7"
        );
        assert_eq!(hash_prefix(&hash), hex[..HASH_PREFIX_HEX_CHARS]);
        assert_ne!(key.hash("ann@acme.com"), key.hash("bob@acme.com"));
        let other = EmailKey::from_stored(&[0x0c; 32]).expect("32 bytes");
        assert_ne!(key.hash("ann@acme.com"), other.hash("ann@acme.com"));
        assert!(EmailKey::from_stored(&[0; 31]).is_none());
        assert_eq!(format!("{key:?}"), "EmailKey(<redacted>)");
    }

    #[test]
    fn vocabulary_round_trips() {
        for (reason, stored, proto) in Reason::ALL {
            assert_eq!(Reason::from_stored(stored), Some(reason));
            assert_eq!(reason.as_stored(), stored);
            assert_eq!(reason.to_proto(), proto);
            assert_eq!(Reason::from_proto(proto), Some(reason));
        }
        let mut hide = email("a@acme.com");
        hide.policy = SuppressionPolicy::Hide.into();
        assert_eq!(entries(&[hide]).expect("HIDE")[0].policy, Policy::Hide);
        for policy in [Policy::Refuse, Policy::Hide] {
            assert_eq!(Policy::from_stored(policy.as_stored()), Some(policy));
        }
        assert_eq!(refusal_reason(Reason::OptedOut), "suppressed (opted_out)");
    }
}
