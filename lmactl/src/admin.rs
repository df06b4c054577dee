//! Organization and API-key administration: what `lmactl org` and `lmactl key` do, directly in
//! the database (the services only authenticate keys; they never create them).
//!
//! A key is `lma_` followed by 64 lowercase hex digits (32 random bytes), shown once when it is
//! minted; only its SHA-256 is stored.

use std::fmt;

use svc_core::Scope;
use svc_core::auth::{KEY_PREFIX, hash_key};

/// Number of leading key characters stored in clear (`key_prefix`) so operators can tell keys
/// apart: the `lma_` prefix and 8 hex digits, far too few to help guess the rest.
const DISPLAY_PREFIX_LEN: usize = 12;

/// Why an administration step failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The statement failed.
    #[error("database: {0}")]
    Db(#[from] tokio_postgres::Error),
    /// The operating system's random source failed while minting a key.
    #[error("generating a random API key: {0}")]
    KeyGeneration(getrandom::Error),
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
fn generate_key() -> Result<String, AdminError> {
    let mut secret = [0_u8; 32];
    getrandom::fill(&mut secret).map_err(AdminError::KeyGeneration)?;
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
) -> Result<i64, AdminError> {
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
) -> Result<MintedKey, AdminError> {
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
) -> Result<bool, AdminError> {
    let updated = client
        .execute(
            "UPDATE api_key SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL",
            &[&api_key_id],
        )
        .await?;
    Ok(updated == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
