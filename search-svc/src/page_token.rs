//! Opaque keyset page tokens. A token holds the sort key of the last row of a page, that row's
//! id, how the free text was matched, and a fingerprint of the request's filter and sort, so it
//! cannot be replayed against another query. It names a position, not an offset, so it stays
//! valid while the read models change, and a deep page costs what the first one does.

use prost::Message;
use sha2::{Digest, Sha256};

/// Bumped whenever the layout changes; tokens of another version are rejected, not misread.
const VERSION: u8 = 2;
/// version, key kind, text mode, id (8), fingerprint (8).
const HEADER_LEN: usize = 1 + 1 + 1 + 8 + 8;
/// Longest text sort key (company names are at most 300 characters of up to 4 bytes each).
const MAX_TEXT_KEY_BYTES: usize = 1200;

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
    #[error("is not a page token issued by this service")]
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

pub fn encode(cursor: &Cursor, fingerprint: [u8; 8]) -> String {
    let mut bytes = Vec::with_capacity(HEADER_LEN + 8);
    bytes.push(VERSION);
    bytes.push(cursor.key.kind());
    bytes.push(match cursor.text_mode {
        TextMode::FullText => 0,
        TextMode::Trigram => 1,
    });
    bytes.extend_from_slice(&cursor.id.to_be_bytes());
    bytes.extend_from_slice(&fingerprint);
    match &cursor.key {
        SortKey::Time(value) | SortKey::Int(value) => bytes.extend_from_slice(&value.to_be_bytes()),
        SortKey::Score(value) => bytes.extend_from_slice(&value.to_bits().to_be_bytes()),
        SortKey::Text(value) => bytes.extend_from_slice(value.as_bytes()),
    }
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Decodes a token, checking that it was issued for the request with `fingerprint` and that
/// its key has the kind the request's sort uses (`expected_kind` of a sample key).
pub fn decode(
    token: &str,
    fingerprint: [u8; 8],
    expected_kind: &SortKey,
) -> Result<Cursor, PageTokenError> {
    if !token.is_ascii()
        || !token.len().is_multiple_of(2)
        || token.len() < HEADER_LEN * 2
        || token.len() > (HEADER_LEN + MAX_TEXT_KEY_BYTES) * 2
    {
        return Err(PageTokenError::Malformed);
    }
    let bytes = (0..token.len() / 2)
        .map(|i| u8::from_str_radix(&token[2 * i..2 * i + 2], 16))
        .collect::<Result<Vec<u8>, _>>()
        .map_err(|_| PageTokenError::Malformed)?;
    if bytes[0] != VERSION {
        return Err(PageTokenError::Malformed);
    }
    let word = |at: usize| -> Result<[u8; 8], PageTokenError> {
        bytes
            .get(at..at + 8)
            .and_then(|slice| slice.try_into().ok())
            .ok_or(PageTokenError::Malformed)
    };
    if word(11)? != fingerprint {
        return Err(PageTokenError::OtherQuery);
    }
    let text_mode = match bytes[2] {
        0 => TextMode::FullText,
        1 => TextMode::Trigram,
        _ => return Err(PageTokenError::Malformed),
    };
    let id = i64::from_be_bytes(word(3)?);
    let rest = &bytes[HEADER_LEN..];
    let fixed = |rest: &[u8]| -> Result<[u8; 8], PageTokenError> {
        rest.try_into().map_err(|_| PageTokenError::Malformed)
    };
    let key = match bytes[1] {
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
    // The fingerprint binds the sort, so a kind mismatch means a forged token.
    if key.kind() != expected_kind.kind() {
        return Err(PageTokenError::Malformed);
    }
    Ok(Cursor { key, id, text_mode })
}

#[cfg(test)]
mod tests {
    use super::*;
    use lma_proto::v1::ProspectFilter;

    #[test]
    fn a_token_round_trips_for_the_same_query_only() {
        let filter = ProspectFilter {
            industries: vec!["Software".into()],
            ..Default::default()
        };
        let print = fingerprint(&filter, 0);
        for (key, text_mode) in [
            (SortKey::Time(1_700_000_000_000_000), TextMode::FullText),
            (SortKey::Int(-1), TextMode::FullText),
            (SortKey::Text("acme ümlaut".into()), TextMode::Trigram),
            (SortKey::Score(0.0607927), TextMode::Trigram),
        ] {
            let cursor = Cursor {
                key: key.clone(),
                id: 42,
                text_mode,
            };
            let token = encode(&cursor, print);
            assert_eq!(decode(&token, print, &key), Ok(cursor));
        }

        let cursor = Cursor {
            key: SortKey::Time(5),
            id: 42,
            text_mode: TextMode::FullText,
        };
        let token = encode(&cursor, print);
        let other = ProspectFilter {
            industries: vec!["Retail".into()],
            ..Default::default()
        };
        assert_eq!(
            decode(&token, fingerprint(&other, 0), &cursor.key),
            Err(PageTokenError::OtherQuery)
        );
        assert_eq!(
            decode(&token, fingerprint(&filter, 4), &cursor.key),
            Err(PageTokenError::OtherQuery)
        );
        assert_eq!(
            decode(&token, print, &SortKey::Int(0)),
            Err(PageTokenError::Malformed)
        );
    }

    #[test]
    fn forged_tokens_are_rejected() {
        let print = [0; 8];
        let key = SortKey::Time(0);
        let truncated = &encode(
            &Cursor {
                key: key.clone(),
                id: 1,
                text_mode: TextMode::FullText,
            },
            print,
        )[..40];
        for token in [
            "",
            "zz",
            "ab".repeat(HEADER_LEN + 8).as_str(),
            &"é".repeat(HEADER_LEN + 8),
            truncated,
            &"00".repeat(5000),
        ] {
            assert_eq!(
                decode(token, print, &key),
                Err(PageTokenError::Malformed),
                "{token:?}"
            );
        }
    }
}
