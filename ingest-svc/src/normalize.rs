//! Company domains from emails and websites.
//!
//! The rules: lower case, no scheme, path, port, `www.` or trailing dot; a host name of at least
//! two labels; IP literals are not company domains.

use std::net::IpAddr;

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
}

const MAX_DOMAIN_LEN: usize = 253;
const MAX_LABEL_LEN: usize = 63;

/// The company domain named by a work email address ("Jane@Mail.Acme.com" -> "mail.acme.com").
pub fn domain_of_email(email: &str) -> Result<String, DomainError> {
    let (local, host) = email
        .trim()
        .rsplit_once('@')
        .ok_or(DomainError::NotAnEmail)?;
    if local.is_empty() {
        return Err(DomainError::NotAnEmail);
    }
    company_domain(host)
}

/// The company domain named by a domain or website ("https://www.Acme.com/about" -> "acme.com").
pub fn company_domain(input: &str) -> Result<String, DomainError> {
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
    // A port, then the root dot.
    if let Some((name, port)) = host.rsplit_once(':')
        && port.chars().all(|c| c.is_ascii_digit())
    {
        host = name;
    }
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if host.parse::<IpAddr>().is_ok() {
        return Err(DomainError::IpLiteral);
    }
    let host = host.strip_prefix("www.").unwrap_or(&host).to_owned();
    if host.is_empty() {
        return Err(DomainError::Empty);
    }
    if !is_host_name(&host) {
        return Err(DomainError::InvalidHost);
    }
    Ok(host)
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
mod tests {
    use super::*;

    #[test]
    fn email_domains_are_lower_cased_hosts() {
        assert_eq!(
            domain_of_email("Jane.Doe@ACME.com").as_deref(),
            Ok("acme.com")
        );
        assert_eq!(
            domain_of_email(" max@mail.acme.co.uk ").as_deref(),
            Ok("mail.acme.co.uk")
        );
    }

    #[test]
    fn websites_reduce_to_their_host() {
        for (input, expected) in [
            ("https://www.Acme.com/about?x=1", "acme.com"),
            ("acme.com.", "acme.com"),
            ("http://shop.acme.io:8080/", "shop.acme.io"),
            ("WWW.beta.de", "beta.de"),
        ] {
            assert_eq!(company_domain(input).as_deref(), Ok(expected), "{input}");
        }
    }

    #[test]
    fn ip_literals_and_garbage_are_not_company_domains() {
        assert_eq!(
            domain_of_email("a@192.168.1.10"),
            Err(DomainError::IpLiteral)
        );
        assert_eq!(domain_of_email("a@[10.0.0.1]"), Err(DomainError::IpLiteral));
        assert_eq!(
            company_domain("http://[::1]:80/"),
            Err(DomainError::IpLiteral)
        );
        assert_eq!(domain_of_email("no-at-sign"), Err(DomainError::NotAnEmail));
        assert_eq!(domain_of_email("@acme.com"), Err(DomainError::NotAnEmail));
        assert_eq!(
            domain_of_email("a@localhost"),
            Err(DomainError::InvalidHost)
        );
        assert_eq!(company_domain("acme..com"), Err(DomainError::InvalidHost));
        assert_eq!(company_domain("-acme.com"), Err(DomainError::InvalidHost));
        assert_eq!(
            company_domain("acme_corp.com"),
            Err(DomainError::InvalidHost)
        );
        assert_eq!(company_domain("  "), Err(DomainError::Empty));
    }
}
