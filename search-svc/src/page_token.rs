//! Opaque keyset page tokens. A token holds the sort key of the last row of a page and a
//! fingerprint of the request's filter and sort, so it cannot be replayed against another query.
//! It names a position, not an offset, so it stays valid while the read model changes.

use prost::Message;
use sha2::{Digest, Sha256};

const VERSION: u8 = 1;
const LEN: usize = 1 + 8 + 8 + 8;

/// Position after the last row of a page sorted by (updated_at DESC, prospect_id DESC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpdatedAtCursor {
    pub updated_at_micros: i64,
    pub prospect_id: i64,
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

pub fn encode(cursor: UpdatedAtCursor, fingerprint: [u8; 8]) -> String {
    let mut bytes = Vec::with_capacity(LEN);
    bytes.push(VERSION);
    bytes.extend_from_slice(&cursor.updated_at_micros.to_be_bytes());
    bytes.extend_from_slice(&cursor.prospect_id.to_be_bytes());
    bytes.extend_from_slice(&fingerprint);
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

pub fn decode(token: &str, fingerprint: [u8; 8]) -> Result<UpdatedAtCursor, PageTokenError> {
    if token.len() != LEN * 2 || !token.is_ascii() {
        return Err(PageTokenError::Malformed);
    }
    let bytes = (0..LEN)
        .map(|i| u8::from_str_radix(&token[2 * i..2 * i + 2], 16))
        .collect::<Result<Vec<u8>, _>>()
        .map_err(|_| PageTokenError::Malformed)?;
    if bytes[0] != VERSION {
        return Err(PageTokenError::Malformed);
    }
    let word = |at: usize| {
        let mut out = [0; 8];
        out.copy_from_slice(&bytes[at..at + 8]);
        out
    };
    if word(17) != fingerprint {
        return Err(PageTokenError::OtherQuery);
    }
    Ok(UpdatedAtCursor {
        updated_at_micros: i64::from_be_bytes(word(1)),
        prospect_id: i64::from_be_bytes(word(9)),
    })
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
        let cursor = UpdatedAtCursor {
            updated_at_micros: 1_700_000_000_000_000,
            prospect_id: 42,
        };
        let token = encode(cursor, print);
        assert_eq!(decode(&token, print), Ok(cursor));

        let other = ProspectFilter {
            industries: vec!["Retail".into()],
            ..Default::default()
        };
        assert_eq!(
            decode(&token, fingerprint(&other, 0)),
            Err(PageTokenError::OtherQuery)
        );
        assert_eq!(
            decode(&token, fingerprint(&filter, 4)),
            Err(PageTokenError::OtherQuery)
        );
    }

    #[test]
    fn forged_tokens_are_rejected() {
        let print = [0; 8];
        for token in ["", "zz", "ab".repeat(LEN).as_str(), &"é".repeat(LEN)] {
            assert_eq!(
                decode(token, print),
                Err(PageTokenError::Malformed),
                "{token:?}"
            );
        }
    }
}
