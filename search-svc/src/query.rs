//! Turns a validated prospect search into SQL over `prospect_search_view`. User input reaches
//! SQL only as bound parameters; the SQL text is built from fixed fragments.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lma_proto::v1::ProspectFilter;
use tokio_postgres::types::ToSql;

use crate::error::SearchError;
use crate::page_token::UpdatedAtCursor;

pub const DEFAULT_PAGE_SIZE: u32 = 50;
pub const MAX_PAGE_SIZE: u32 = 1000;
pub const MAX_QUERY_CHARS: usize = 256;
pub const MAX_LIST_VALUES: usize = 1000;

/// SQL text with its parameters, numbered in the order they were bound.
#[derive(Default)]
pub struct SqlQuery {
    pub sql: String,
    pub params: Vec<Box<dyn ToSql + Send + Sync>>,
}

impl SqlQuery {
    /// Binds a value and returns its placeholder.
    fn bind(&mut self, value: impl ToSql + Send + Sync + 'static) -> String {
        self.params.push(Box::new(value));
        format!("${}", self.params.len())
    }

    pub fn param_refs(&self) -> impl ExactSizeIterator<Item = &(dyn ToSql + Sync)> {
        self.params
            .iter()
            .map(|param| param.as_ref() as &(dyn ToSql + Sync))
    }
}

/// The columns a hit is read from, in `hit_from_row` order.
pub const HIT_COLUMNS: &str = "prospect_id, company_id, salutation, first_name, last_name, \
     full_name, email, job_title, job_title_level, department, city, state, country, tags, \
     custom_fields, company_domain, company_name, industry, min_employees, max_employees, revenue, \
     formatted_revenue, company_context, external_source, external_id, updated_at";

/// A text list filter: trimmed, lower-cased, non-empty values, at most MAX_LIST_VALUES.
fn list(field: &str, values: &[String]) -> Result<Vec<String>, SearchError> {
    if values.len() > MAX_LIST_VALUES {
        return Err(SearchError::invalid(
            field,
            format!(
                "has {} values; at most {MAX_LIST_VALUES} are allowed",
                values.len()
            ),
        ));
    }
    Ok(values
        .iter()
        .map(|value| value.trim().to_lowercase())
        .filter(|value| !value.is_empty())
        .collect())
}

/// One page of `SearchProspects`, newest first, after `cursor` when given. Fetches one row more
/// than the page so the caller knows whether another page follows.
pub fn search_prospects(
    organization_id: i64,
    filter: &ProspectFilter,
    page_size: u32,
    cursor: Option<UpdatedAtCursor>,
) -> Result<SqlQuery, SearchError> {
    let mut query = SqlQuery::default();
    let mut conditions = vec![format!("organization_id = {}", query.bind(organization_id))];

    let industries = list("filter.industries", &filter.industries)?;
    if !industries.is_empty() {
        conditions.push(format!("lower(industry) = ANY({})", query.bind(industries)));
    }
    let countries = list("filter.countries", &filter.countries)?;
    if !countries.is_empty() {
        conditions.push(format!("lower(country) = ANY({})", query.bind(countries)));
    }
    let text = filter.query.trim();
    if text.chars().count() > MAX_QUERY_CHARS {
        return Err(SearchError::invalid(
            "filter.query",
            format!(
                "is {} characters long; at most {MAX_QUERY_CHARS} are allowed",
                text.chars().count()
            ),
        ));
    }
    let score = if text.is_empty() {
        "0::real".to_owned()
    } else {
        let placeholder = query.bind(text.to_owned());
        conditions.push(format!(
            "search_document @@ websearch_to_tsquery('simple', {placeholder})"
        ));
        format!("ts_rank(search_document, websearch_to_tsquery('simple', {placeholder}))")
    };
    if let Some(cursor) = cursor {
        let updated_at = UNIX_EPOCH
            + Duration::from_micros(u64::try_from(cursor.updated_at_micros).unwrap_or_default());
        conditions.push(format!(
            "(updated_at, prospect_id) < ({}, {})",
            query.bind(updated_at),
            query.bind(cursor.prospect_id)
        ));
    }
    let limit = query.bind(i64::from(page_size) + 1);
    query.sql = format!(
        "SELECT {HIT_COLUMNS}, {score} AS score FROM prospect_search_view \
         WHERE {} ORDER BY updated_at DESC, prospect_id DESC LIMIT {limit}",
        conditions.join(" AND ")
    );
    Ok(query)
}

/// Microseconds since the Unix epoch, the resolution of a PostgreSQL timestamp.
pub fn micros_since_epoch(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH)
        .map(|since| i64::try_from(since.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_become_bound_parameters_never_sql_text() {
        let filter = ProspectFilter {
            query: "x'); DROP TABLE prospect; --".into(),
            industries: vec![" Software ".into(), "".into()],
            ..Default::default()
        };
        let query = search_prospects(7, &filter, 50, None).expect("valid");
        assert!(!query.sql.contains("DROP"), "{}", query.sql);
        assert!(
            query.sql.contains("lower(industry) = ANY($2)"),
            "{}",
            query.sql
        );
        assert_eq!(
            query.params.len(),
            4,
            "organization, industries, query, limit"
        );
    }

    #[test]
    fn oversized_input_is_rejected_naming_the_field() {
        let long_query = ProspectFilter {
            query: "a".repeat(257),
            ..Default::default()
        };
        let Err(SearchError::Invalid(violations)) = search_prospects(1, &long_query, 50, None)
        else {
            panic!("an over-long query must be rejected");
        };
        assert_eq!(violations[0].field, "filter.query");

        let many = ProspectFilter {
            countries: vec!["de".into(); 1001],
            ..Default::default()
        };
        let Err(SearchError::Invalid(violations)) = search_prospects(1, &many, 50, None) else {
            panic!("an oversized list must be rejected");
        };
        assert_eq!(violations[0].field, "filter.countries");
    }
}
