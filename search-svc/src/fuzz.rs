//! Fuzzing of what a caller controls, run with every `cargo test`: arbitrary bytes
//! decoded as search requests and through validation into SQL, arbitrary and mutated page
//! tokens. The committed corpus (`fuzz/corpus/*.hex`, one hex-encoded input per line) is
//! replayed first, then `LMA_FUZZ_CASES` random cases per property (default 256; `.ci/run`
//! runs more). A failure shrinks to a minimal input, which proptest records in
//! `proptest-regressions/` (commit it) and replays on every later run.

use std::sync::Arc;

use lma_proto::v1::{
    CompanyFilter, Int32Range, Int64Range, ProspectFilter, SearchCompaniesRequest,
    SearchProspectsRequest,
};
use proptest::prelude::*;
use prost::Message as _;

use crate::error::SearchError;
use crate::filter::{CompanyConditions, ProspectConditions};
use crate::page_token::{Cursor, OrganizationTokens, PageTokenKeys, SortKey, TextMode};
use crate::query::PageRequest;
use crate::sql::SqlQuery;

/// Random cases per property: `LMA_FUZZ_CASES`, or 256.
fn cases() -> u32 {
    std::env::var("LMA_FUZZ_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(256)
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: cases(),
        ..ProptestConfig::default()
    }
}

fn tokens() -> OrganizationTokens {
    Arc::new(PageTokenKeys::ephemeral()).for_organization(7)
}

/// The inputs of one corpus file.
fn corpus(name: &str) -> Vec<Vec<u8>> {
    let path = format!("{}/fuzz/corpus/{name}.hex", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            (0..line.len() / 2)
                .map(|i| u8::from_str_radix(&line[2 * i..2 * i + 2], 16))
                .collect::<Result<Vec<u8>, _>>()
                .unwrap_or_else(|e| panic!("{path}: {line:?}: {e}"))
        })
        .collect()
}

/// Every placeholder `$n` in `sql` names a bound parameter, and every parameter is used.
fn placeholders_match(query: &SqlQuery) -> Result<(), TestCaseError> {
    let mut used = std::collections::BTreeSet::new();
    let bytes = query.sql.as_bytes();
    let mut at = 0;
    while at < bytes.len() {
        if bytes[at] == b'$' {
            let digits: String = query.sql[at + 1..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            if let Ok(n) = digits.parse::<usize>() {
                used.insert(n);
            }
            at += 1 + digits.len();
        } else {
            at += 1;
        }
    }
    let expected: std::collections::BTreeSet<usize> = (1..=query.params.len()).collect();
    prop_assert_eq!(used, expected, "{}", query.sql);
    Ok(())
}

/// A decoded search request either validates into SQL whose text holds none of the caller's
/// text and binds exactly its placeholders, or is refused field by field. Never a panic, never
/// another error.
fn check_prospect_request(request: &SearchProspectsRequest) -> Result<(), TestCaseError> {
    match PageRequest::prospects(request, &tokens()) {
        Ok(page) => {
            for mode in [TextMode::FullText, TextMode::Trigram] {
                let query = page.sql(7, mode);
                placeholders_match(&query)?;
                prop_assert!(
                    !query.sql.contains('\u{a7}'),
                    "caller text in SQL: {}",
                    query.sql
                );
            }
            Ok(())
        }
        Err(SearchError::Invalid(violations)) => {
            prop_assert!(!violations.is_empty());
            for violation in violations {
                prop_assert!(violation.field.len() <= 600, "{}", violation.field.len());
            }
            Ok(())
        }
        Err(other) => Err(TestCaseError::fail(format!("{other:?}"))),
    }
}

fn check_company_request(request: &SearchCompaniesRequest) -> Result<(), TestCaseError> {
    match PageRequest::companies(request, &tokens()) {
        Ok(page) => {
            let query = page.sql(7);
            placeholders_match(&query)?;
            prop_assert!(
                !query.sql.contains('\u{a7}'),
                "caller text in SQL: {}",
                query.sql
            );
            Ok(())
        }
        Err(SearchError::Invalid(_)) => Ok(()),
        Err(other) => Err(TestCaseError::fail(format!("{other:?}"))),
    }
}

/// Caller text: any characters, NUL and quotes included, marked with `§` so a leak into SQL
/// text shows.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "\\PC{0,12}".prop_map(|text| format!("\u{a7}{text}")),
        "[\\x00'\"%_\\\\;$ -]{0,8}".prop_map(|text| format!("\u{a7}{text}")),
        (0usize..400).prop_map(|n| format!("\u{a7}{}", "x".repeat(n))),
    ]
}

fn texts() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(text(), 0..4)
}

fn int64_range() -> impl Strategy<Value = Option<Int64Range>> {
    prop::option::of(
        (
            prop::option::of(any::<i64>()),
            prop::option::of(any::<i64>()),
        )
            .prop_map(|(min, max)| Int64Range { min, max }),
    )
}

fn int32_range() -> impl Strategy<Value = Option<Int32Range>> {
    prop::option::of(
        (
            prop::option::of(any::<i32>()),
            prop::option::of(any::<i32>()),
        )
            .prop_map(|(min, max)| Int32Range { min, max }),
    )
}

fn prospect_filter() -> impl Strategy<Value = ProspectFilter> {
    (
        (
            text(),
            texts(),
            prop::collection::vec(any::<i32>(), 0..3),
            texts(),
            texts(),
        ),
        (texts(), texts(), int64_range(), int32_range(), text()),
        (
            texts(),
            texts(),
            prop::collection::hash_map(text(), text(), 0..3),
            prop::option::of((any::<i64>(), any::<i32>())),
            any::<bool>(),
        ),
    )
        .prop_map(
            |(
                (query, industries, job_title_levels, departments, company_domains),
                (countries, states, revenue, employees, company_name_prefix),
                (tags_any, tags_all, custom_fields, updated_since, include_suppressed),
            )| ProspectFilter {
                query,
                industries,
                job_title_levels,
                departments,
                company_domains,
                countries,
                states,
                cities: Vec::new(),
                revenue,
                employees,
                company_name_prefix,
                tags_any,
                tags_all,
                custom_fields,
                updated_since: updated_since
                    .map(|(seconds, nanos)| prost_types::Timestamp { seconds, nanos }),
                include_suppressed,
            },
        )
}

fn cursor() -> impl Strategy<Value = Cursor> {
    (
        prop_oneof![
            any::<i64>().prop_map(SortKey::Time),
            any::<i64>().prop_map(SortKey::Int),
            "\\PC{0,40}".prop_map(SortKey::Text),
            any::<f32>().prop_map(SortKey::Score),
        ],
        any::<i64>(),
        any::<bool>(),
    )
        .prop_map(|(key, id, trigram)| Cursor {
            key,
            id,
            text_mode: if trigram {
                TextMode::Trigram
            } else {
                TextMode::FullText
            },
        })
}

#[test]
fn the_corpus_of_request_bodies_decodes_and_validates_or_is_refused() {
    for input in corpus("search-requests") {
        if let Ok(request) = SearchProspectsRequest::decode(input.as_slice()) {
            check_prospect_request(&request).expect("a corpus input");
        }
        if let Ok(request) = SearchCompaniesRequest::decode(input.as_slice()) {
            check_company_request(&request).expect("a corpus input");
        }
    }
}

#[test]
fn the_corpus_of_page_tokens_never_opens() {
    let tokens = tokens();
    for input in corpus("page-tokens") {
        let token = String::from_utf8_lossy(&input);
        for key in [SortKey::Time(0), SortKey::Text(String::new())] {
            assert!(tokens.decode(&token, [0; 8], &key).is_err(), "{token:?}");
        }
    }
}

proptest! {
    #![proptest_config(config())]

    /// Arbitrary bytes as a request body: decoded or not, never a panic; what decodes is
    /// validated into SQL or refused.
    #[test]
    fn arbitrary_bodies_decode_and_validate_or_are_refused(
        body in prop::collection::vec(any::<u8>(), 0..256),
    ) {
        if let Ok(request) = SearchProspectsRequest::decode(body.as_slice()) {
            check_prospect_request(&request)?;
        }
        if let Ok(request) = SearchCompaniesRequest::decode(body.as_slice()) {
            check_company_request(&request)?;
        }
    }

    /// Filters of any shape (hostile text, extreme ranges, any sort and size): SQL with only
    /// bound values, or field violations.
    #[test]
    fn any_filter_becomes_bound_sql_or_named_violations(
        filter in prospect_filter(),
        sort in -1i32..6,
        page_size in prop_oneof![Just(0u32), 1u32..1100, Just(u32::MAX)],
        min_token in text(),
    ) {
        let request = SearchProspectsRequest {
            filter: Some(filter.clone()),
            sort,
            page_size,
            page_token: String::new(),
            min_token,
        };
        check_prospect_request(&request)?;
        let company = SearchCompaniesRequest {
            filter: Some(CompanyFilter {
                query: filter.query,
                industries: filter.industries,
                countries: filter.countries,
                domains: filter.company_domains,
                name_prefix: filter.company_name_prefix,
                revenue: filter.revenue,
                employees: filter.employees,
                min_prospects: None,
                include_suppressed: filter.include_suppressed,
            }),
            sort,
            page_size,
            ..Default::default()
        };
        check_company_request(&company)?;
        // Validation names fields under the prefix it is given.
        if let Err(SearchError::Invalid(violations)) = ProspectConditions::parse(&request.filter.clone().unwrap_or_default(), "filter") {
            for violation in violations {
                prop_assert!(violation.field.starts_with("filter."), "{}", violation.field);
            }
        }
        let _ = CompanyConditions::parse(&CompanyFilter::default(), "filter");
    }

    /// Any text as a page token: refused, never a panic.
    #[test]
    fn arbitrary_page_tokens_are_refused(token in "\\PC{0,120}|[A-Za-z0-9_-]{0,120}") {
        for key in [SortKey::Time(0), SortKey::Int(0), SortKey::Text(String::new()), SortKey::Score(0.0)] {
            prop_assert!(tokens().decode(&token, [0; 8], &key).is_err());
        }
    }

    /// A sealed token opens to its cursor; with any byte altered, it does not open.
    #[test]
    fn sealed_tokens_round_trip_and_resist_alteration(
        cursor in cursor(),
        fingerprint in any::<[u8; 8]>(),
        at in any::<prop::sample::Index>(),
        flip in 1u8..,
    ) {
        let tokens = tokens();
        let token = tokens.encode(&cursor, fingerprint);
        let opened = tokens.decode(&token, fingerprint, &cursor.key);
        match (&opened, &cursor.key) {
            // NaN is not equal to itself; compare the bits.
            (Ok(Cursor { key: SortKey::Score(a), .. }), SortKey::Score(b)) => {
                prop_assert_eq!(a.to_bits(), b.to_bits());
            }
            _ => prop_assert_eq!(opened, Ok(cursor.clone())),
        }
        use base64::Engine as _;
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut sealed = engine.decode(&token).expect("our own token is base64");
        let index = at.index(sealed.len());
        sealed[index] ^= flip;
        prop_assert!(tokens.decode(&engine.encode(&sealed), fingerprint, &cursor.key).is_err());
    }
}
