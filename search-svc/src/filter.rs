//! Validates the filters of a request and turns them into SQL conditions over the read models.
//! Every value reaches SQL as a bound parameter; the SQL text is built from fixed fragments.
//! Each invalid field is reported at once, by its path in the request.

use std::time::SystemTime;

use lma_proto::v1::{CompanyFilter, Int32Range, Int64Range, JobTitleLevel, ProspectFilter};
use svc_core::error::Violations;
use svc_core::{Caller, Scope};

use crate::error::SearchError;
use crate::page_token::TextMode;
use crate::sql::SqlQuery;

/// Longest free-text query, in characters.
pub const MAX_QUERY_CHARS: usize = 256;
/// Most values in one list filter (company domains, industries, ...).
pub const MAX_LIST_VALUES: usize = 1000;
/// Longest single list value or name prefix, in characters.
pub const MAX_VALUE_CHARS: usize = 300;
/// Most custom-field conditions.
pub const MAX_CUSTOM_FIELDS: usize = 50;

/// The sort key of company names: lower case, the domain standing in for a missing name,
/// compared byte-wise so one index serves both the sort and the prefix filter.
pub const PROSPECT_COMPANY_NAME_KEY: &str =
    "(lower(coalesce(company_name, company_domain)) COLLATE \"C\")";
pub const COMPANY_NAME_KEY: &str = "(lower(coalesce(name, domain)) COLLATE \"C\")";
/// Revenue as a sort and range key, in both read models: the amount or a range's lower bound;
/// unknown revenue (-1) sorts last and matches no range.
pub const REVENUE_KEY: &str = "coalesce(revenue, -1)";
/// The text trigram matching compares a query with: the expression of the read model's trigram
/// index, so that the index serves it.
pub const TRIGRAM_TEXT: &str =
    "prospect_trigram_text(full_name, email, job_title, company_name, industry)";

/// A filter's conditions as SQL over one statement's parameters.
#[derive(Debug)]
pub struct Rendered {
    /// Every condition, organization first; all must hold.
    pub conditions: Vec<String>,
    /// How well a row matches the free text, when the filter has any: the relevance sort's key.
    pub score: Option<String>,
}

impl Rendered {
    /// The conditions joined with AND, for a WHERE clause.
    pub fn all(&self) -> String {
        self.conditions.join(" AND ")
    }
}

/// A free-text query, validated.
#[derive(Debug, Clone)]
pub struct TextQuery {
    pub text: String,
}

impl TextQuery {
    /// The text as a substring to look for: lower case, without the double quotes that make a
    /// phrase in `websearch_to_tsquery` syntax (`"data analyst"` looks for `data analyst`).
    fn substring(&self) -> String {
        self.text.replace('"', "").trim().to_lowercase()
    }
}

/// A prospect filter, validated and normalized.
#[derive(Debug, Clone, Default)]
pub struct ProspectConditions {
    pub query: Option<TextQuery>,
    industries: Vec<String>,
    job_title_levels: Vec<String>,
    departments: Vec<String>,
    company_domains: Vec<String>,
    countries: Vec<String>,
    states: Vec<String>,
    cities: Vec<String>,
    revenue: Option<(i64, i64)>,
    employees: Option<(i32, i32)>,
    company_name_prefix: Option<String>,
    tags_any: Vec<String>,
    tags_all: Vec<String>,
    custom_fields: Option<serde_json::Value>,
    updated_since: Option<SystemTime>,
    /// Rows hidden by a suppression entry match too (the caller's key must allow it:
    /// [`ProspectConditions::authorize`]).
    pub include_suppressed: bool,
}

/// A company filter, validated and normalized.
#[derive(Debug, Clone, Default)]
pub struct CompanyConditions {
    pub query: Option<TextQuery>,
    industries: Vec<String>,
    countries: Vec<String>,
    domains: Vec<String>,
    name_prefix: Option<String>,
    revenue: Option<(i64, i64)>,
    employees: Option<(i32, i32)>,
    min_prospects: Option<i64>,
    /// Companies hidden by a suppression entry match too ([`authorize_hidden`]).
    pub include_suppressed: bool,
}

impl ProspectConditions {
    pub fn parse(filter: &ProspectFilter, prefix: &str) -> Result<Self, SearchError> {
        let mut violations = Violations::default();
        let field = |name: &str| format!("{prefix}.{name}");
        let conditions = ProspectConditions {
            query: text_query(&mut violations, &field("query"), &filter.query),
            industries: industries(list(
                &mut violations,
                &field("industries"),
                &filter.industries,
            )),
            job_title_levels: levels(
                &mut violations,
                &field("job_title_levels"),
                &filter.job_title_levels,
            ),
            departments: list(&mut violations, &field("departments"), &filter.departments),
            company_domains: list(
                &mut violations,
                &field("company_domains"),
                &filter.company_domains,
            ),
            countries: countries(list(
                &mut violations,
                &field("countries"),
                &filter.countries,
            )),
            states: states(list(&mut violations, &field("states"), &filter.states)),
            cities: list(&mut violations, &field("cities"), &filter.cities),
            revenue: revenue(&mut violations, &field("revenue"), filter.revenue.as_ref()),
            employees: employees(
                &mut violations,
                &field("employees"),
                filter.employees.as_ref(),
            ),
            company_name_prefix: prefix_value(
                &mut violations,
                &field("company_name_prefix"),
                &filter.company_name_prefix,
            ),
            tags_any: list(&mut violations, &field("tags_any"), &filter.tags_any),
            tags_all: list(&mut violations, &field("tags_all"), &filter.tags_all),
            custom_fields: custom_fields(
                &mut violations,
                &field("custom_fields"),
                &filter.custom_fields,
            ),
            updated_since: filter.updated_since.and_then(|timestamp| {
                timestamp_in_range(timestamp)
                    .map_err(|_| {
                        violations.add(
                            field("updated_since"),
                            "is not a timestamp between 0001-01-01 and 9999-12-31 (UTC)",
                        );
                    })
                    .ok()
            }),
            include_suppressed: filter.include_suppressed,
        };
        violations.finish(conditions).map_err(SearchError::Invalid)
    }

    /// Whether `caller` may run these conditions: including hidden rows needs the
    /// privacy.admin scope, as lifting a suppression does. `prefix` is the filter's path.
    pub fn authorize(&self, caller: &Caller, prefix: &str) -> Result<(), SearchError> {
        authorize_hidden(
            self.include_suppressed,
            caller,
            &format!("{prefix}.include_suppressed"),
        )
    }

    /// The conditions (organization first) and the free text's score, their values bound to
    /// `query`. The free text is matched by `text_mode`.
    pub fn render(
        &self,
        query: &mut SqlQuery,
        organization_id: i64,
        text_mode: TextMode,
    ) -> Rendered {
        let mut conditions = vec![format!("organization_id = {}", query.bind(organization_id))];
        if !self.include_suppressed {
            conditions.push(VISIBLE.to_owned());
        }
        let mut any = |conditions: &mut Vec<String>, column: &str, values: &[String]| {
            if !values.is_empty() {
                conditions.push(format!("{column} = ANY({})", query.bind(values.to_vec())));
            }
        };
        any(&mut conditions, "lower(industry)", &self.industries);
        any(&mut conditions, "job_title_level", &self.job_title_levels);
        any(&mut conditions, "lower(department)", &self.departments);
        any(&mut conditions, "company_domain", &self.company_domains);
        any(&mut conditions, "lower(country)", &self.countries);
        any(&mut conditions, "lower(state)", &self.states);
        any(&mut conditions, "lower(city)", &self.cities);
        if let Some((min, max)) = self.revenue {
            conditions.push(revenue_overlap(query, min, max));
        }
        if let Some((min, max)) = self.employees {
            conditions.push(employees_overlap(query, min, max));
        }
        if let Some(prefix) = &self.company_name_prefix {
            conditions.push(format!(
                "{PROSPECT_COMPANY_NAME_KEY} LIKE {}",
                query.bind(like_prefix(prefix))
            ));
        }
        if !self.tags_any.is_empty() {
            conditions.push(format!(
                "search_tags && {}",
                query.bind(self.tags_any.clone())
            ));
        }
        if !self.tags_all.is_empty() {
            conditions.push(format!(
                "search_tags @> {}",
                query.bind(self.tags_all.clone())
            ));
        }
        if let Some(fields) = &self.custom_fields {
            conditions.push(format!("custom_fields @> {}", query.bind(fields.clone())));
        }
        if let Some(since) = self.updated_since {
            conditions.push(format!("updated_at >= {}", query.bind(since)));
        }
        let mut score = None;
        if let Some(text) = &self.query {
            let placeholder = query.bind(text.text.clone());
            conditions.push(match text_mode {
                TextMode::FullText => {
                    format!("search_document @@ websearch_to_tsquery('simple', {placeholder})")
                }
                // Typo-tolerant word similarity, or a plain substring.
                TextMode::Trigram => format!(
                    "({placeholder} <% {TRIGRAM_TEXT} OR {TRIGRAM_TEXT} LIKE {})",
                    query.bind(like_substring(&text.substring()))
                ),
            });
            score = Some(match text_mode {
                TextMode::FullText => format!(
                    "ts_rank(search_document, websearch_to_tsquery('simple', {placeholder}))"
                ),
                TextMode::Trigram => format!("word_similarity({placeholder}, {TRIGRAM_TEXT})"),
            });
        }
        Rendered { conditions, score }
    }
}

/// The condition that leaves out rows a suppression entry hides. Hidden rows are few: a filter
/// on the rows the indexes find, no index of its own.
pub const VISIBLE: &str = "NOT suppressed";

/// Whether `caller` may include hidden rows (`include`, the request's `field`): that needs the
/// privacy.admin scope, as lifting a suppression does.
pub fn authorize_hidden(include: bool, caller: &Caller, field: &str) -> Result<(), SearchError> {
    if include && !caller.has_scope(Scope::PrivacyAdmin) {
        return Err(SearchError::PermissionDenied(format!(
            "{field} needs an API key with the {} scope",
            Scope::PrivacyAdmin.as_str()
        )));
    }
    Ok(())
}

impl CompanyConditions {
    /// Whether `caller` may run these conditions, like [`ProspectConditions::authorize`].
    pub fn authorize(&self, caller: &Caller, prefix: &str) -> Result<(), SearchError> {
        authorize_hidden(
            self.include_suppressed,
            caller,
            &format!("{prefix}.include_suppressed"),
        )
    }

    pub fn parse(filter: &CompanyFilter, prefix: &str) -> Result<Self, SearchError> {
        let mut violations = Violations::default();
        let field = |name: &str| format!("{prefix}.{name}");
        let min_prospects = match filter.min_prospects {
            Some(count) if count < 0 => {
                violations.add(
                    field("min_prospects"),
                    format!("is {count}; must not be negative"),
                );
                None
            }
            other => other,
        };
        let conditions = CompanyConditions {
            query: text_query(&mut violations, &field("query"), &filter.query),
            industries: industries(list(
                &mut violations,
                &field("industries"),
                &filter.industries,
            )),
            countries: countries(list(
                &mut violations,
                &field("countries"),
                &filter.countries,
            )),
            domains: list(&mut violations, &field("domains"), &filter.domains),
            name_prefix: prefix_value(&mut violations, &field("name_prefix"), &filter.name_prefix),
            revenue: revenue(&mut violations, &field("revenue"), filter.revenue.as_ref()),
            employees: employees(
                &mut violations,
                &field("employees"),
                filter.employees.as_ref(),
            ),
            min_prospects,
            include_suppressed: filter.include_suppressed,
        };
        violations.finish(conditions).map_err(SearchError::Invalid)
    }

    /// The conditions and the free text's score, like [`ProspectConditions::render`].
    pub fn render(&self, query: &mut SqlQuery, organization_id: i64) -> Rendered {
        let mut conditions = vec![format!("organization_id = {}", query.bind(organization_id))];
        if !self.include_suppressed {
            conditions.push(VISIBLE.to_owned());
        }
        let mut any = |conditions: &mut Vec<String>, column: &str, values: &[String]| {
            if !values.is_empty() {
                conditions.push(format!("{column} = ANY({})", query.bind(values.to_vec())));
            }
        };
        any(&mut conditions, "lower(industry)", &self.industries);
        any(&mut conditions, "lower(country)", &self.countries);
        any(&mut conditions, "domain", &self.domains);
        if let Some(prefix) = &self.name_prefix {
            conditions.push(format!(
                "{COMPANY_NAME_KEY} LIKE {}",
                query.bind(like_prefix(prefix))
            ));
        }
        if let Some((min, max)) = self.revenue {
            conditions.push(revenue_overlap(query, min, max));
        }
        if let Some((min, max)) = self.employees {
            conditions.push(employees_overlap(query, min, max));
        }
        if let Some(min) = self.min_prospects {
            conditions.push(format!("prospect_count >= {}", query.bind(min)));
        }
        let mut score = None;
        if let Some(text) = &self.query {
            let placeholder = query.bind(text.text.clone());
            conditions.push(format!(
                "search_document @@ websearch_to_tsquery('simple', {placeholder})"
            ));
            score = Some(format!(
                "ts_rank(search_document, websearch_to_tsquery('simple', {placeholder}))"
            ));
        }
        Rendered { conditions, score }
    }
}

/// Seconds from the Unix epoch to 0001-01-01T00:00:00Z and to 10000-01-01T00:00:00Z: the range
/// `google.protobuf.Timestamp` defines, well inside what PostgreSQL's timestamptz holds.
const TIMESTAMP_SECONDS: std::ops::Range<i64> = -62_135_596_800..253_402_300_800;

/// `timestamp` as a time, if it is one `google.protobuf.Timestamp` allows.
fn timestamp_in_range(timestamp: prost_types::Timestamp) -> Result<SystemTime, ()> {
    if !TIMESTAMP_SECONDS.contains(&timestamp.seconds)
        || !(0..1_000_000_000).contains(&timestamp.nanos)
    {
        return Err(());
    }
    SystemTime::try_from(timestamp).map_err(|_| ())
}

/// Companies whose revenue range overlaps [min, max]: the lower bound (`revenue`) at most `max`,
/// the upper one at least `min`; an open range ("$1B+", no `max_revenue`) reaches any amount,
/// an exact amount (both bounds equal) matches as it always has, unknown revenue matches no
/// range. The lower bound is compared as the revenue sort key (both read models index
/// `coalesce(revenue, -1)`), so the index serves the condition; 0 as its floor keeps unknown
/// revenue (-1) out.
fn revenue_overlap(query: &mut SqlQuery, min: i64, max: i64) -> String {
    format!(
        "{REVENUE_KEY} BETWEEN 0 AND {} AND coalesce(max_revenue, {}) >= {}",
        query.bind(max),
        i64::MAX,
        query.bind(min)
    )
}

/// Companies whose employee range overlaps [min, max]; an open upper bound ("5000+") reaches
/// any size, a company of unknown size matches no range.
fn employees_overlap(query: &mut SqlQuery, min: i32, max: i32) -> String {
    format!(
        "(min_employees IS NOT NULL OR max_employees IS NOT NULL) \
         AND coalesce(max_employees, 2147483647) >= {} AND coalesce(min_employees, 0) <= {}",
        query.bind(min),
        query.bind(max)
    )
}

fn text_query(violations: &mut Violations, field: &str, text: &str) -> Option<TextQuery> {
    checked_text(violations, || field.to_owned(), text, MAX_QUERY_CHARS).map(|text| TextQuery {
        text: text.to_owned(),
    })
}

/// `value` trimmed, or `None` when it is empty or breaks a rule of every filter text: at most
/// `max_chars` characters, and only text PostgreSQL can store (`field` names it when not).
fn checked_text<'a>(
    violations: &mut Violations,
    field: impl FnOnce() -> String,
    value: &'a str,
    max_chars: usize,
) -> Option<&'a str> {
    let value = value.trim();
    let chars = value.chars().count();
    if chars > max_chars {
        violations.add(
            field(),
            format!("is {chars} characters long; at most {max_chars} are allowed"),
        );
        return None;
    }
    if !violations.storable(field, value) {
        return None;
    }
    (!value.is_empty()).then_some(value)
}

/// A text list filter: trimmed, lower-cased, non-empty values, at most MAX_LIST_VALUES.
fn list(violations: &mut Violations, field: &str, values: &[String]) -> Vec<String> {
    if values.len() > MAX_LIST_VALUES {
        violations.add(
            field,
            format!(
                "has {} values; at most {MAX_LIST_VALUES} are allowed",
                values.len()
            ),
        );
        return Vec::new();
    }
    let mut kept = Vec::with_capacity(values.len());
    for (index, value) in values.iter().enumerate() {
        let value = checked_text(
            violations,
            || format!("{field}[{index}]"),
            value,
            MAX_VALUE_CHARS,
        );
        kept.extend(value.map(str::to_lowercase));
    }
    kept
}

/// Country filter values with the stored spelling of each added: the country's ISO 3166-1
/// short name, as ingest stores it, so "usa", "U.S." and "United States" all find "United
/// States of America". A value that names no known country is kept as given, and so is every
/// value, which still finds rows stored before ingest normalized countries.
fn countries(values: Vec<String>) -> Vec<String> {
    with_stored(values, |value| {
        lma_values::parse_country(value)
            .ok()
            .map(|country| country.name.to_lowercase())
    })
}

/// Industry filter values with their canonical form added ("computer-software" finds
/// "computer software", as ingest stores "COMPUTER_SOFTWARE").
fn industries(values: Vec<String>) -> Vec<String> {
    with_stored(values, |value| lma_values::canonical_industry(value).ok())
}

/// State filter values with the code of a US state or Canadian province added ("california"
/// finds "CA", as ingest stores states of US and Canadian rows).
fn states(values: Vec<String>) -> Vec<String> {
    with_stored(values, |value| {
        lma_values::parse_region(value, None)
            .ok()
            .flatten()
            .map(|region| region.code.to_lowercase())
    })
}

/// `values` (lower case) and, after them, the lower-case stored form `stored` gives for each,
/// without repeats: matched with `lower(column) = ANY(...)`, the index the filter uses.
fn with_stored(values: Vec<String>, stored: impl Fn(&str) -> Option<String>) -> Vec<String> {
    let mut all = values.clone();
    for value in &values {
        if let Some(form) = stored(value)
            && !all.contains(&form)
        {
            all.push(form);
        }
    }
    all
}

fn levels(violations: &mut Violations, field: &str, values: &[i32]) -> Vec<String> {
    let mut kept = Vec::with_capacity(values.len());
    for (index, value) in values.iter().enumerate() {
        match JobTitleLevel::try_from(*value)
            .ok()
            .and_then(JobTitleLevel::as_stored)
        {
            Some(stored) => kept.push(stored.to_owned()),
            None => violations.add(
                format!("{field}[{index}]"),
                format!("{value} is not a job title level"),
            ),
        }
    }
    kept
}

fn revenue(
    violations: &mut Violations,
    field: &str,
    range: Option<&Int64Range>,
) -> Option<(i64, i64)> {
    let range = range?;
    if range.min.is_none() && range.max.is_none() {
        return None;
    }
    let (min, max) = (range.min.unwrap_or(0), range.max.unwrap_or(i64::MAX));
    checked_range(violations, field, min, max).then_some((min, max))
}

fn employees(
    violations: &mut Violations,
    field: &str,
    range: Option<&Int32Range>,
) -> Option<(i32, i32)> {
    let range = range?;
    if range.min.is_none() && range.max.is_none() {
        return None;
    }
    let (min, max) = (range.min.unwrap_or(0), range.max.unwrap_or(i32::MAX));
    checked_range(violations, field, i64::from(min), i64::from(max)).then_some((min, max))
}

fn checked_range(violations: &mut Violations, field: &str, min: i64, max: i64) -> bool {
    if min < 0 {
        violations.add(
            format!("{field}.min"),
            format!("is {min}; must not be negative"),
        );
        false
    } else if min > max {
        violations.add(field, format!("min {min} is greater than max {max}"));
        false
    } else {
        true
    }
}

fn prefix_value(violations: &mut Violations, field: &str, value: &str) -> Option<String> {
    checked_text(violations, || field.to_owned(), value, MAX_VALUE_CHARS).map(str::to_lowercase)
}

fn custom_fields(
    violations: &mut Violations,
    field: &str,
    fields: &std::collections::HashMap<String, String>,
) -> Option<serde_json::Value> {
    if fields.is_empty() {
        return None;
    }
    if fields.len() > MAX_CUSTOM_FIELDS {
        violations.add(
            field,
            format!(
                "has {} entries; at most {MAX_CUSTOM_FIELDS} are allowed",
                fields.len()
            ),
        );
        return None;
    }
    let mut object = serde_json::Map::with_capacity(fields.len());
    for (key, value) in fields {
        // The path quotes the key cut short: a key is caller input of any length.
        let entry = || format!("{field}[{}]", svc_core::error::quoted(key));
        if key.trim().is_empty() {
            violations.add(field, "has an empty key");
            continue;
        }
        // Keys and values are compared as stored (untrimmed), so only the rules apply here.
        let key_ok = checked_text(violations, entry, key, MAX_VALUE_CHARS).is_some();
        let value_ok = value.trim().is_empty()
            || checked_text(violations, entry, value, MAX_VALUE_CHARS).is_some();
        if key_ok && value_ok {
            object.insert(key.clone(), serde_json::Value::String(value.clone()));
        }
    }
    Some(serde_json::Value::Object(object))
}

/// Escapes LIKE's wildcards so user text matches literally.
fn escape_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    for character in text.chars() {
        if matches!(character, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(character);
    }
    out
}

fn like_prefix(prefix: &str) -> String {
    format!("{}%", escape_like(prefix))
}

fn like_substring(text: &str) -> String {
    format!("%{}%", escape_like(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn violations_of(result: Result<ProspectConditions, SearchError>) -> Vec<String> {
        match result {
            Err(SearchError::Invalid(violations)) => {
                violations.into_iter().map(|v| v.field).collect()
            }
            other => panic!("expected violations, got {other:?}"),
        }
    }

    #[test]
    fn filter_values_find_their_stored_spelling_too() {
        assert_eq!(
            countries(vec!["usa".into(), "u.s.".into(), "narnia".into()]),
            ["usa", "u.s.", "narnia", "united states of america"]
        );
        assert_eq!(
            industries(vec!["computer-software".into()]),
            ["computer-software", "computer software"]
        );
        assert_eq!(states(vec!["california".into()]), ["california", "ca"]);
        assert_eq!(states(vec!["bavaria".into()]), ["bavaria"]);
    }

    #[test]
    fn filters_become_bound_parameters_never_sql_text() {
        let filter = ProspectFilter {
            query: "x'); DROP TABLE prospect; --".into(),
            industries: vec![" Software ".into(), "".into()],
            company_name_prefix: "50%_off".into(),
            ..Default::default()
        };
        let conditions = ProspectConditions::parse(&filter, "filter").expect("valid");
        for mode in [TextMode::FullText, TextMode::Trigram] {
            let mut query = SqlQuery::default();
            let sql = conditions.render(&mut query, 7, mode).all();
            assert!(!sql.contains("DROP") && !sql.contains("50"), "{sql}");
            assert!(sql.contains("lower(industry) = ANY($2)"), "{sql}");
        }
        assert_eq!(like_prefix("50%_off"), "50\\%\\_off%");
    }

    #[test]
    fn every_bad_field_is_named() {
        let filter = ProspectFilter {
            query: "a".repeat(MAX_QUERY_CHARS + 1),
            countries: vec!["de".into(); MAX_LIST_VALUES + 1],
            job_title_levels: vec![3, 0, 99],
            revenue: Some(Int64Range {
                min: Some(10),
                max: Some(5),
            }),
            employees: Some(Int32Range {
                min: Some(-1),
                max: None,
            }),
            ..Default::default()
        };
        assert_eq!(
            violations_of(ProspectConditions::parse(&filter, "filter")),
            [
                "filter.query",
                "filter.job_title_levels[1]",
                "filter.job_title_levels[2]",
                "filter.countries",
                "filter.revenue",
                "filter.employees.min",
            ]
        );
    }

    #[test]
    fn text_postgresql_cannot_store_is_refused_by_field() {
        let nul = "a\0b".to_owned();
        let filter = ProspectFilter {
            query: nul.clone(),
            industries: vec!["ok".into(), nul.clone()],
            company_name_prefix: nul.clone(),
            custom_fields: [
                ("tier".to_owned(), nul.clone()),
                (nul.clone(), "x".to_owned()),
            ]
            .into_iter()
            .collect(),
            ..Default::default()
        };
        let mut fields = violations_of(ProspectConditions::parse(&filter, "filter"));
        fields.sort();
        assert_eq!(
            fields,
            [
                "filter.company_name_prefix",
                "filter.custom_fields[\"a\\0b\"]",
                "filter.custom_fields[\"tier\"]",
                "filter.industries[1]",
                "filter.query",
            ]
        );
    }

    #[test]
    fn a_huge_custom_field_key_is_named_cut_short() {
        let key = "k".repeat(2 * 1024 * 1024);
        let filter = ProspectFilter {
            custom_fields: [(key, "v".to_owned())].into_iter().collect(),
            ..Default::default()
        };
        let fields = violations_of(ProspectConditions::parse(&filter, "filter"));
        assert_eq!(fields.len(), 1);
        assert!(fields[0].len() < 200, "{}", fields[0].len());
    }

    #[test]
    fn timestamps_outside_the_protobuf_range_are_refused() {
        let at = |seconds, nanos| prost_types::Timestamp { seconds, nanos };
        for bad in [
            at(i64::MAX, 0),
            at(i64::MIN, 0),
            at(253_402_300_800, 0),
            at(-62_135_596_801, 0),
            at(0, 2_000_000_000),
            at(0, -1),
        ] {
            let filter = ProspectFilter {
                updated_since: Some(bad),
                ..Default::default()
            };
            assert_eq!(
                violations_of(ProspectConditions::parse(&filter, "filter")),
                ["filter.updated_since"],
                "{bad:?}"
            );
        }
        for good in [
            at(-62_135_596_800, 0),
            at(253_402_300_799, 999_999_999),
            at(0, 0),
        ] {
            assert!(timestamp_in_range(good).is_ok(), "{good:?}");
        }
    }
}
