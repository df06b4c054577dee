//! Read-model rows to API messages.

use std::time::SystemTime;

use lma_proto::v1::{CompanySummary, JobTitleLevel, ProspectSummary};
use tokio_postgres::Row;

use crate::error::SearchError;
use crate::page_token::{Cursor, SortKey, TextMode};
use crate::query::{self, Order};

fn text(row: &Row, column: &str) -> Result<String, tokio_postgres::Error> {
    Ok(row
        .try_get::<_, Option<String>>(column)?
        .unwrap_or_default())
}

/// A row selected with `query::PROSPECT_COLUMNS`.
pub fn prospect_from_row(row: &Row) -> Result<ProspectSummary, SearchError> {
    let custom_fields = lma_proto::custom_fields_from_stored(row.try_get("custom_fields")?);
    Ok(ProspectSummary {
        prospect_id: row.try_get::<_, i64>("prospect_id")?.to_string(),
        company_id: row.try_get::<_, i64>("company_id")?.to_string(),
        salutation: text(row, "salutation")?,
        first_name: text(row, "first_name")?,
        last_name: text(row, "last_name")?,
        full_name: text(row, "full_name")?,
        email: row.try_get("email")?,
        job_title: text(row, "job_title")?,
        job_title_level: JobTitleLevel::from_stored(row.try_get("job_title_level")?).into(),
        department: text(row, "department")?,
        city: text(row, "city")?,
        state: text(row, "state")?,
        country: text(row, "country")?,
        tags: row.try_get("tags")?,
        custom_fields,
        company_domain: row.try_get("company_domain")?,
        company_name: text(row, "company_name")?,
        industry: text(row, "industry")?,
        min_employees: row.try_get("min_employees")?,
        max_employees: row.try_get("max_employees")?,
        revenue: row.try_get("revenue")?,
        formatted_revenue: row.try_get("formatted_revenue")?,
        company_context: text(row, "company_context")?,
        external_source: row.try_get("external_source")?,
        external_id: row.try_get("external_id")?,
        updated_at: Some(row.try_get::<_, SystemTime>("updated_at")?.into()),
    })
}

/// A row selected with `query::COMPANY_COLUMNS`.
pub fn company_from_row(row: &Row) -> Result<CompanySummary, SearchError> {
    Ok(CompanySummary {
        company_id: row.try_get::<_, i64>("company_id")?.to_string(),
        domain: row.try_get("domain")?,
        name: text(row, "name")?,
        industry: text(row, "industry")?,
        min_employees: row.try_get("min_employees")?,
        max_employees: row.try_get("max_employees")?,
        revenue: row.try_get("revenue")?,
        formatted_revenue: row.try_get("formatted_revenue")?,
        city: text(row, "city")?,
        state: text(row, "state")?,
        country: text(row, "country")?,
        company_context: text(row, "company_context")?,
        prospect_count: row.try_get("prospect_count")?,
        departments: row.try_get("departments")?,
        last_prospect_updated_at: row
            .try_get::<_, Option<SystemTime>>("last_prospect_updated_at")?
            .map(Into::into),
        updated_at: Some(row.try_get::<_, SystemTime>("updated_at")?.into()),
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
