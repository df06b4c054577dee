//! Company domains from emails and websites.
//!
//! The rules (docs/INGEST.md): trim; drop scheme, user info, path, port, a `www.` label and the
//! root dot; IDNA-normalize (UTS #46: lower case, Unicode to punycode); a host name of at least
//! two labels whose suffix is on the Public Suffix List; then reduce it to its registrable domain
//! (`mail.acme.co.uk` -> `acme.co.uk`). IP literals, unknown suffixes and bare public suffixes
//! are not company domains, and neither are free-mail or disposable providers.

use foldhash::HashSet;
use std::net::IpAddr;
use std::sync::LazyLock;

/// Why a value names no company domain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("is not an email address")]
    NotAnEmail,
    #[error("has no host name")]
    Empty,
    #[error("is an IP address, not a company domain")]
    IpLiteral,
    #[error("is not a valid host name")]
    InvalidHost,
    #[error("has a suffix that is not on the Public Suffix List")]
    UnknownSuffix,
    #[error("is a public suffix, not a company domain")]
    PublicSuffix,
    #[error("is a free-mail provider ({0}), not a company domain")]
    FreeMail(String),
    #[error("is a disposable-mail provider ({0}), not a company domain")]
    Disposable(String),
}

impl DomainError {
    /// Whether the value is a well-formed host that merely names no company (a free-mail address
    /// is still a valid email; a company domain given beside it decides the company).
    pub fn is_no_company(&self) -> bool {
        matches!(
            self,
            DomainError::IpLiteral
                | DomainError::UnknownSuffix
                | DomainError::PublicSuffix
                | DomainError::FreeMail(_)
                | DomainError::Disposable(_)
        )
    }
}

const MAX_DOMAIN_LEN: usize = 253;
const MAX_LABEL_LEN: usize = 63;

/// Free-mail providers: a maintained list, compiled in (see data/README.md).
static FREE_MAIL: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("../data/free-email-domains.txt")
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect()
});

/// Disposable providers from the `mailchecker` crate, in a set: its own lookup scans a list.
static DISPOSABLE: LazyLock<HashSet<&'static str>> =
    LazyLock::new(|| mailchecker::blacklist().into_iter().collect());

/// The company domain named by a work email address ("Jane@Mail.Acme.co.uk" -> "acme.co.uk").
pub fn domain_of_email(email: &str) -> Result<String, DomainError> {
    let email = email.trim();
    let (local, host) = email.rsplit_once('@').ok_or(DomainError::NotAnEmail)?;
    // As the schema's check (prospect_email_format), so that the database never refuses an
    // address validation let through: one `@`, no white space, something on both sides, and
    // a dot inside the host (an IP literal like `[::1]` has none).
    let dot_inside = host
        .char_indices()
        .any(|(at, c)| c == '.' && at > 0 && at + 1 < host.len());
    if local.is_empty() || local.contains('@') || email.contains(char::is_whitespace) || !dot_inside
    {
        return Err(DomainError::NotAnEmail);
    }
    company_domain(host)
}

/// The company domain named by a domain or website ("https://www.Acme.com/about" -> "acme.com").
pub fn company_domain(input: &str) -> Result<String, DomainError> {
    let host = host_name(input)?;
    let registrable = registrable_domain(&host)?;
    // A provider is matched on the host and on each parent up to the registrable domain, so
    // `eu.mailinator.com` and `mailinator.com` are both disposable.
    let mut candidate = host.as_str();
    loop {
        if DISPOSABLE.contains(candidate) {
            return Err(DomainError::Disposable(candidate.to_owned()));
        }
        if FREE_MAIL.contains(candidate) {
            return Err(DomainError::FreeMail(candidate.to_owned()));
        }
        if candidate.len() <= registrable.len() {
            break;
        }
        match candidate.split_once('.') {
            Some((_, parent)) => candidate = parent,
            None => break,
        }
    }
    Ok(registrable)
}

/// The normalized host of an email domain, domain or URL: lower case, punycode, no `www.`.
fn host_name(input: &str) -> Result<String, DomainError> {
    let mut host = input.trim();
    if let Some((_, rest)) = host.split_once("://") {
        host = rest;
    }
    // Path, query and fragment go; so does user info of a URL.
    host = host.split(['/', '?', '#']).next().unwrap_or_default();
    if let Some((_, after_at)) = host.rsplit_once('@') {
        host = after_at;
    }
    if host.starts_with('[') || host.parse::<IpAddr>().is_ok() {
        return Err(DomainError::IpLiteral);
    }
    if let Some((name, port)) = host.rsplit_once(':')
        && port.chars().all(|c| c.is_ascii_digit())
    {
        host = name;
    }
    let host = host.trim_end_matches('.');
    if host.is_empty() {
        return Err(DomainError::Empty);
    }
    if host.parse::<IpAddr>().is_ok() {
        return Err(DomainError::IpLiteral);
    }
    // UTS #46 maps case and compatibility forms and turns Unicode labels into punycode.
    let ascii = idna::domain_to_ascii(host).map_err(|_| DomainError::InvalidHost)?;
    let ascii = ascii.strip_prefix("www.").unwrap_or(&ascii).to_owned();
    if ascii.is_empty() {
        return Err(DomainError::Empty);
    }
    if !is_host_name(&ascii) {
        return Err(DomainError::InvalidHost);
    }
    Ok(ascii)
}

/// Reduces a host to its registrable domain by the Public Suffix List.
fn registrable_domain(host: &str) -> Result<String, DomainError> {
    let known_suffix = psl::suffix(host.as_bytes()).is_some_and(|suffix| suffix.is_known());
    if !known_suffix {
        return Err(DomainError::UnknownSuffix);
    }
    let domain = psl::domain(host.as_bytes()).ok_or(DomainError::PublicSuffix)?;
    std::str::from_utf8(domain.as_bytes())
        .map(str::to_owned)
        .map_err(|_| DomainError::InvalidHost)
}

fn is_host_name(host: &str) -> bool {
    let labels: Vec<&str> = host.split('.').collect();
    host.len() <= MAX_DOMAIN_LEN
        && labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.len() <= MAX_LABEL_LEN
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
        // The last label is a top-level domain, never all digits.
        && labels.last().is_some_and(|tld| !tld.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests;
