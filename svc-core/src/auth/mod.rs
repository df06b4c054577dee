//! Bearer API keys (DESIGN.md section 6): every call but health and reflection carries
//! `authorization: Bearer <key>`; the key maps to one organization and its scopes.
//!
//! Only the SHA-256 of a key is stored or cached. A key is `lma_` followed by 64 lowercase hex
//! digits (32 random bytes), shown once when it is minted.

mod authenticator;
mod layer;
mod rate_limit;

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

use crate::db::DbError;

pub use authenticator::Authenticator;
pub use layer::{AuthLayer, AuthService};
pub use rate_limit::RateLimiter;

/// Prefix of every API key; makes keys recognisable to secret scanners and people.
pub const KEY_PREFIX: &str = "lma_";

/// Number of leading key characters stored in clear (`key_prefix`) so operators can tell keys
/// apart: the `lma_` prefix and 8 hex digits, far too few to help guess the rest.
const DISPLAY_PREFIX_LEN: usize = 12;

/// What an API key may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// Write prospects and companies (ingest-svc).
    IngestWrite,
    /// Search the read models (search-svc).
    SearchRead,
    /// Trigger and watch refreshes (refresh-svc).
    RefreshAdmin,
}

impl Scope {
    /// Every scope, in a stable order.
    pub const ALL: [Scope; 3] = [Scope::IngestWrite, Scope::SearchRead, Scope::RefreshAdmin];

    /// The scope's name as stored in the database and shown to callers.
    pub const fn as_str(self) -> &'static str {
        match self {
            Scope::IngestWrite => "ingest.write",
            Scope::SearchRead => "search.read",
            Scope::RefreshAdmin => "refresh.admin",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A scope name that is not one of [`Scope::ALL`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown scope {0:?} (expected one of ingest.write, search.read, refresh.admin)")]
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

/// A newly minted key. `key` is shown once and never stored.
#[derive(Clone)]
pub struct MintedKey {
    pub api_key_id: i64,
    pub key: String,
}

// Hand-written so that logging a minted key by accident does not leak it.
impl fmt::Debug for MintedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MintedKey")
            .field("api_key_id", &self.api_key_id)
            .field("key", &display_prefix(&self.key))
            .finish_non_exhaustive()
    }
}

/// A fresh random key: `lma_` and 64 lowercase hex digits.
fn generate_key() -> Result<String, DbError> {
    let mut secret = [0_u8; 32];
    getrandom::fill(&mut secret).map_err(DbError::KeyGeneration)?;
    let mut key = String::with_capacity(KEY_PREFIX.len() + 2 * secret.len());
    key.push_str(KEY_PREFIX);
    for byte in secret {
        key.push(hex_digit(byte >> 4));
        key.push(hex_digit(byte & 0x0f));
    }
    Ok(key)
}

fn hex_digit(nibble: u8) -> char {
    char::from_digit(u32::from(nibble), 16).unwrap_or('0')
}

fn display_prefix(key: &str) -> &str {
    key.get(..DISPLAY_PREFIX_LEN).unwrap_or(key)
}

/// Creates the organization `name`, or returns the existing one's id.
pub async fn create_organization(
    client: &tokio_postgres::Client,
    name: &str,
) -> Result<i64, DbError> {
    // DO UPDATE rather than DO NOTHING so that RETURNING yields the existing row too.
    let row = client
        .query_one(
            "INSERT INTO organization (name) VALUES ($1) \
             ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name \
             RETURNING id",
            &[&name],
        )
        .await?;
    Ok(row.try_get(0)?)
}

/// Mints a key for `organization_id` with `scopes`; only its hash is stored.
pub async fn mint_api_key(
    client: &tokio_postgres::Client,
    organization_id: i64,
    name: &str,
    scopes: &[Scope],
) -> Result<MintedKey, DbError> {
    let key = generate_key()?;
    let hash = hash_key(&key);
    let mut scope_names: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
    scope_names.sort_unstable();
    scope_names.dedup();
    let row = client
        .query_one(
            "INSERT INTO api_key (organization_id, name, key_hash, key_prefix, scopes) \
             VALUES ($1, $2, $3, $4, $5) \
             RETURNING id",
            &[
                &organization_id,
                &name,
                &&hash[..],
                &display_prefix(&key),
                &scope_names,
            ],
        )
        .await?;
    let api_key_id = row.try_get(0)?;
    Ok(MintedKey { api_key_id, key })
}

/// Revokes a key. `false` if it does not exist or was already revoked. Services may keep
/// accepting it for up to the auth cache TTL.
pub async fn revoke_api_key(
    client: &tokio_postgres::Client,
    api_key_id: i64,
) -> Result<bool, DbError> {
    let updated = client
        .execute(
            "UPDATE api_key SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL",
            &[&api_key_id],
        )
        .await?;
    Ok(updated == 1)
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
    }

    #[test]
    fn generated_keys_have_the_documented_format() {
        let key = generate_key().expect("random source available");
        let hex = key.strip_prefix("lma_").expect("prefix");
        assert_eq!(hex.len(), 64);
        assert!(
            hex.chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
        );
        let other = generate_key().expect("random source available");
        assert_ne!(key, other);
        assert_eq!(display_prefix(&key).len(), 12);
        assert!(display_prefix(&key).starts_with("lma_"));
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
    fn minted_key_debug_hides_the_secret() {
        let key = generate_key().expect("random source available");
        let minted = MintedKey {
            api_key_id: 7,
            key: key.clone(),
        };
        let shown = format!("{minted:?}");
        assert!(!shown.contains(&key));
        assert!(shown.contains(display_prefix(&key)));
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
