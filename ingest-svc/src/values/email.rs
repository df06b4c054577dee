//! Email addresses checked as the standards define them: the part before the `@` is an
//! RFC 5322 dot-atom (RFC 6532 adds non-ASCII characters), at most 64 octets (RFC 5321); the
//! part after it follows the company-domain rules in `normalize`.

use crate::normalize::{self, DomainError};

/// The characters RFC 5322 allows in an atom, besides letters and digits.
const ATOM_SPECIALS: &str = "!#$%&'*+-/=?^_`{|}~";

/// The longest local part SMTP carries (RFC 5321, 4.5.3.1.1).
const MAX_LOCAL_OCTETS: usize = 64;

/// Why a value is no email address; the text follows the quoted value in a row error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("is not an email address")]
    NotAnEmail,
    #[error("has a quoted part before the @, which is not accepted")]
    QuotedLocalPart,
    #[error("has a character that is not allowed before the @ ({0:?})")]
    Character(char),
    #[error("starts or ends the part before the @ with a dot")]
    DotAtEdge,
    #[error("has two dots in a row before the @")]
    DoubledDot,
    #[error("has more than 64 characters before the @")]
    LocalTooLong,
    #[error(transparent)]
    Domain(#[from] DomainError),
}

/// Checks an email address and returns it as stored: trimmed and lower case, the part before
/// the `@` included. RFC 5321 lets a server tell "Jane" from "jane", but mail providers do not,
/// and ingest matches prospects by email, so the whole address is lower-cased as ingest always
/// has. A free-mail or other address that names no company is still a valid email here;
/// whether the row has a company is the caller's question.
pub fn normalize_email(raw: &str) -> Result<String, EmailError> {
    let text = raw.trim();
    let (local, domain) = text.rsplit_once('@').ok_or(EmailError::NotAnEmail)?;
    if local.is_empty() {
        return Err(EmailError::NotAnEmail);
    }
    // A quoted local part ("john doe"@acme.com) is valid RFC 5322, but hardly ever a real
    // mailbox, and its spaces and quotes break every system downstream.
    if local.starts_with('"') {
        return Err(EmailError::QuotedLocalPart);
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || ATOM_SPECIALS.contains(c) || c == '.';
    // RFC 6532: any non-ASCII character outside controls and spaces.
    let allowed = |c: char| allowed(c) || (!c.is_ascii() && !c.is_control() && !c.is_whitespace());
    if let Some(c) = local.chars().find(|&c| !allowed(c)) {
        return Err(EmailError::Character(c));
    }
    if local.starts_with('.') || local.ends_with('.') {
        return Err(EmailError::DotAtEdge);
    }
    if local.contains("..") {
        return Err(EmailError::DoubledDot);
    }
    if local.len() > MAX_LOCAL_OCTETS {
        return Err(EmailError::LocalTooLong);
    }
    let email = format!("{}@{}", local.to_lowercase(), domain.to_lowercase());
    match normalize::domain_of_email(&email) {
        Err(error) if !error.is_no_company() => Err(error.into()),
        _ => Ok(email),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn valid_addresses_are_lower_cased() {
        for (raw, stored) in [
            ("Jane.Doe@Acme.com", "jane.doe@acme.com"),
            (" jane@acme.com ", "jane@acme.com"),
            ("o'brien+crm@acme.co.uk", "o'brien+crm@acme.co.uk"),
            (
                "a!#$%&'*+-/=?^_`{|}~z@acme.com",
                "a!#$%&'*+-/=?^_`{|}~z@acme.com",
            ),
            ("Jürgen@Müller.de", "jürgen@müller.de"),
            // Free mail is a valid email; the row needs its company from elsewhere.
            ("someone@gmail.com", "someone@gmail.com"),
        ] {
            assert_eq!(normalize_email(raw).as_deref(), Ok(stored), "{raw:?}");
        }
    }

    #[test]
    fn invalid_addresses_say_why() {
        for (raw, error) in [
            ("dot..dot@acme.com", EmailError::DoubledDot),
            ("<script>@acme.com", EmailError::Character('<')),
            (".a@x.com", EmailError::DotAtEdge),
            ("a.@x.com", EmailError::DotAtEdge),
            ("\"john doe\"@acme.com", EmailError::QuotedLocalPart),
            ("john doe@acme.com", EmailError::Character(' ')),
            ("a@b@acme.com", EmailError::Character('@')),
            ("a(comment)@acme.com", EmailError::Character('(')),
            ("acme.com", EmailError::NotAnEmail),
            ("@acme.com", EmailError::NotAnEmail),
            ("", EmailError::NotAnEmail),
            ("jane@", EmailError::Domain(DomainError::NotAnEmail)),
            ("jane@acme", EmailError::Domain(DomainError::NotAnEmail)),
            (
                "jane@-acme-.com",
                EmailError::Domain(DomainError::InvalidHost),
            ),
        ] {
            assert_eq!(normalize_email(raw), Err(error), "{raw:?}");
        }
        let long = format!("{}@acme.com", "a".repeat(65));
        assert_eq!(normalize_email(&long), Err(EmailError::LocalTooLong));
        assert_eq!(
            format!(
                "{} {}",
                svc_core::error::quoted("dot..dot@acme.com"),
                EmailError::DoubledDot
            ),
            "\"dot..dot@acme.com\" has two dots in a row before the @"
        );
        assert_eq!(
            EmailError::Character('<').to_string(),
            "has a character that is not allowed before the @ ('<')"
        );
    }

    fn atom() -> impl Strategy<Value = String> {
        "[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,8}"
    }

    proptest! {
        #[test]
        fn never_panics(raw in "\\PC{0,40}") {
            let _ = normalize_email(&raw);
        }

        #[test]
        fn dot_atoms_are_accepted(atoms in prop::collection::vec(atom(), 1..5)) {
            let local = atoms.join(".");
            prop_assume!(local.len() <= MAX_LOCAL_OCTETS);
            let stored = format!("{}@acme.com", local.to_lowercase());
            prop_assert_eq!(normalize_email(&format!("{local}@Acme.COM")), Ok(stored));
        }

        #[test]
        fn a_doubled_dot_is_refused(atoms in prop::collection::vec(atom(), 2..5), at in any::<prop::sample::Index>()) {
            let split = 1 + at.index(atoms.len() - 1);
            let local = format!("{}..{}", atoms[..split].join("."), atoms[split..].join("."));
            prop_assert_eq!(normalize_email(&format!("{local}@acme.com")), Err(EmailError::DoubledDot));
        }

        #[test]
        fn accepted_addresses_are_lower_case_with_a_valid_host(raw in "[A-Za-z.+_-]{0,10}@[A-Za-z.-]{0,12}") {
            if let Ok(email) = normalize_email(&raw) {
                prop_assert_eq!(email.to_lowercase(), email.clone());
                let company = normalize::domain_of_email(&email);
                prop_assert!(company.as_ref().map_or_else(DomainError::is_no_company, |_| true), "{:?}", company);
            }
        }
    }
}
