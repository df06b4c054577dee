//! Turns validated searches into SQL over the read models: sorts, keyset positions and pages.
//! User input reaches SQL only as bound parameters; the SQL text is built from fixed fragments.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lma_proto::v1::{CompanySort, ProspectSort, SearchCompaniesRequest, SearchProspectsRequest};

use crate::error::SearchError;
use crate::filter::{
    COMPANY_NAME_KEY, CompanyConditions, PROSPECT_COMPANY_NAME_KEY, ProspectConditions,
    REVENUE_KEY, Rendered, TextQuery,
};
use crate::page_token::{self, Cursor, OrganizationTokens, SortKey, TextMode};
use crate::sql::SqlQuery;

pub const DEFAULT_PAGE_SIZE: u32 = 50;
pub const MAX_PAGE_SIZE: u32 = 1000;

/// The page size of a request: the default for 0, an error above the maximum.
pub fn page_size(requested: u32) -> Result<u32, SearchError> {
    match requested {
        0 => Ok(DEFAULT_PAGE_SIZE),
        size if size > MAX_PAGE_SIZE => Err(SearchError::invalid(
            "page_size",
            format!("is {size}; at most {} are allowed", MAX_PAGE_SIZE),
        )),
        size => Ok(size),
    }
}

/// A page request, validated: what `SearchProspects` and `SearchCompanies` run.
pub struct PageRequest<C> {
    pub conditions: C,
    pub order: Order,
    pub page_size: u32,
    /// Binds page tokens to the filter and sort.
    pub fingerprint: [u8; 8],
    /// Where the page starts; `None` for the first page.
    pub cursor: Option<Cursor>,
}

impl PageRequest<ProspectConditions> {
    pub fn prospects(
        request: &SearchProspectsRequest,
        tokens: &OrganizationTokens,
    ) -> Result<Self, SearchError> {
        let filter = request.filter.clone().unwrap_or_default();
        let conditions = ProspectConditions::parse(&filter, "filter")?;
        let order = Order::for_prospects(request.sort, conditions.query.is_some())?;
        Self::new(
            conditions,
            order,
            &filter,
            request.sort,
            request.page_size,
            &request.page_token,
            tokens,
        )
    }

    /// The SQL of this page, with `text_mode` (the page token's, when there is one).
    pub fn sql(&self, organization_id: i64, text_mode: TextMode) -> SqlQuery {
        search_prospects(
            organization_id,
            &self.conditions,
            self.order,
            self.page_size,
            self.cursor.as_ref(),
            text_mode,
        )
    }
}

impl PageRequest<CompanyConditions> {
    pub fn companies(
        request: &SearchCompaniesRequest,
        tokens: &OrganizationTokens,
    ) -> Result<Self, SearchError> {
        let filter = request.filter.clone().unwrap_or_default();
        let conditions = CompanyConditions::parse(&filter, "filter")?;
        let order = Order::for_companies(request.sort, conditions.query.is_some())?;
        Self::new(
            conditions,
            order,
            &filter,
            request.sort,
            request.page_size,
            &request.page_token,
            tokens,
        )
    }

    pub fn sql(&self, organization_id: i64) -> SqlQuery {
        search_companies(
            organization_id,
            &self.conditions,
            self.order,
            self.page_size,
            self.cursor.as_ref(),
        )
    }
}

impl<C> PageRequest<C> {
    fn new(
        conditions: C,
        order: Order,
        filter: &impl prost::Message,
        sort: i32,
        page_size: u32,
        page_token: &str,
        tokens: &OrganizationTokens,
    ) -> Result<Self, SearchError> {
        let page_size = self::page_size(page_size)?;
        let fingerprint = page_token::fingerprint(filter, sort);
        let cursor = if page_token.is_empty() {
            None
        } else {
            Some(
                tokens
                    .decode(page_token, fingerprint, &order.sample_key())
                    .map_err(|error| SearchError::invalid("page_token", error.to_string()))?,
            )
        };
        Ok(PageRequest {
            conditions,
            order,
            page_size,
            fingerprint,
            cursor,
        })
    }
}

/// The columns a prospect is read from (see `rows::prospect_from_row`).
pub const PROSPECT_COLUMNS: &str = "prospect_id, company_id, salutation, first_name, last_name, \
     full_name, email, job_title, job_title_level, department, city, state, country, tags, \
     custom_fields, company_domain, company_name, industry, min_employees, max_employees, revenue, \
     max_revenue, formatted_revenue, company_context, external_source, external_id, updated_at, \
     suppressed";

/// The columns a company summary is read from (see `rows::company_from_row`).
pub const COMPANY_COLUMNS: &str = "company_id, domain, name, industry, min_employees, \
     max_employees, revenue, max_revenue, formatted_revenue, city, state, country, company_context, \
     prospect_count, departments, last_prospect_updated_at, updated_at, suppressed";

/// The order of a result set; every order ends in the row id so that it is total and a keyset
/// position is exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    UpdatedAt,
    Relevance,
    CompanyName,
    Revenue,
    ProspectCount,
}

impl Order {
    pub fn for_prospects(sort: i32, has_query: bool) -> Result<Order, SearchError> {
        let sort = ProspectSort::try_from(sort)
            .map_err(|_| SearchError::invalid("sort", format!("{sort} is not a known sort")))?;
        Ok(match sort {
            ProspectSort::Unspecified if has_query => Order::Relevance,
            ProspectSort::Unspecified | ProspectSort::UpdatedAt => Order::UpdatedAt,
            ProspectSort::Relevance if has_query => Order::Relevance,
            ProspectSort::Relevance => {
                return Err(SearchError::invalid(
                    "sort",
                    "PROSPECT_SORT_RELEVANCE needs filter.query",
                ));
            }
            ProspectSort::CompanyName => Order::CompanyName,
            ProspectSort::Revenue => Order::Revenue,
        })
    }

    pub fn for_companies(sort: i32, has_query: bool) -> Result<Order, SearchError> {
        let sort = CompanySort::try_from(sort)
            .map_err(|_| SearchError::invalid("sort", format!("{sort} is not a known sort")))?;
        Ok(match sort {
            CompanySort::Unspecified if has_query => Order::Relevance,
            CompanySort::Unspecified | CompanySort::Name => Order::CompanyName,
            CompanySort::Relevance if has_query => Order::Relevance,
            CompanySort::Relevance => {
                return Err(SearchError::invalid(
                    "sort",
                    "COMPANY_SORT_RELEVANCE needs filter.query",
                ));
            }
            CompanySort::Revenue => Order::Revenue,
            CompanySort::ProspectCount => Order::ProspectCount,
        })
    }

    /// A key of the kind this order's page tokens carry.
    pub fn sample_key(self) -> SortKey {
        match self {
            Order::UpdatedAt => SortKey::Time(0),
            Order::Relevance => SortKey::Score(0.0),
            Order::CompanyName => SortKey::Text(String::new()),
            Order::Revenue | Order::ProspectCount => SortKey::Int(0),
        }
    }

    /// Ascending orders page forward with `>`, descending ones with `<`.
    fn ascending(self) -> bool {
        matches!(self, Order::CompanyName)
    }
}

/// Which read model a search reads, and how its columns are named there.
#[derive(Clone, Copy)]
struct Target {
    table: &'static str,
    id: &'static str,
    columns: &'static str,
    company_name_key: &'static str,
}

const PROSPECTS: Target = Target {
    table: "prospect_search_view",
    id: "prospect_id",
    columns: PROSPECT_COLUMNS,
    company_name_key: PROSPECT_COMPANY_NAME_KEY,
};

const COMPANIES: Target = Target {
    table: "company_summary_view",
    id: "company_id",
    columns: COMPANY_COLUMNS,
    company_name_key: COMPANY_NAME_KEY,
};

/// One page of prospects after `cursor`, with `sort_key` and `score` columns. Fetches one row
/// more than the page so the caller knows whether another page follows.
pub fn search_prospects(
    organization_id: i64,
    conditions: &ProspectConditions,
    order: Order,
    page_size: u32,
    cursor: Option<&Cursor>,
    text_mode: TextMode,
) -> SqlQuery {
    let mut query = SqlQuery::default();
    let rendered = conditions.render(&mut query, organization_id, text_mode);
    page(query, rendered, PROSPECTS, order, page_size, cursor)
}

/// One page of companies after `cursor`, like [`search_prospects`].
pub fn search_companies(
    organization_id: i64,
    conditions: &CompanyConditions,
    order: Order,
    page_size: u32,
    cursor: Option<&Cursor>,
) -> SqlQuery {
    let mut query = SqlQuery::default();
    let rendered = conditions.render(&mut query, organization_id);
    page(query, rendered, COMPANIES, order, page_size, cursor)
}

fn page(
    mut query: SqlQuery,
    rendered: Rendered,
    target: Target,
    order: Order,
    page_size: u32,
    cursor: Option<&Cursor>,
) -> SqlQuery {
    // Without free text every row scores 0.
    let score = rendered.score.unwrap_or_else(|| "0::real".to_owned());
    let mut conditions = rendered.conditions;
    let key = match order {
        Order::UpdatedAt => "updated_at".to_owned(),
        Order::Relevance => score.clone(),
        Order::CompanyName => target.company_name_key.to_owned(),
        Order::Revenue => REVENUE_KEY.to_owned(),
        Order::ProspectCount => "prospect_count".to_owned(),
    };
    if let Some(cursor) = cursor {
        let value = match &cursor.key {
            SortKey::Time(micros) => query.bind(time_from_micros(*micros)),
            SortKey::Int(value) => query.bind(*value),
            SortKey::Text(value) => format!("{} COLLATE \"C\"", query.bind(value.clone())),
            SortKey::Score(value) => format!("{}::real", query.bind(*value)),
        };
        let direction = if order.ascending() { ">" } else { "<" };
        conditions.push(format!(
            "({key}, {id}) {direction} ({value}, {})",
            query.bind(cursor.id),
            id = target.id
        ));
    }
    let direction = if order.ascending() { "ASC" } else { "DESC" };
    let limit = query.bind(i64::from(page_size) + 1);
    query.sql = format!(
        "SELECT {columns}, {score} AS score, {key} AS sort_key FROM {table} \
         WHERE {conditions} ORDER BY {key} {direction}, {id} {direction} LIMIT {limit}",
        columns = target.columns,
        table = target.table,
        conditions = conditions.join(" AND "),
        id = target.id,
    );
    query
}

/// Every prospect matching `conditions`, in id order (an export).
pub fn export_prospects(
    organization_id: i64,
    conditions: &ProspectConditions,
    text_mode: TextMode,
) -> SqlQuery {
    let mut query = SqlQuery::default();
    let rendered = conditions.render(&mut query, organization_id, text_mode);
    query.sql = format!(
        "SELECT {PROSPECT_COLUMNS} FROM prospect_search_view WHERE {} ORDER BY prospect_id",
        rendered.all()
    );
    query
}

/// Whether full text matches `text` anywhere in the organization, whatever the other filters.
/// The trigram fallback is for text full text cannot match (a typo, part of a word): when the
/// words are found elsewhere, the filters are why a search is empty, and a fuzzy match would
/// only return rows without the words that were asked for.
pub fn full_text_known(organization_id: i64, text: &TextQuery) -> SqlQuery {
    // A function (`prospect_text_known`) whose settings leave the planner only the full-text
    // index: as a plain EXISTS it walks the table for a word that matches nothing.
    let mut query = SqlQuery::default();
    query.sql = format!(
        "SELECT prospect_text_known({}, {})",
        query.bind(organization_id),
        query.bind(text.text.clone())
    );
    query
}

/// How a search's free text is matched: full text, unless full text cannot match the text at
/// all (see [`full_text_known`]).
pub async fn text_mode(
    client: &impl tokio_postgres::GenericClient,
    organization_id: i64,
    conditions: &ProspectConditions,
) -> Result<TextMode, SearchError> {
    let Some(text) = &conditions.query else {
        return Ok(TextMode::FullText);
    };
    let probe = full_text_known(organization_id, text);
    let known: bool = client
        .query_one(probe.sql.as_str(), &probe.param_refs().collect::<Vec<_>>())
        .await?
        .try_get(0)?;
    Ok(if known {
        TextMode::FullText
    } else {
        TextMode::Trigram
    })
}

/// The time `micros` after the Unix epoch (before it when negative).
pub fn time_from_micros(micros: i64) -> SystemTime {
    let magnitude = Duration::from_micros(micros.unsigned_abs());
    if micros >= 0 {
        UNIX_EPOCH + magnitude
    } else {
        UNIX_EPOCH - magnitude
    }
}

/// Microseconds since the Unix epoch, the resolution of a PostgreSQL timestamp.
pub fn micros_since_epoch(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(since) => i64::try_from(since.as_micros()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_micros())
            .map(|micros| -micros)
            .unwrap_or(i64::MIN),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lma_proto::v1::ProspectFilter;

    #[test]
    fn each_order_pages_by_its_key_and_the_id() {
        let conditions = ProspectConditions::parse(
            &ProspectFilter {
                query: "jane".into(),
                ..Default::default()
            },
            "filter",
        )
        .expect("valid");
        let cursor = |key| Cursor {
            key,
            id: 9,
            text_mode: TextMode::FullText,
        };
        let cases = [
            (
                Order::UpdatedAt,
                "(updated_at, prospect_id) < ($3, $4)",
                "ORDER BY updated_at DESC, prospect_id DESC",
            ),
            (
                Order::Revenue,
                "(coalesce(revenue, -1), prospect_id) < ($3, $4)",
                "ORDER BY coalesce(revenue, -1) DESC",
            ),
            (
                Order::CompanyName,
                "prospect_id) > ($3 COLLATE \"C\", $4)",
                "COLLATE \"C\") ASC, prospect_id ASC",
            ),
            (
                Order::Relevance,
                "prospect_id) < ($3::real, $4)",
                "ORDER BY ts_rank(search_document",
            ),
        ];
        for (order, keyset, order_by) in cases {
            let query = search_prospects(
                1,
                &conditions,
                order,
                50,
                Some(&cursor(order.sample_key())),
                TextMode::FullText,
            );
            assert!(query.sql.contains(keyset), "{order:?}: {}", query.sql);
            assert!(query.sql.contains(order_by), "{order:?}: {}", query.sql);
            assert_eq!(query.params.len(), 5, "organization, text, key, id, limit");
        }
    }

    #[test]
    fn relevance_needs_a_query_and_unknown_sorts_are_rejected() {
        assert_eq!(
            Order::for_prospects(0, true).expect("valid"),
            Order::Relevance
        );
        assert_eq!(
            Order::for_prospects(0, false).expect("valid"),
            Order::UpdatedAt
        );
        assert!(Order::for_prospects(ProspectSort::Relevance as i32, false).is_err());
        assert!(Order::for_prospects(42, false).is_err());
        assert!(Order::for_companies(42, false).is_err());
    }

    #[test]
    fn times_round_trip_through_micros() {
        for micros in [0, 1, -1, 1_700_000_000_123_456, -86_400_000_000] {
            assert_eq!(micros_since_epoch(time_from_micros(micros)), micros);
        }
    }
}
