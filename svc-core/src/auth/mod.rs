//! Authentication by bearer API keys: every call but health and reflection carries
//! `authorization: Bearer <key>`; the key maps to one organization and its scopes.
//!
//! Only the SHA-256 of a key is stored or cached. Keys are minted by `lmactl key create`.

mod authenticator;
mod layer;
mod rate_limit;

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

pub use authenticator::Authenticator;
pub use layer::{AuthLayer, AuthService};
pub use rate_limit::RateLimiter;

/// Prefix of every API key; makes keys recognisable to secret scanners and people.
pub const KEY_PREFIX: &str = "lma_";

/// What an API key may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// Write prospects and companies (ingest-svc).
    IngestWrite,
    /// Search the read models (search-svc).
    SearchRead,
    /// Trigger and watch refreshes (refresh-svc).
    RefreshAdmin,
    /// Suppression lists and other privacy operations (ingest-svc's PrivacyService), and
    /// searches that include suppressed rows. Separate from ingest.write: a key that loads
    /// data must not be able to lift a suppression.
    PrivacyAdmin,
}

impl Scope {
    /// Every scope, in a stable order.
    pub const ALL: [Scope; 4] = [
        Scope::IngestWrite,
        Scope::SearchRead,
        Scope::RefreshAdmin,
        Scope::PrivacyAdmin,
    ];

    /// The scope's name as stored in the database and shown to callers.
    pub const fn as_str(self) -> &'static str {
        match self {
            Scope::IngestWrite => "ingest.write",
            Scope::SearchRead => "search.read",
            Scope::RefreshAdmin => "refresh.admin",
            Scope::PrivacyAdmin => "privacy.admin",
        }
    }

    /// Every scope's name, comma-separated, for error texts and help.
    pub fn names() -> String {
        Scope::ALL.map(Scope::as_str).join(", ")
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A scope name that is not one of [`Scope::ALL`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown scope {0:?} (expected one of {names})", names = Scope::names())]
pub struct UnknownScope(pub String);

impl FromStr for Scope {
    type Err = UnknownScope;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == s)
            .ok_or_else(|| UnknownScope(s.to_owned()))
    }
}

/// The authenticated caller of an RPC, placed in the request extensions by [`AuthLayer`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub organization_id: i64,
    pub api_key_id: i64,
    pub scopes: Vec<Scope>,
}

impl Caller {
    pub fn has_scope(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }
}

/// The caller of `request`, as authenticated by [`AuthLayer`]. `UNAUTHENTICATED` if the
/// request did not pass through it (a wiring mistake, or an unauthenticated path).
pub fn caller<T>(request: &tonic::Request<T>) -> Result<Caller, tonic::Status> {
    request
        .extensions()
        .get::<Caller>()
        .cloned()
        .ok_or_else(|| tonic::Status::unauthenticated(layer::MISSING_KEY_MESSAGE))
}

/// SHA-256 of a key: the only form in which keys are stored, looked up and cached.
pub fn hash_key(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// The key in an `authorization: Bearer <key>` header value; `None` if the header is missing,
/// not valid text, uses another scheme, or carries an empty or multi-part credential.
pub(crate) fn bearer_token(headers: &http::HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, credential) = value.trim().split_once(' ')?;
    let credential = credential.trim_start();
    let valid = scheme.eq_ignore_ascii_case("bearer")
        && !credential.is_empty()
        && !credential.contains(char::is_whitespace);
    valid.then_some(credential)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> http::HeaderMap {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            http::header::AUTHORIZATION,
            http::HeaderValue::from_str(value).expect("valid header"),
        );
        headers
    }

    #[test]
    fn bearer_header_parsing() {
        assert_eq!(bearer_token(&headers("Bearer lma_abc")), Some("lma_abc"));
        assert_eq!(bearer_token(&headers("bearer lma_abc")), Some("lma_abc"));
        assert_eq!(bearer_token(&headers("BEARER   lma_abc ")), Some("lma_abc"));
        assert_eq!(bearer_token(&http::HeaderMap::new()), None);
        for bad in [
            "Bearer",
            "Bearer ",
            "Basic dXNlcjpwYXNz",
            "lma_abc",
            "Bearer a b",
            "Bearerlma_abc",
        ] {
            assert_eq!(bearer_token(&headers(bad)), None, "{bad:?}");
        }
        let mut binary = http::HeaderMap::new();
        binary.insert(
            http::header::AUTHORIZATION,
            http::HeaderValue::from_bytes(b"Bearer \xff").expect("opaque bytes allowed"),
        );
        assert_eq!(bearer_token(&binary), None);
    }

    #[test]
    fn scopes_round_trip() {
        for scope in Scope::ALL {
            assert_eq!(scope.as_str().parse::<Scope>(), Ok(scope));
            assert_eq!(scope.to_string(), scope.as_str());
        }
        assert_eq!(
            "admin".parse::<Scope>(),
            Err(UnknownScope("admin".to_owned()))
        );
        assert_eq!(Scope::IngestWrite.as_str(), "ingest.write");
        assert_eq!(Scope::SearchRead.as_str(), "search.read");
        assert_eq!(Scope::RefreshAdmin.as_str(), "refresh.admin");
        assert_eq!(Scope::PrivacyAdmin.as_str(), "privacy.admin");
        assert_eq!(
            UnknownScope("admin".to_owned()).to_string(),
            "unknown scope \"admin\" (expected one of ingest.write, search.read, refresh.admin, \
             privacy.admin)"
        );
    }

    #[test]
    fn key_hash_is_sha256() {
        // SHA-256("abc"), FIPS 180-2 test vector.
        let expected: [u8; 32] = [
            0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae,
            0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61,
            0xf2, 0x00, 0x15, 0xad,
        ];
        assert_eq!(hash_key("abc"), expected);
    }

    #[test]
    fn caller_comes_from_extensions() {
        let mut request = tonic::Request::new(());
        assert_eq!(
            caller(&request).expect_err("no caller").code(),
            tonic::Code::Unauthenticated
        );
        let expected = Caller {
            organization_id: 1,
            api_key_id: 2,
            scopes: vec![Scope::SearchRead],
        };
        request.extensions_mut().insert(expected.clone());
        assert_eq!(caller(&request).expect("caller present"), expected);
        assert!(expected.has_scope(Scope::SearchRead));
        assert!(!expected.has_scope(Scope::IngestWrite));
    }
}
