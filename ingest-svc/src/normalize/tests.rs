//! Domain normalization: examples, a labelled table of emails, and properties.

use proptest::prelude::*;

use super::*;

/// `None` is "no company": the email names no company domain.
const LABELLED_EMAILS: &[(&str, Option<&str>)] = &[
    // Plain company domains, any case and surrounding space.
    ("jane.doe@acme.com", Some("acme.com")),
    ("Jane.Doe@ACME.COM", Some("acme.com")),
    ("  max@acme.com  ", Some("acme.com")),
    ("a@acme-robotics.com", Some("acme-robotics.com")),
    ("a@a1.io", Some("a1.io")),
    ("a@startup.ai", Some("startup.ai")),
    ("a@example.org", Some("example.org")),
    ("a@charity.org.uk", Some("charity.org.uk")),
    ("a@tech.dev", Some("tech.dev")),
    ("a@shop.store", Some("shop.store")),
    ("a@firm.law", Some("firm.law")),
    ("a@brand.xyz", Some("brand.xyz")),
    ("a@co.company", Some("co.company")),
    ("a@uni.edu", Some("uni.edu")),
    ("a@agency.gov", Some("agency.gov")),
    ("a@bank.ch", Some("bank.ch")),
    ("a@versicherung.at", Some("versicherung.at")),
    ("a@beta.de", Some("beta.de")),
    ("a@gamma.fr", Some("gamma.fr")),
    ("a@delta.es", Some("delta.es")),
    ("a@epsilon.it", Some("epsilon.it")),
    ("a@zeta.nl", Some("zeta.nl")),
    ("a@eta.se", Some("eta.se")),
    ("a@thetagroup.pl", Some("thetagroup.pl")),
    ("a@iota.ca", Some("iota.ca")),
    ("a@kappa.us", Some("kappa.us")),
    ("a@lambda.in", Some("lambda.in")),
    ("a@mu.sg", Some("mu.sg")),
    ("a@nu.io", Some("nu.io")),
    ("a@xi.co", Some("xi.co")),
    // Subdomains reduce to the registrable domain.
    ("max@mail.acme.co.uk", Some("acme.co.uk")),
    ("a@eu.mail.acme.com", Some("acme.com")),
    ("a@sales.acme.de", Some("acme.de")),
    ("a@hr.corp.example.com", Some("example.com")),
    ("a@x.y.z.acme.io", Some("acme.io")),
    ("a@acme.co.uk", Some("acme.co.uk")),
    ("a@dept.acme.com.au", Some("acme.com.au")),
    ("a@acme.com.au", Some("acme.com.au")),
    ("a@acme.co.jp", Some("acme.co.jp")),
    ("a@mail.acme.co.jp", Some("acme.co.jp")),
    ("a@acme.com.br", Some("acme.com.br")),
    ("a@sp.acme.com.br", Some("acme.com.br")),
    ("a@acme.co.nz", Some("acme.co.nz")),
    ("a@acme.co.za", Some("acme.co.za")),
    ("a@acme.com.mx", Some("acme.com.mx")),
    ("a@acme.com.cn", Some("acme.com.cn")),
    ("a@acme.co.in", Some("acme.co.in")),
    ("a@acme.gv.at", Some("acme.gv.at")),
    ("a@www.acme.com", Some("acme.com")),
    ("a@WWW.Acme.Com", Some("acme.com")),
    ("a@acme.com.", Some("acme.com")),
    ("first.last+tag@acme.com", Some("acme.com")),
    ("o'brien@acme.ie", Some("acme.ie")),
    ("x_y@acme.be", Some("acme.be")),
    ("1234@acme.dk", Some("acme.dk")),
    // Internationalized domain names are stored as punycode.
    ("anna@müller.de", Some("xn--mller-kva.de")),
    ("anna@MÜLLER.DE", Some("xn--mller-kva.de")),
    ("a@bücher.example.com", Some("example.com")),
    ("a@straße.de", Some("xn--strae-oqa.de")),
    ("a@café.fr", Some("xn--caf-dma.fr")),
    ("a@xn--mller-kva.de", Some("xn--mller-kva.de")),
    ("a@例え.jp", Some("xn--r8jz45g.jp")),
    ("a@пример.рф", Some("xn--e1afmkfd.xn--p1ai")),
    // Private-section suffixes of the PSL keep the customer's own name.
    ("a@acme.github.io", Some("acme.github.io")),
    ("a@shop.acme.herokuapp.com", Some("acme.herokuapp.com")),
    // Free-mail providers are not companies.
    ("jane@gmail.com", None),
    ("jane@GMAIL.COM", None),
    ("jane@googlemail.com", None),
    ("jane@yahoo.com", None),
    ("jane@yahoo.co.uk", None),
    ("jane@hotmail.com", None),
    ("jane@hotmail.fr", None),
    ("jane@outlook.com", None),
    ("jane@live.com", None),
    ("jane@msn.com", None),
    ("jane@aol.com", None),
    ("jane@icloud.com", None),
    ("jane@me.com", None),
    ("jane@mac.com", None),
    ("jane@protonmail.com", None),
    ("jane@proton.me", None),
    ("jane@gmx.de", None),
    ("jane@gmx.net", None),
    ("jane@web.de", None),
    ("jane@t-online.de", None),
    ("jane@mail.ru", None),
    ("jane@yandex.ru", None),
    ("jane@qq.com", None),
    ("jane@163.com", None),
    ("jane@orange.fr", None),
    ("jane@free.fr", None),
    ("jane@libero.it", None),
    ("jane@zoho.com", None),
    // Disposable providers, also on their subdomains.
    ("x@mailinator.com", None),
    ("x@guerrillamail.com", None),
    ("x@10minutemail.com", None),
    ("x@yopmail.com", None),
    ("x@ok.33mail.com", None),
    ("x@trashmail.com", None),
    // IP literals, unknown suffixes, bare suffixes and garbage.
    ("a@192.168.1.10", None),
    ("a@[10.0.0.1]", None),
    ("a@[IPv6:2001:db8::1]", None),
    ("a@localhost", None),
    ("a@acme.local", None),
    ("a@acme.internal", None),
    ("a@acme.invalidtld", None),
    ("a@co.uk", None),
    ("a@com", None),
    ("a@acme..com", None),
    ("a@-acme.com", None),
    ("a@acme_corp.com", None),
    ("a@", None),
    ("@acme.com", None),
    ("no-at-sign", None),
    ("", None),
];

#[test]
fn labelled_emails_name_their_company_or_none() {
    assert!(LABELLED_EMAILS.len() >= 100, "{}", LABELLED_EMAILS.len());
    let mut wrong = Vec::new();
    for (email, expected) in LABELLED_EMAILS {
        let got = domain_of_email(email).ok();
        if got.as_deref() != *expected {
            wrong.push(format!("{email:?}: expected {expected:?}, got {got:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn websites_reduce_to_their_registrable_domain() {
    for (input, expected) in [
        ("https://www.Acme.com/about?x=1", "acme.com"),
        ("acme.com.", "acme.com"),
        ("http://shop.acme.io:8080/", "acme.io"),
        ("WWW.beta.de", "beta.de"),
        ("https://user:pw@portal.acme.co.uk/login", "acme.co.uk"),
        ("acme.com#top", "acme.com"),
    ] {
        assert_eq!(company_domain(input).as_deref(), Ok(expected), "{input}");
    }
}

#[test]
fn reasons_say_why_there_is_no_company() {
    assert_eq!(
        domain_of_email("a@192.168.1.10"),
        Err(DomainError::IpLiteral)
    );
    assert_eq!(
        company_domain("http://[::1]:80/"),
        Err(DomainError::IpLiteral)
    );
    assert_eq!(domain_of_email("no-at-sign"), Err(DomainError::NotAnEmail));
    assert_eq!(
        domain_of_email("a@acme.local"),
        Err(DomainError::UnknownSuffix)
    );
    assert_eq!(domain_of_email("a@co.uk"), Err(DomainError::PublicSuffix));
    assert_eq!(
        domain_of_email("a@gmail.com"),
        Err(DomainError::FreeMail("gmail.com".into()))
    );
    assert_eq!(
        domain_of_email("a@eu.mailinator.com"),
        Err(DomainError::Disposable("mailinator.com".into()))
    );
    assert_eq!(company_domain("  "), Err(DomainError::Empty));
    assert!(DomainError::FreeMail(String::new()).is_no_company());
    assert!(!DomainError::InvalidHost.is_no_company());
}

/// Addresses the database's `prospect_email_format` check would refuse are not emails, even
/// when their host alone would name a company (or name none, as an IP literal).
#[test]
fn what_the_schema_refuses_is_not_an_email() {
    for email in [
        "a@acme.com/x y",
        "a@ acme.com",
        "a b@acme.com",
        "a@acme.com?x\u{3000}y",
        "a@[::1]",
        "a@::1",
        "a@.com",
    ] {
        assert_eq!(
            domain_of_email(email),
            Err(DomainError::NotAnEmail),
            "{email:?}"
        );
    }
    assert_eq!(domain_of_email("a@[10.0.0.1]"), Err(DomainError::IpLiteral));
}

fn label() -> impl Strategy<Value = String> {
    "[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?"
}

fn suffix() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["com", "de", "co.uk", "io", "com.au", "fr", "org"])
}

proptest! {
    /// Normalizing a normalized domain changes nothing.
    #[test]
    fn normalization_is_idempotent(input in "[A-Za-z0-9.:/@-]{0,40}") {
        if let Ok(domain) = company_domain(&input) {
            prop_assert_eq!(company_domain(&domain), Ok(domain.clone()));
        }
    }

    /// Subdomains, case, scheme, `www.` and paths never change the company.
    #[test]
    fn decorations_do_not_change_the_company(
        name in label(),
        subdomains in prop::collection::vec(label(), 0..3),
        suffix in suffix(),
        upper in any::<bool>(),
        path in "(/[a-z]{0,5}){0,2}",
    ) {
        let registrable = format!("{name}.{suffix}");
        prop_assume!(company_domain(&registrable).is_ok());
        let mut host = subdomains.join(".");
        if !host.is_empty() {
            host.push('.');
        }
        host.push_str(&registrable);
        let host = if upper { host.to_uppercase() } else { host };
        prop_assert_eq!(domain_of_email(&format!("x@{host}")), Ok(registrable.clone()));
        prop_assert_eq!(company_domain(&format!("https://www.{host}{path}")), Ok(registrable));
    }

    /// Whatever comes out is lower-case ASCII that the database's domain check accepts.
    #[test]
    fn results_are_storable(input in "\\PC{0,30}") {
        if let Ok(domain) = company_domain(&input) {
            prop_assert!(domain.len() <= MAX_DOMAIN_LEN);
            prop_assert!(domain.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.'));
            prop_assert!(domain.contains('.'));
        }
    }

    /// Free-mail providers never become companies, whatever the case or subdomain.
    #[test]
    fn free_mail_is_never_a_company(
        provider in prop::sample::select(vec!["gmail.com", "yahoo.com", "outlook.com", "gmx.de", "mailinator.com"]),
        upper in any::<bool>(),
    ) {
        let email = format!("someone@{}", if upper { provider.to_uppercase() } else { provider.to_owned() });
        prop_assert!(domain_of_email(&email).is_err());
    }
}
