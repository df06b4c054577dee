//! Opaque keyset page tokens. A token holds the sort key of the last row of a page, that row's
//! id, how the free text was matched, and a fingerprint of the request's filter and sort, so it
//! cannot be replayed against another query. It names a position, not an offset, so it stays
//! valid while the read models change, and a deep page costs what the first one does.
//!
//! Tokens are sealed (docs/ARCHITECTURE.md, "Rules every service follows"): encrypted and
//! authenticated with ChaCha20-Poly1305 under a server key, with the organization as associated
//! data. A client can neither read a token (a company sort's key is a company name) nor alter one,
//! and a token minted for one organization does not open for another. Keys rotate: tokens sealed
//! with a previous key still open while it is configured (docs/OPERATIONS.md, "Page-token keys").

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use prost::Message;
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use sha2::{Digest, Sha256};

/// Bumped whenever the layout changes; tokens of another version are rejected, not misread.
const VERSION: u8 = 3;
/// Bytes of a page-token key.
pub const KEY_BYTES: usize = 32;
/// Bytes the seal adds to the content: the version, the nonce and the tag.
const SEAL_OVERHEAD: usize = 1 + NONCE_LEN + 16;
/// key kind, text mode, id (8), fingerprint (8).
const HEADER_LEN: usize = 1 + 1 + 8 + 8;
/// Longest text sort key (company names are at most 300 characters of up to 4 bytes each).
const MAX_TEXT_KEY_BYTES: usize = 1200;
/// Longest token accepted, in characters: what the longest content encodes to.
const MAX_TOKEN_CHARS: usize = (SEAL_OVERHEAD + HEADER_LEN + MAX_TEXT_KEY_BYTES).div_ceil(3) * 4;

/// The sort key of the last row of a page.
#[derive(Debug, Clone, PartialEq)]
pub enum SortKey {
    /// Microseconds since the Unix epoch (updated_at).
    Time(i64),
    /// An integer key (revenue, prospect count).
    Int(i64),
    /// A text key (lower-cased company name).
    Text(String),
    /// A relevance score.
    Score(f32),
}

impl SortKey {
    fn kind(&self) -> u8 {
        match self {
            SortKey::Time(_) => 1,
            SortKey::Int(_) => 2,
            SortKey::Text(_) => 3,
            SortKey::Score(_) => 4,
        }
    }
}

/// How a free-text query matched: full text, or the trigram fallback when full text found
/// nothing. Kept in the token so every page of a result set uses the same matching.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TextMode {
    #[default]
    FullText,
    Trigram,
}

/// Position after the last row of a page.
#[derive(Debug, Clone, PartialEq)]
pub struct Cursor {
    pub key: SortKey,
    /// prospect_id or company_id: the tie-breaker that makes the order total.
    pub id: i64,
    pub text_mode: TextMode,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PageTokenError {
    /// Not a token, altered, cut short, sealed with a key no longer configured, or minted for
    /// another organization: a client cannot tell these apart, and need not.
    #[error("is not a page token issued by this service for this organization")]
    Malformed,
    #[error("was issued for a different filter or sort; start again without a page token")]
    OtherQuery,
}

/// Fingerprint of the parts of a request a page token is bound to.
pub fn fingerprint(filter: &impl Message, sort: i32) -> [u8; 8] {
    let mut hasher = Sha256::new();
    hasher.update(filter.encode_to_vec());
    hasher.update(sort.to_le_bytes());
    let digest = hasher.finalize();
    let mut out = [0; 8];
    out.copy_from_slice(&digest[..8]);
    out
}

/// A page-token key that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a page-token key must be {hex} hexadecimal digits ({KEY_BYTES} random bytes, e.g. `openssl rand -hex {KEY_BYTES}`)", hex = 2 * KEY_BYTES)]
pub struct InvalidKey;

/// The keys tokens are sealed with (the current one) and opened with (it, then the previous
/// ones, during a rotation).
pub struct PageTokenKeys {
    current: LessSafeKey,
    previous: Vec<LessSafeKey>,
}

impl std::fmt::Debug for PageTokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PageTokenKeys")
            .field("previous", &self.previous.len())
            .finish_non_exhaustive()
    }
}

impl PageTokenKeys {
    /// Keys from their hexadecimal form: the current one, and the previous ones still accepted.
    pub fn from_hex(current: &str, previous: &[String]) -> Result<Self, InvalidKey> {
        Ok(Self {
            current: key_from_hex(current)?,
            previous: previous
                .iter()
                .filter(|key| !key.trim().is_empty())
                .map(|key| key_from_hex(key))
                .collect::<Result<_, _>>()?,
        })
    }

    /// A random key of this process only: tokens do not survive a restart nor open on another
    /// replica. For development and tests; production configures a shared key.
    pub fn ephemeral() -> Self {
        let mut bytes = [0u8; KEY_BYTES];
        // The operating system's random source; without it no key can be made at all.
        getrandom::fill(&mut bytes).expect("the operating system's random source works");
        Self {
            current: key_from_bytes(&bytes),
            previous: Vec::new(),
        }
    }

    /// The tokens of one organization.
    pub fn for_organization(self: &Arc<Self>, organization_id: i64) -> OrganizationTokens {
        OrganizationTokens {
            keys: Arc::clone(self),
            organization_id,
        }
    }
}

fn key_from_hex(hex: &str) -> Result<LessSafeKey, InvalidKey> {
    let hex = hex.trim();
    if hex.len() != 2 * KEY_BYTES || !hex.is_ascii() {
        return Err(InvalidKey);
    }
    let mut bytes = [0u8; KEY_BYTES];
    for (byte, pair) in bytes.iter_mut().zip(hex.as_bytes().chunks(2)) {
        let pair = std::str::from_utf8(pair).map_err(|_| InvalidKey)?;
        *byte = u8::from_str_radix(pair, 16).map_err(|_| InvalidKey)?;
    }
    Ok(key_from_bytes(&bytes))
}

fn key_from_bytes(bytes: &[u8; KEY_BYTES]) -> LessSafeKey {
    // ChaCha20-Poly1305 takes any 32 bytes as a key.
    LessSafeKey::new(
        UnboundKey::new(&CHACHA20_POLY1305, bytes).expect("32 bytes are a ChaCha20-Poly1305 key"),
    )
}

/// Seals and opens the page tokens of one organization.
#[derive(Clone, Debug)]
pub struct OrganizationTokens {
    keys: Arc<PageTokenKeys>,
    organization_id: i64,
}

impl OrganizationTokens {
    /// The associated data every token of this organization is sealed with.
    fn aad(&self) -> [u8; 9] {
        let mut aad = [0u8; 9];
        aad[0] = VERSION;
        aad[1..].copy_from_slice(&self.organization_id.to_be_bytes());
        aad
    }

    /// The token of `cursor`, for the request with `fingerprint`.
    pub fn encode(&self, cursor: &Cursor, fingerprint: [u8; 8]) -> String {
        let mut content = Vec::with_capacity(HEADER_LEN + 8 + 16);
        content.push(cursor.key.kind());
        content.push(match cursor.text_mode {
            TextMode::FullText => 0,
            TextMode::Trigram => 1,
        });
        content.extend_from_slice(&cursor.id.to_be_bytes());
        content.extend_from_slice(&fingerprint);
        match &cursor.key {
            SortKey::Time(value) | SortKey::Int(value) => {
                content.extend_from_slice(&value.to_be_bytes());
            }
            SortKey::Score(value) => content.extend_from_slice(&value.to_bits().to_be_bytes()),
            SortKey::Text(value) => content.extend_from_slice(value.as_bytes()),
        }
        // A random nonce per token: 2^32 tokens per key keep the chance of a repeat below
        // 2^-32 (rotate keys well before that; docs/OPERATIONS.md).
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).expect("the operating system's random source works");
        self.keys
            .current
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(self.aad()),
                &mut content,
            )
            .expect("a page token is far below ChaCha20-Poly1305's length limit");
        let mut sealed = Vec::with_capacity(1 + NONCE_LEN + content.len());
        sealed.push(VERSION);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&content);
        URL_SAFE_NO_PAD.encode(sealed)
    }

    /// Opens a token, checking that it was issued to this organization for the request with
    /// `fingerprint`, and that its key has the kind the request's sort uses (`expected_kind` of
    /// a sample key).
    pub fn decode(
        &self,
        token: &str,
        fingerprint: [u8; 8],
        expected_kind: &SortKey,
    ) -> Result<Cursor, PageTokenError> {
        if token.len() > MAX_TOKEN_CHARS {
            return Err(PageTokenError::Malformed);
        }
        let sealed = URL_SAFE_NO_PAD
            .decode(token)
            .map_err(|_| PageTokenError::Malformed)?;
        if sealed.len() < SEAL_OVERHEAD || sealed[0] != VERSION {
            return Err(PageTokenError::Malformed);
        }
        let nonce: [u8; NONCE_LEN] = sealed[1..1 + NONCE_LEN]
            .try_into()
            .map_err(|_| PageTokenError::Malformed)?;
        let sealed_content = &sealed[1 + NONCE_LEN..];
        let content = std::iter::once(&self.keys.current)
            .chain(&self.keys.previous)
            .find_map(|key| {
                let mut buffer = sealed_content.to_vec();
                key.open_in_place(
                    Nonce::assume_unique_for_key(nonce),
                    Aad::from(self.aad()),
                    &mut buffer,
                )
                .ok()
                .map(|content| content.to_vec())
            })
            .ok_or(PageTokenError::Malformed)?;
        parse_content(&content, fingerprint, expected_kind)
    }
}

/// The cursor in an opened token's content.
fn parse_content(
    content: &[u8],
    fingerprint: [u8; 8],
    expected_kind: &SortKey,
) -> Result<Cursor, PageTokenError> {
    if content.len() < HEADER_LEN {
        return Err(PageTokenError::Malformed);
    }
    let word = |at: usize| -> Result<[u8; 8], PageTokenError> {
        content
            .get(at..at + 8)
            .and_then(|slice| slice.try_into().ok())
            .ok_or(PageTokenError::Malformed)
    };
    if word(10)? != fingerprint {
        return Err(PageTokenError::OtherQuery);
    }
    let text_mode = match content[1] {
        0 => TextMode::FullText,
        1 => TextMode::Trigram,
        _ => return Err(PageTokenError::Malformed),
    };
    let id = i64::from_be_bytes(word(2)?);
    let rest = &content[HEADER_LEN..];
    let fixed = |rest: &[u8]| -> Result<[u8; 8], PageTokenError> {
        rest.try_into().map_err(|_| PageTokenError::Malformed)
    };
    let key = match content[0] {
        1 => SortKey::Time(i64::from_be_bytes(fixed(rest)?)),
        2 => SortKey::Int(i64::from_be_bytes(fixed(rest)?)),
        3 => {
            SortKey::Text(String::from_utf8(rest.to_vec()).map_err(|_| PageTokenError::Malformed)?)
        }
        4 => {
            let bits: [u8; 4] = rest.try_into().map_err(|_| PageTokenError::Malformed)?;
            SortKey::Score(f32::from_bits(u32::from_be_bytes(bits)))
        }
        _ => return Err(PageTokenError::Malformed),
    };
    // The fingerprint binds the sort, so a kind mismatch cannot come from this service.
    if key.kind() != expected_kind.kind() {
        return Err(PageTokenError::Malformed);
    }
    Ok(Cursor { key, id, text_mode })
}

#[cfg(test)]
mod tests {
    use super::*;
    use lma_proto::v1::ProspectFilter;

    const KEY_A: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    const KEY_B: &str = "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff000102030405060708090a0b0c0d0e0f";

    fn tokens(current: &str, previous: &[&str], organization_id: i64) -> OrganizationTokens {
        let previous: Vec<String> = previous.iter().map(|key| (*key).to_owned()).collect();
        Arc::new(PageTokenKeys::from_hex(current, &previous).expect("valid keys"))
            .for_organization(organization_id)
    }

    fn cursor(key: SortKey) -> Cursor {
        Cursor {
            key,
            id: 42,
            text_mode: TextMode::FullText,
        }
    }

    #[test]
    fn a_token_round_trips_for_the_same_query_only() {
        let tokens = tokens(KEY_A, &[], 7);
        let filter = ProspectFilter {
            industries: vec!["Software".into()],
            ..Default::default()
        };
        let print = fingerprint(&filter, 0);
        for (key, text_mode) in [
            (SortKey::Time(1_700_000_000_000_000), TextMode::FullText),
            (SortKey::Int(-1), TextMode::FullText),
            (SortKey::Text("acme ümlaut".into()), TextMode::Trigram),
            (SortKey::Text("é".repeat(300)), TextMode::FullText),
            (SortKey::Score(0.0607927), TextMode::Trigram),
        ] {
            let cursor = Cursor {
                key: key.clone(),
                id: 42,
                text_mode,
            };
            let token = tokens.encode(&cursor, print);
            assert_eq!(tokens.decode(&token, print, &key), Ok(cursor));
        }

        let cursor = cursor(SortKey::Time(5));
        let token = tokens.encode(&cursor, print);
        let other = ProspectFilter {
            industries: vec!["Retail".into()],
            ..Default::default()
        };
        assert_eq!(
            tokens.decode(&token, fingerprint(&other, 0), &cursor.key),
            Err(PageTokenError::OtherQuery)
        );
        assert_eq!(
            tokens.decode(&token, fingerprint(&filter, 4), &cursor.key),
            Err(PageTokenError::OtherQuery)
        );
        assert_eq!(
            tokens.decode(&token, print, &SortKey::Int(0)),
            Err(PageTokenError::Malformed)
        );
    }

    #[test]
    fn a_token_hides_its_content() {
        let tokens = tokens(KEY_A, &[], 7);
        let name = "acme widgets";
        let token = tokens.encode(&cursor(SortKey::Text(name.into())), [0; 8]);
        let bytes = URL_SAFE_NO_PAD.decode(&token).expect("base64");
        assert!(!bytes.windows(name.len()).any(|w| w == name.as_bytes()));
        let hex: String = name.bytes().map(|b| format!("{b:02x}")).collect();
        assert!(!token.contains(&hex) && !token.contains("acme"), "{token}");
        // Two tokens of the same position differ (random nonces): nothing to compare.
        assert_ne!(
            token,
            tokens.encode(&cursor(SortKey::Text(name.into())), [0; 8])
        );
    }

    #[test]
    fn every_altered_byte_is_refused() {
        let tokens = tokens(KEY_A, &[], 7);
        let key = SortKey::Int(1_000);
        let token = tokens.encode(&cursor(key.clone()), [1; 8]);
        let sealed = URL_SAFE_NO_PAD.decode(&token).expect("base64");
        for at in 0..sealed.len() {
            for flip in [0x01u8, 0x80] {
                let mut altered = sealed.clone();
                altered[at] ^= flip;
                assert_eq!(
                    tokens.decode(&URL_SAFE_NO_PAD.encode(&altered), [1; 8], &key),
                    Err(PageTokenError::Malformed),
                    "byte {at} ^ {flip:#x}"
                );
            }
        }
        for cut in [0, 1, sealed.len() / 2, sealed.len() - 1] {
            assert_eq!(
                tokens.decode(&URL_SAFE_NO_PAD.encode(&sealed[..cut]), [1; 8], &key),
                Err(PageTokenError::Malformed),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn a_token_opens_only_for_its_organization() {
        let key = SortKey::Time(9);
        let token = tokens(KEY_A, &[], 7).encode(&cursor(key.clone()), [0; 8]);
        assert_eq!(
            tokens(KEY_A, &[], 8).decode(&token, [0; 8], &key),
            Err(PageTokenError::Malformed)
        );
    }

    #[test]
    fn previous_keys_open_old_tokens_during_a_rotation() {
        let key = SortKey::Time(9);
        let old = tokens(KEY_A, &[], 7).encode(&cursor(key.clone()), [0; 8]);
        let rotated = tokens(KEY_B, &[KEY_A], 7);
        assert_eq!(rotated.decode(&old, [0; 8], &key), Ok(cursor(key.clone())));
        // New tokens are sealed with the new key only.
        let new = rotated.encode(&cursor(key.clone()), [0; 8]);
        assert_eq!(
            tokens(KEY_A, &[], 7).decode(&new, [0; 8], &key),
            Err(PageTokenError::Malformed)
        );
        // Once the previous key is dropped, its tokens no longer open.
        assert_eq!(
            tokens(KEY_B, &[], 7).decode(&old, [0; 8], &key),
            Err(PageTokenError::Malformed)
        );
    }

    #[test]
    fn keys_must_be_32_bytes_of_hex() {
        for bad in ["", "00", &"zz".repeat(32), &"0".repeat(63), &"é".repeat(32)] {
            assert_eq!(
                PageTokenKeys::from_hex(bad, &[]).map(|_| ()),
                Err(InvalidKey),
                "{bad:?}"
            );
        }
        assert_eq!(
            PageTokenKeys::from_hex(KEY_A, &["nope".to_owned()]).map(|_| ()),
            Err(InvalidKey)
        );
    }

    #[test]
    fn garbage_is_refused() {
        let tokens = tokens(KEY_A, &[], 7);
        let key = SortKey::Time(0);
        for token in [
            "",
            "zz",
            "!!!!",
            "ab".repeat(40).as_str(),
            &"é".repeat(40),
            &"A".repeat(MAX_TOKEN_CHARS + 1),
        ] {
            assert_eq!(
                tokens.decode(token, [0; 8], &key),
                Err(PageTokenError::Malformed),
                "{token:?}"
            );
        }
    }
}
