//! Read-model rows to API messages.

use std::time::SystemTime;

use lma_proto::v1::{CompanySummary, JobTitleLevel, ProspectSummary};
use tokio_postgres::Row;
use tokio_postgres::types::FromSql;

use crate::error::SearchError;
use crate::page_token::{Cursor, SortKey, TextMode};
use crate::query::{self, Order};

/// Reads a row's columns by name, cheaply when they are read in select order: each read first
/// tries the column after the previous one, so a row costs one name comparison per column instead
/// of a search through every column before it (`Row::try_get` by name). Any order still works,
/// and reads continue cheaply after the column an out-of-order read found.
struct Columns<'a> {
    row: &'a Row,
    next: usize,
}

impl<'a> Columns<'a> {
    fn new(row: &'a Row) -> Self {
        Self { row, next: 0 }
    }

    fn get<T: FromSql<'a>>(&mut self, name: &str) -> Result<T, tokio_postgres::Error> {
        let columns = self.row.columns();
        let index = match columns.get(self.next) {
            Some(column) if column.name() == name => self.next,
            _ => match columns.iter().position(|column| column.name() == name) {
                Some(index) => index,
                // No such column: the lookup by name says so.
                None => return self.row.try_get(name),
            },
        };
        self.next = index + 1;
        self.row.try_get(index)
    }

    /// A nullable text column, empty when NULL.
    fn text(&mut self, name: &str) -> Result<String, tokio_postgres::Error> {
        Ok(self.get::<Option<String>>(name)?.unwrap_or_default())
    }
}

/// A row selected with `query::PROSPECT_COLUMNS`, read in that order.
pub fn prospect_from_row(row: &Row) -> Result<ProspectSummary, SearchError> {
    let mut c = Columns::new(row);
    Ok(ProspectSummary {
        prospect_id: c.get::<i64>("prospect_id")?.to_string(),
        company_id: c.get::<i64>("company_id")?.to_string(),
        salutation: c.text("salutation")?,
        first_name: c.text("first_name")?,
        last_name: c.text("last_name")?,
        full_name: c.text("full_name")?,
        email: c.get("email")?,
        job_title: c.text("job_title")?,
        job_title_level: JobTitleLevel::from_stored(c.get("job_title_level")?).into(),
        department: c.text("department")?,
        city: c.text("city")?,
        state: c.text("state")?,
        country: c.text("country")?,
        tags: c.get("tags")?,
        custom_fields: lma_proto::custom_fields_from_stored(c.get("custom_fields")?),
        company_domain: c.get("company_domain")?,
        company_name: c.text("company_name")?,
        industry: c.text("industry")?,
        min_employees: c.get("min_employees")?,
        max_employees: c.get("max_employees")?,
        revenue: c.get("revenue")?,
        max_revenue: c.get("max_revenue")?,
        formatted_revenue: c.get("formatted_revenue")?,
        company_context: c.text("company_context")?,
        external_source: c.get("external_source")?,
        external_id: c.get("external_id")?,
        updated_at: Some(c.get::<SystemTime>("updated_at")?.into()),
        suppressed: c.get::<Option<bool>>("suppressed")?.unwrap_or_default(),
    })
}

/// A row selected with `query::COMPANY_COLUMNS`, read in that order.
pub fn company_from_row(row: &Row) -> Result<CompanySummary, SearchError> {
    let mut c = Columns::new(row);
    Ok(CompanySummary {
        company_id: c.get::<i64>("company_id")?.to_string(),
        domain: c.get("domain")?,
        name: c.text("name")?,
        industry: c.text("industry")?,
        min_employees: c.get("min_employees")?,
        max_employees: c.get("max_employees")?,
        revenue: c.get("revenue")?,
        max_revenue: c.get("max_revenue")?,
        formatted_revenue: c.get("formatted_revenue")?,
        city: c.text("city")?,
        state: c.text("state")?,
        country: c.text("country")?,
        company_context: c.text("company_context")?,
        prospect_count: c.get("prospect_count")?,
        departments: c.get("departments")?,
        last_prospect_updated_at: c
            .get::<Option<SystemTime>>("last_prospect_updated_at")?
            .map(Into::into),
        updated_at: Some(c.get::<SystemTime>("updated_at")?.into()),
        suppressed: c.get::<Option<bool>>("suppressed")?.unwrap_or_default(),
    })
}

/// The keyset position just after `row` (selected with `sort_key` and `score` by
/// `query::search_*`), whose id column is `id_column`.
pub fn cursor_after(
    row: &Row,
    order: Order,
    id_column: &str,
    text_mode: TextMode,
) -> Result<Cursor, SearchError> {
    let key = match order {
        Order::UpdatedAt => SortKey::Time(query::micros_since_epoch(row.try_get("sort_key")?)),
        Order::Relevance => SortKey::Score(row.try_get("sort_key")?),
        Order::CompanyName => SortKey::Text(row.try_get("sort_key")?),
        Order::Revenue | Order::ProspectCount => SortKey::Int(row.try_get("sort_key")?),
    };
    Ok(Cursor {
        key,
        id: row.try_get(id_column)?,
        text_mode,
    })
}

/// The relevance score of a hit.
pub fn score(row: &Row) -> Result<f32, SearchError> {
    Ok(row.try_get("score")?)
}
